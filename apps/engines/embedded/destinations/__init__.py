"""The destinations the embedded engine writes itself, one module each.

Each module exports one ``DESCRIPTOR`` (``apps.engines.base.DestinationDescriptor``):
its spec, check, config preparation, writer and dbt profile. ``BUILTIN`` is the one
list of them; the app's ``ready()`` registers it, and everything that dispatches on a
destination (the engine's spec and check, the writers, the catalog) asks
``apps.engines.registry``. Adding a destination is a new module and one line here.
"""

from __future__ import annotations

from typing import Any

from apps.engines import registry
from apps.engines.base import (
    CheckResult,
    ConnectorSpec,
    DestinationDescriptor,
    EngineError,
)
from apps.engines.embedded.destinations import duckdb, files, mysql, postgres

BUILTIN: tuple[DestinationDescriptor, ...] = (
    postgres.DESCRIPTOR,
    duckdb.DESCRIPTOR,
    mysql.DESCRIPTOR,
    files.DESCRIPTOR,
)


def builtin_destination(name: str) -> DestinationDescriptor:
    """The registered built-in destination called ``name``; EngineError if none."""
    found = registry.destination(name)
    if found is None:
        raise EngineError(f"The console has no built-in destination {name!r}.")
    return found


def builtin_spec(name: str) -> ConnectorSpec:
    """The spec of a built-in destination, by its catalog ``builtin`` name."""
    return builtin_destination(name).spec


def check_builtin(
    name: str, config: dict[str, Any], *, workspace_id: str
) -> CheckResult:
    """Test a config of a built-in destination, by its catalog ``builtin`` name.

    ``workspace_id`` (the public id) is whose files the destination may open.
    """
    return builtin_destination(name).check(config, workspace_id=workspace_id)
