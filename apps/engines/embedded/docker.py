"""Docker connectors: an image run by the worker host's Docker daemon.

(Issue #16, part 3: being written. The verbs are ``launch.py``'s.)
"""

from __future__ import annotations

from apps.engines.base import ConnectorRef, EngineError


def available() -> tuple[bool, str]:
    """Is a Docker daemon reachable from this host, and if not, why."""
    return False, "Docker connectors are not supported yet."


def launch(ref: ConnectorRef, *, on_output=None):
    raise EngineError(f"{ref.name}: Docker connectors cannot run here yet.")


def install(ref: ConnectorRef, *, on_output):
    raise EngineError(f"{ref.name}: Docker connectors cannot install here yet.")


def installed(ref: ConnectorRef) -> bool:
    return False


def uninstall(ref: ConnectorRef) -> int:
    return 0
