"""Loaded with ``-p`` before Django starts: test defaults and real-service gates.

Tests that need PostgreSQL or Redis ask for them through ``require_postgres`` and
``require_redis``. On a machine without the service they skip with the reason; with
``REQUIRE_SERVICES=1`` (CI) the same condition fails the test instead, so a CI run
can never pass by skipping the real thing.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Tests keep their files (keys, CLI state, connector venvs) apart from `make run`'s.
os.environ.setdefault("CONSOLE_DATA_DIR", str(ROOT / "var" / "test"))
os.environ.setdefault("CONSOLE_STATIC_MANIFEST", "0")
os.environ.setdefault("WEBHOOKS_ALLOW_PRIVATE", "1")
# The fake Airbyte server answers on 127.0.0.1.
os.environ.setdefault("AIRBYTE_ALLOW_PRIVATE", "1")


def _isolate_xdist_worker(worker: str) -> None:
    """Give each pytest-xdist worker its own files and its own Redis broker database.

    The workers run at once: pidfiles, DuckDB files and keys must not collide, and a
    Celery worker started by one test session must never take another's tasks.
    pytest-django already gives each its own test database (``_gw0``, ``_gw1``).
    """
    index = int(worker.removeprefix("gw") or 0)
    os.environ["CONSOLE_DATA_DIR"] = str(Path(os.environ["CONSOLE_DATA_DIR"]) / worker)
    broker = os.environ.get("CELERY_BROKER_URL", "")
    parts = urlsplit(broker)
    if parts.scheme == "redis":
        base = int(parts.path.strip("/") or 0)
        # The databases below the one CI names (15 -> 14, 13, ...), 16 in all.
        database = (base - 1 - index) % 16
        os.environ["CELERY_BROKER_URL"] = parts._replace(path=f"/{database}").geturl()


if os.environ.get("PYTEST_XDIST_WORKER"):
    _isolate_xdist_worker(os.environ["PYTEST_XDIST_WORKER"])


def services_required() -> bool:
    return os.environ.get("REQUIRE_SERVICES", "") in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> None:
    """Skip on a developer machine without the service; fail when CI requires it."""
    if services_required():
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def port_open(url: str, default_port: int, timeout: float = 1.0) -> bool:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    try:
        with socket.create_connection(
            (host, parts.port or default_port), timeout=timeout
        ):
            return True
    except OSError:
        return False


def redis_url() -> str:
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if broker.startswith("redis://"):
        return broker
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def mariadb_url() -> str:
    """The MariaDB (or MySQL) server the MySQL destination's tests write to."""
    return os.environ.get("MARIADB_URL", "mysql://root@127.0.0.1:3306")


# A second guard for CI: any skip whose reason says a service is needed fails the
# run when REQUIRE_SERVICES=1, even if a test skipped without ``skip_or_fail``.
_service_skips: list[str] = []
_SERVICE_WORDS = (
    "needs postgres",
    "needs redis",
    "needs mariadb",
    "needs rabbitmq",
    "needs chromium",
    "needs a celery worker",
    "needs the airbyte",
)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).lower()
        if any(word in reason for word in _SERVICE_WORDS):
            _service_skips.append(f"{report.nodeid}: {report.longrepr[2]}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if services_required() and _service_skips:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus: int, config) -> None:
    if services_required() and _service_skips:
        terminalreporter.section("REQUIRE_SERVICES=1: service tests skipped", red=True)
        for line in _service_skips:
            terminalreporter.line(line)
