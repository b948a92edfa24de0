"""The engines' health for `airbyte status` and `airbyte test smoke`.

A workspace runs its connectors on one engine: the embedded one (connector
virtualenvs in ``CONNECTORS_DIR``) or an Airbyte server. ``engine_targets`` reads,
in the caller's thread, what the chosen workspaces need: the embedded engine once,
and each distinct Airbyte server once. ``run_engine_checks`` then checks them in
parallel threads that touch no database, each bounded by a deadline, so a server
that hangs cannot hold up the command.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.airbyte.models import AirbyteServer
from apps.engines.embedded import installer
from apps.workspaces.models import Workspace

# The connector the demo and `airbyte test integration` use; `airbyte manage
# install` installs it.
DEFAULT_CONNECTORS = ("airbyte-source-faker",)
FAKER = "airbyte-source-faker"
# Seconds an Airbyte server gets to answer each call while status or smoke run.
AIRBYTE_PROBE_TIMEOUT = 3.0


@dataclass(frozen=True)
class EngineTarget:
    """One engine to check and the workspaces that use it."""

    engine: str  # embedded | airbyte
    name: str  # "embedded" or the server's URL
    workspaces: tuple[str, ...]
    server: AirbyteServer | None = None
    faker_version: str = ""


@dataclass(frozen=True)
class EngineCheck:
    """What checking one engine found."""

    engine: str
    name: str
    ok: bool
    detail: str
    latency_ms: int
    workspaces: tuple[str, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "latency_ms": self.latency_ms,
            "workspaces": list(self.workspaces),
            **self.facts,
        }


def engine_targets(workspaces: Iterable[Workspace]) -> list[EngineTarget]:
    """The engines these workspaces need (database reads happen here)."""
    from apps.connectors.models import ConnectorDefinition

    chosen = list(workspaces)
    embedded = [w.name for w in chosen if w.engine != Workspace.Engine.AIRBYTE]
    targets: list[EngineTarget] = []
    if embedded:
        faker = (
            ConnectorDefinition.objects.filter(pypi_package=FAKER)
            .values_list("pypi_version", flat=True)
            .first()
        )
        targets.append(
            EngineTarget(
                engine="embedded",
                name="embedded",
                workspaces=tuple(embedded),
                faker_version=faker or "",
            )
        )
    targets.extend(
        airbyte_targets([w for w in chosen if w.engine == Workspace.Engine.AIRBYTE])
    )
    return targets


def airbyte_targets(workspaces: Iterable[Workspace]) -> list[EngineTarget]:
    """Each distinct Airbyte server these workspaces use, once."""
    chosen = list(workspaces)
    found = {
        s.workspace_id: s
        for s in AirbyteServer.objects.filter(workspace__in=[w.pk for w in chosen])
    }
    servers: dict[tuple[str, ...], tuple[AirbyteServer, list[str]]] = {}
    unset: list[str] = []
    for workspace in chosen:
        server = found.get(workspace.pk)
        if server is None:
            unset.append(workspace.name)
            continue
        # Two workspaces on one server with the same sign-in (secrets included, so
        # a stale one is not hidden behind a good one) are checked once.
        key = (
            server.url,
            server.auth,
            server.client_id,
            server.client_secret,
            server.username,
            server.password,
        )
        servers.setdefault(key, (server, []))[1].append(workspace.name)
    targets = [
        EngineTarget(
            engine="airbyte", name=server.url, workspaces=tuple(names), server=server
        )
        for server, names in servers.values()
    ]
    if unset:
        targets.append(
            EngineTarget(engine="airbyte", name="(not set up)", workspaces=tuple(unset))
        )
    return targets


def installed_connectors(root: Path) -> list[str]:
    """The connector virtualenvs ready in ``root`` (``package-version`` names)."""
    if not root.is_dir():
        return []
    return sorted(
        path.name
        for path in root.iterdir()
        if not path.name.startswith(".") and (path / installer.MARKER).is_file()
    )


def check_embedded(target: EngineTarget) -> EngineCheck:
    """The connectors directory is writable; how many connectors are installed."""
    started = time.monotonic()
    root = installer.connectors_dir()
    facts: dict[str, Any] = {"connectors_dir": str(root)}
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-test-"):
            pass
    except OSError as exc:
        return EngineCheck(
            engine="embedded",
            name="embedded",
            ok=False,
            detail=f"cannot write to the connectors directory {root}: "
            f"{exc.strerror or exc}",
            latency_ms=_ms(started),
            workspaces=target.workspaces,
            facts=facts,
        )
    installed = installed_connectors(root)
    facts["connectors_installed"] = len(installed)
    faker = ""
    if target.faker_version:
        if installer.installed(FAKER, target.faker_version) is not None:
            faker = f"faker {target.faker_version} installed"
            facts["faker"] = "installed"
        else:
            facts["faker"] = "not installed"
            faker = "faker not installed yet (`airbyte manage install` installs it)"
    detail = (
        f"{len(installed)} connector{'s' if len(installed) != 1 else ''} "
        f"installed in {root}"
    )
    return EngineCheck(
        engine="embedded",
        name="embedded",
        ok=True,
        detail=f"{detail}; {faker}" if faker else detail,
        latency_ms=_ms(started),
        workspaces=target.workspaces,
        facts=facts,
    )


def faker_installable(target: EngineTarget) -> tuple[bool, str]:
    """Whether the smoke test's connector is installed, or could be installed here."""
    if not target.faker_version:
        return (
            False,
            "the catalog has no faker connector (run `airbyte manage install`)",
        )
    if installer.installed(FAKER, target.faker_version) is not None:
        return True, f"faker {target.faker_version} installed"
    if importlib.util.find_spec("pip") is None:
        return False, "faker is not installed and pip is missing, so it cannot be"
    return True, f"faker {target.faker_version} not installed yet; installable"


def check_airbyte(target: EngineTarget) -> EngineCheck:
    """Reach, sign in and list on the server (read-only, short timeouts)."""
    from apps.airbyte.client import RetryPolicy
    from apps.airbyte.services import server_probe

    started = time.monotonic()
    server = target.server
    if server is None:
        return EngineCheck(
            engine="airbyte",
            name=target.name,
            ok=False,
            detail="these workspaces use the airbyte engine but have no server set "
            "up (Settings, Engine)",
            latency_ms=0,
            workspaces=target.workspaces,
        )
    # One quick try while people wait: a short timeout, no retries.
    probe = server_probe(
        server, timeout=AIRBYTE_PROBE_TIMEOUT, retry=RetryPolicy(attempts=0)
    )
    return EngineCheck(
        engine="airbyte",
        name=server.url,
        ok=probe.ok,
        detail=probe.summary,
        latency_ms=_ms(started),
        workspaces=target.workspaces,
        facts={
            "url": server.url,
            "auth": server.auth,
            "version": probe.version or server.server_version,
            "edition": probe.edition or server.server_edition,
            "auth_mode": probe.auth_mode or server.server_auth_mode,
            "steps": [
                {"name": s.name, "ok": s.ok, "detail": s.detail} for s in probe.steps
            ],
        },
    )


def run_engine_checks(
    targets: list[EngineTarget], timeout: float = AIRBYTE_PROBE_TIMEOUT + 1
) -> list[EngineCheck]:
    """Check every target in parallel; one with no answer by ``timeout`` is down."""
    results: dict[int, EngineCheck] = {}

    def run(index: int, target: EngineTarget) -> None:
        check = check_embedded if target.engine == "embedded" else check_airbyte
        try:
            results[index] = check(target)
        except Exception as exc:  # a check reports any failure as "down"
            results[index] = EngineCheck(
                engine=target.engine,
                name=target.name,
                ok=False,
                detail=f"{type(exc).__name__}: {exc}",
                latency_ms=0,
                workspaces=target.workspaces,
            )

    # Daemon threads, so a hung server never keeps the command from exiting.
    with _quiet("httpx"):
        threads = [
            threading.Thread(target=run, args=(i, t), daemon=True, name=f"engine-{i}")
            for i, t in enumerate(targets)
        ]
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    checks = []
    for index, target in enumerate(targets):
        found = results.get(index)
        if found is None:
            found = EngineCheck(
                engine=target.engine,
                name=target.name,
                ok=False,
                detail=f"no answer within {timeout:.0f} s",
                latency_ms=int(timeout * 1000),
                workspaces=target.workspaces,
            )
        checks.append(found)
    return checks


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Hide a library's INFO lines (one per HTTP request) while people read a report."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(max(before, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(before)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
