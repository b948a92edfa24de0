"""Personas and shared fixtures.

Every test that touches a workspace gets the same cast: ``admin``, ``editor``,
``runner`` and ``viewer`` are members of ``workspace`` with those roles; ``outsider``
is a user with a workspace of their own and no access to ``workspace``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from django.db import connection
from django.test import Client

from apps.core.roles import Role
from tests.airbyte_fake.fixtures import (  # noqa: F401 - the fake Airbyte server
    airbyte_fake,
    airbyte_fake_session,
    airbyte_fake_shared,
)
from tests.engines.fixtures import (  # noqa: F401 - shared fixtures for every app
    CONNECTORS_DIR,
    cdk_installed,
    faker_installed,
    hardcoded_installed,
    offline_connectors,
    real_connectors,
    tiny_definition,
    tiny_wheels,
)
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory
from tests.services_plugin import mariadb_url, port_open, redis_url, skip_or_fail
from tests.workers import start_worker, stop_processes, worker_env

# Fixtures whose tests end with a flush of every table (Django's TransactionTestCase).
_FLUSHING = {"transactional_db", "live_server", "django_db_reset_sequences"}


def _flushes_database(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    transactional = bool(marker and marker.kwargs.get("transaction"))
    return transactional or bool(_FLUSHING & set(getattr(item, "fixturenames", ())))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """Put the shipped catalog back after a test flushed the database.

    A migration loads it, and a transactional test's flush empties it. Run serially,
    pytest-django puts those tests last; under pytest-xdist a worker may run other
    tests after one, and they expect the catalog a fresh database has.
    """
    yield
    if nextitem is None:
        return
    # A test that skipped before its database was set up (no Chromium, say) never
    # flushed it, and the test database may not even exist yet.
    reached = set(getattr(item, "funcargs", {}))
    if not ({"_django_db_helper"} | _FLUSHING) & reached:
        return
    from pytest_django.plugin import blocking_manager_key

    with item.config.stash[blocking_manager_key].unblock():
        # After a flush for sure; after any other test only if something (a
        # process of its own, a command) emptied the catalog: one query.
        if _flushes_database(item) or not _shipped_catalog_present():
            load_shipped_catalog()


def _shipped_catalog_present() -> bool:
    from apps.connectors.models import ConnectorDefinition
    from tests.engines.fixtures import FAKER_ID

    return ConnectorDefinition.objects.filter(definition_id=FAKER_ID).exists()


def load_shipped_catalog() -> None:
    """What the catalog migration does: merge the shipped registry file."""
    from apps.connectors.catalog.registry import (
        SHIPPED_REGISTRY,
        load_registry_file,
        merge_registry,
        parse_registry,
    )
    from apps.connectors.models import ConnectorDefinition

    merge_registry(
        parse_registry(load_registry_file(SHIPPED_REGISTRY)), model=ConnectorDefinition
    )


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    # PBKDF2's million rounds make each persona cost ~0.3 s; tests need no strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _no_public_registry(settings) -> None:
    # Tests talk to 127.0.0.1 only: a registry fetch names its local server.
    settings.CONNECTOR_REGISTRY_URL = ""


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


@pytest.fixture
def require_mariadb() -> str:
    """The test writes to MariaDB at MARIADB_URL (default root@127.0.0.1:3306)."""
    url = mariadb_url()
    if not port_open(url, 3306):
        skip_or_fail(f"needs MariaDB at {url}")
    return url


@pytest.fixture
def worker(require_postgres, tmp_path):
    """``worker()`` starts a Celery worker process on the test database.

    ``worker(name, queues=..., solo=True)``: other queues, or the solo pool.
    """
    started: list[subprocess.Popen] = []

    def start(
        name: str = "w1", *, queues: str = "syncs,default", solo: bool = False
    ) -> subprocess.Popen:
        process = start_worker(
            name,
            env=worker_env(duckdb_dir=tmp_path),
            log_dir=tmp_path,
            queues=queues,
            solo=solo,
        )
        started.append(process)
        return process

    yield start
    stop_processes(started)
