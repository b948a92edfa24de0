"""Manifest-only connectors: a YAML manifest per version, run by the CDK's runner.

(Issue #16, part 2: being written. The verbs are ``launch.py``'s.)
"""

from __future__ import annotations

from apps.engines.base import ConnectorRef, EngineError


def launch(ref: ConnectorRef, *, on_output=None):
    raise EngineError(f"{ref.name}: manifest-only connectors cannot run here yet.")


def install(ref: ConnectorRef, *, on_output):
    raise EngineError(f"{ref.name}: manifest-only connectors cannot install here yet.")


def installed(ref: ConnectorRef) -> bool:
    return False


def uninstall(ref: ConnectorRef) -> int:
    return 0
