"""Reading credentials: lists with usage counts, one credential, who uses it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db.models import Count, Q, QuerySet
from django.shortcuts import get_object_or_404

from apps.credentials.models import Credential
from apps.credentials.types import masked_view, type_spec
from apps.workspaces.models import Workspace


def credential_list(*, workspace: Workspace, search: str = "") -> QuerySet[Credential]:
    """A workspace's credentials by name, with how many sources and destinations use
    each; the encrypted payload is not even loaded."""
    credentials = (
        Credential.objects.for_workspace(workspace)
        .select_related("created_by")
        .defer("payload")
        .annotate(
            source_count=Count("sources", distinct=True),
            destination_count=Count("destinations", distinct=True),
        )
        .order_by("name")
    )
    if search:
        credentials = credentials.filter(
            Q(name__icontains=search) | Q(type__icontains=search)
        )
    return credentials


def credential_get(*, workspace: Workspace, credential_id: UUID) -> Credential:
    """One credential of the workspace, or 404 (another workspace's too)."""
    return get_object_or_404(
        Credential.objects.for_workspace(workspace).select_related(
            "workspace", "created_by"
        ),
        public_id=credential_id,
    )


def credential_get_by_name(*, workspace: Workspace, name: str) -> Credential | None:
    """One credential of the workspace by name, any case."""
    return (
        Credential.objects.for_workspace(workspace)
        .filter(name__iexact=name.strip())
        .select_related("workspace")
        .first()
    )


@dataclass(frozen=True)
class Usage:
    """A source or destination that uses a credential."""

    kind: str
    name: str
    public_id: UUID


def credential_usages(*, credential: Credential) -> list[Usage]:
    """The sources and destinations that use the credential, by kind and name."""
    sources = credential.sources.order_by("name").values_list("name", "public_id")
    destinations = credential.destinations.order_by("name").values_list(
        "name", "public_id"
    )
    return [Usage("source", name, pid) for name, pid in sources] + [
        Usage("destination", name, pid) for name, pid in destinations
    ]


def credential_masked_fields(*, credential: Credential) -> list[tuple[str, Any]]:
    """(label, value) pairs to show: non-secret values, secrets as the mask."""
    spec = type_spec(credential.type)
    shown = masked_view(spec, credential.get_payload())
    if spec.key_value:
        return sorted(shown.items())
    return [(f.label, shown[f.name]) for f in spec.fields if f.name in shown]


def credential_payload(*, credential: Credential) -> dict[str, Any]:
    """The decrypted fields, for the engine that hands them to a connector."""
    return credential.get_payload()
