"""Personas and shared fixtures.

Every test that touches a workspace gets the same cast: ``admin``, ``editor``,
``runner`` and ``viewer`` are members of ``workspace`` with those roles; ``outsider``
is a user with a workspace of their own and no access to ``workspace``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client

from apps.core.roles import Role
from tests.engines.fixtures import (  # noqa: F401 - shared fixtures for every app
    cdk_installed,
    faker_installed,
    hardcoded_installed,
    offline_connectors,
    real_connectors,
    tiny_definition,
    tiny_wheels,
)
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory
from tests.services_plugin import port_open, redis_url, skip_or_fail


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # PBKDF2's million rounds make each persona cost ~0.3 s; tests need no strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _cli_state_in_tmp(settings, tmp_path) -> None:
    # The CLI's current workspace lives in a file; keep the developer's untouched.
    settings.CONSOLE_CLI_STATE_FILE = tmp_path / "cli-state.json"


@pytest.fixture
def workspace(db):
    return WorkspaceFactory(name="Acme Data")


def _member(workspace, role: str, email: str):
    user = UserFactory(email=email)
    MembershipFactory(user=user, workspace=workspace, role=role)
    return user


@pytest.fixture
def admin(workspace):
    return _member(workspace, Role.ADMIN, "admin@acme.test")


@pytest.fixture
def editor(workspace):
    return _member(workspace, Role.EDITOR, "editor@acme.test")


@pytest.fixture
def runner(workspace):
    return _member(workspace, Role.RUNNER, "runner@acme.test")


@pytest.fixture
def viewer(workspace):
    return _member(workspace, Role.VIEWER, "viewer@acme.test")


@pytest.fixture
def outsider(db):
    user = UserFactory(email="outsider@elsewhere.test")
    MembershipFactory(
        user=user, workspace=WorkspaceFactory(name="Elsewhere"), role=Role.ADMIN
    )
    return user


@pytest.fixture
def login() -> Callable:
    """``login(user)`` -> a test Client signed in as that user."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def htmx_headers() -> dict[str, str]:
    return {"HX-Request": "true"}


@pytest.fixture
def require_postgres(db) -> None:
    """The test runs against PostgreSQL (DATABASE_URL=postgres://...)."""
    if connection.vendor != "postgresql":
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://127.0.0.1:5432/...")


@pytest.fixture
def require_redis() -> str:
    url = redis_url()
    if not port_open(url, 6379):
        skip_or_fail(f"needs Redis at {url}")
    return url
