"""The embedded engine's health: its connectors directory, and the connectors it needs.

The check writes a file into ``CONNECTORS_DIR`` (workers install there) and counts
the installed connectors. The connectors the caller watches (the self-test's faker)
are reported by their short name: installed, not installed yet but installable
here, or missing from the catalog.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from pathlib import Path
from typing import Any

from apps.engines.base import ConnectorRef
from apps.engines.embedded import installer
from apps.engines.health import HealthCheck, HealthTarget, elapsed_ms

NAME = "embedded"


def short_name(package: str) -> str:
    """``airbyte-source-faker`` -> ``faker``: how people call a connector."""
    for prefix in ("airbyte-source-", "airbyte-destination-"):
        if package.startswith(prefix):
            return package[len(prefix) :]
    return package


def targets(
    workspaces: list[Any], watch: tuple[ConnectorRef, ...]
) -> list[HealthTarget]:
    """One target for every workspace on this engine (they share one host)."""
    if not workspaces:
        return []
    return [
        HealthTarget(
            engine=NAME,
            name=NAME,
            workspaces=tuple(w.name for w in workspaces),
            payload=watch,
        )
    ]


def installed_connectors(root: Path) -> list[str]:
    """The connector virtualenvs ready in ``root`` (``package-version`` names)."""
    if not root.is_dir():
        return []
    return sorted(
        path.name
        for path in root.iterdir()
        if not path.name.startswith(".") and (path / installer.MARKER).is_file()
    )


def check(target: HealthTarget) -> HealthCheck:
    """The connectors directory is writable; what is installed; the watched ones."""
    started = time.monotonic()
    root = installer.connectors_dir()
    facts: dict[str, Any] = {"connectors_dir": str(root)}
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-test-"):
            pass
    except OSError as exc:
        return HealthCheck(
            engine=NAME,
            name=NAME,
            ok=False,
            detail=f"cannot write to the connectors directory {root}: "
            f"{exc.strerror or exc}",
            latency_ms=elapsed_ms(started),
            workspaces=target.workspaces,
            facts=facts,
        )
    installed = installed_connectors(root)
    facts["connectors_installed"] = len(installed)
    status_words: list[str] = []
    smoke_words: list[str] = []
    smoke_ok = True
    for ref in target.payload or ():
        said, runnable, state = _watched(ref)
        if state:
            facts[short_name(ref.package)] = state
            status_words.append(said)
        smoke_words.append(runnable[1])
        smoke_ok = smoke_ok and runnable[0]
    detail = (
        f"{len(installed)} connector{'s' if len(installed) != 1 else ''} "
        f"installed in {root}"
    )
    count = len(installed)
    return HealthCheck(
        engine=NAME,
        name=NAME,
        ok=True,
        detail="; ".join([detail, *status_words]),
        latency_ms=elapsed_ms(started),
        workspaces=target.workspaces,
        facts=facts,
        smoke_ok=smoke_ok,
        smoke_detail="; ".join(
            [f"{root} writable, {count} connector(s) installed", *smoke_words]
        ),
    )


def _watched(ref: ConnectorRef) -> tuple[str, tuple[bool, str], str]:
    """(status words, (can the self-test run it, why), fact) for one connector."""
    name = short_name(ref.package)
    if not ref.version:
        return (
            "",
            (
                False,
                f"the catalog has no {name} connector (run `airbyte manage install`)",
            ),
            "",
        )
    if installer.installed(ref.package, ref.version) is not None:
        said = f"{name} {ref.version} installed"
        return said, (True, said), "installed"
    status = f"{name} not installed yet (`airbyte manage install` installs it)"
    if importlib.util.find_spec("pip") is None:
        return (
            status,
            (False, f"{name} is not installed and pip is missing, so it cannot be"),
            "not installed",
        )
    return (
        status,
        (True, f"{name} {ref.version} not installed yet; installable"),
        "not installed",
    )
