"""Shared fixtures for the credentials tests: a canary secret, keys, sources."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import encrypted_model_fields.fields
import pytest
from cryptography.fernet import Fernet, MultiFernet

from apps.connectors.models import ConnectorDefinition, Destination, Source
from apps.credentials import services

# Appears in no template, message or fixture: finding it in output means a leak.
CANARY = "canary-Zq8v-SECRET-41f7e2"


@pytest.fixture
def canary() -> str:
    return CANARY


@pytest.fixture
def use_keys(settings, monkeypatch) -> Callable[[list[str]], None]:
    """``use_keys([new, old])``: settings and the library's module-level crypter."""

    def apply(keys: list[str]) -> None:
        settings.FIELD_ENCRYPTION_KEY = list(keys)
        # The library builds its MultiFernet once, at import: swap it as well.
        monkeypatch.setattr(
            encrypted_model_fields.fields,
            "CRYPTER",
            MultiFernet([Fernet(key) for key in keys]),
        )

    return apply


@pytest.fixture
def new_key() -> Callable[[], str]:
    return lambda: Fernet.generate_key().decode()


@pytest.fixture
def api_key_credential(workspace, admin, canary):
    return services.credential_create(
        actor=admin,
        workspace=workspace,
        name="Stripe",
        type="api_key",
        fields={"api_key": f"sk_live_{canary}"},
    )


def _definition(kind: str) -> ConnectorDefinition:
    return ConnectorDefinition.objects.create(
        kind=kind, definition_id=uuid.uuid4(), name=f"Test {kind}"
    )


@pytest.fixture
def make_source(workspace) -> Callable[..., Source]:
    def make(name: str = "Stripe source", **kwargs) -> Source:
        return Source.objects.create(
            workspace=workspace,
            name=name,
            definition=_definition(ConnectorDefinition.Kind.SOURCE),
            **kwargs,
        )

    return make


@pytest.fixture
def make_destination(workspace) -> Callable[..., Destination]:
    def make(name: str = "Warehouse", **kwargs) -> Destination:
        return Destination.objects.create(
            workspace=workspace,
            name=name,
            definition=_definition(ConnectorDefinition.Kind.DESTINATION),
            **kwargs,
        )

    return make
