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
        missing = [a for a in install.ADAPTERS if install.dbt_installed(a) is None]
        if missing and not _index_reachable():
            reason = (
                f"needs dbt ({', '.join(missing)}): the package index is unreachable "
                f"and {TEST_DBT_DIR} holds no install"
            )
            if _in_ci():
                pytest.fail(f"CI: {reason}", pytrace=False)
            pytest.skip(reason)
        for adapter in install.ADAPTERS:
            try:
                envs[adapter] = install.dbt_ensure(adapter)
            except install.DbtInstallError as error:
                pytest.fail(f"installing dbt-{adapter} failed: {error.message}")
    return envs


@pytest.fixture
def dbt_settings(settings, dbt_ready) -> dict[str, install.DbtEnv]:
    """Point settings.DBT_DIR at the suite's dbt installs for one test."""
    settings.DBT_DIR = TEST_DBT_DIR
    return dbt_ready
