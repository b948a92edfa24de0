"""Real dbt for the transforms tests.

dbt-core and both adapters are installed once into a folder the suite reuses
between runs (``TEST_DBT_DIR``, default ``~/.cache/airbyte-console/test-dbt``),
so only the first run pays for pip; the installer's file lock makes parallel
xdist workers share one install. Without PyPI and without a cached install the
tests that need dbt skip with the reason; in CI (``CI`` or ``REQUIRE_SERVICES``
set) they fail instead.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import override_settings

from apps.transforms.dbt import install

TEST_DBT_DIR = Path(
    os.environ.get(
        "TEST_DBT_DIR", Path.home() / ".cache" / "airbyte-console" / "test-dbt"
    )
).expanduser()


def _in_ci() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("REQUIRE_SERVICES", "") in {
        "1",
        "true",
        "yes",
    }


def _index_reachable() -> bool:
    url = os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple/"
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "pypi.org", port), timeout=3):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def dbt_ready() -> dict[str, install.DbtEnv]:
    """``{"postgres": DbtEnv, "duckdb": DbtEnv}``, installed once into TEST_DBT_DIR."""
    envs: dict[str, install.DbtEnv] = {}
    with override_settings(DBT_DIR=TEST_DBT_DIR):
        for adapter in install.ADAPTERS:
            reachable = True
            if install.dbt_installed(adapter) is None:
                reachable = _index_reachable()
            try:
                envs[adapter] = install.dbt_ensure(adapter)
            except install.DbtInstallError as error:
                # pip may still find it in local wheels (find-links) without PyPI;
                # only when that fails too is a missing network a reason to skip.
                reason = f"installing dbt-{adapter} failed: {error.message}"
                if reachable or _in_ci():
                    pytest.fail(reason, pytrace=False)
                pytest.skip(
                    f"needs dbt-{adapter}: the package index is unreachable and "
                    f"{TEST_DBT_DIR} holds no install ({error.message})"
                )
    return envs


@pytest.fixture
def dbt_settings(settings, dbt_ready) -> dict[str, install.DbtEnv]:
    """Point settings.DBT_DIR at the suite's dbt installs for one test."""
    settings.DBT_DIR = TEST_DBT_DIR
    return dbt_ready


PG_ADMIN_URL = os.environ.get(
    "DBT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="module")
def dbt_postgres():
    """A throwaway PostgreSQL database for dbt, dropped after the module.

    Yields ``(profile, conninfo)``: a dbt postgres target output (its schema is
    fresh) and a psycopg conninfo for checking what dbt built.
    """
    import uuid

    import psycopg

    from tests.services_plugin import skip_or_fail

    if not port_open_url(PG_ADMIN_URL, 5432):
        skip_or_fail(f"needs PostgreSQL at {PG_ADMIN_URL}")
    parts = urlsplit(PG_ADMIN_URL)
    name = f"dbt_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    profile = {
        "type": "postgres",
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": parts.username or "postgres",
        "password": parts.password or "",
        "dbname": name,
        "schema": "analytics",
        "threads": 2,
    }
    conninfo = parts._replace(path=f"/{name}").geturl()
    try:
        yield profile, conninfo
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def port_open_url(url: str, default_port: int) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2
        ):
            return True
    except OSError:
        return False
