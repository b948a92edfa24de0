"""The engines' health for `airbyte status` and `airbyte test smoke`.

Each workspace runs on one engine. ``engine_targets`` groups the chosen workspaces
by engine and asks each engine, in the caller's thread, what to check for them; the
connectors the self-test and the demo need (``DEFAULT_CONNECTORS``) ride along, so
an engine that installs connectors can say whether they are there.
``run_engine_checks`` then runs the checks in parallel, with one deadline
(``apps.engines.health``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from apps.connectors.models import ConnectorDefinition
from apps.engines import registry
from apps.engines.base import ConnectorRef
from apps.engines.health import HealthCheck, HealthTarget, run_health_checks

# The connectors the demo and `airbyte test integration` use; `airbyte manage
# install` installs them.
DEFAULT_CONNECTORS = ("airbyte-source-faker",)

__all__ = [
    "DEFAULT_CONNECTORS",
    "HealthCheck",
    "engine_targets",
    "run_engine_checks",
]

run_engine_checks = run_health_checks


def engine_targets(workspaces: Iterable[Any]) -> list[HealthTarget]:
    """What to check for these workspaces, engine by engine (database reads here)."""
    by_engine: dict[str, list[Any]] = {}
    for workspace in workspaces:
        name = workspace.engine or registry.DEFAULT_ENGINE
        by_engine.setdefault(name, []).append(workspace)
    watch = default_connector_refs() if by_engine else ()
    targets: list[HealthTarget] = []
    for name in registry.engine_names():
        if name in by_engine:
            targets.extend(
                registry.engine_class(name).health_targets(by_engine[name], watch=watch)
            )
    return targets


def default_connector_refs() -> tuple[ConnectorRef, ...]:
    """The default connectors as the catalog pins them (no version: not in it)."""
    found = {
        d.pypi_package: d.ref
        for d in ConnectorDefinition.objects.filter(pypi_package__in=DEFAULT_CONNECTORS)
    }
    return tuple(
        found.get(package) or ConnectorRef(kind="source", name=package, package=package)
        for package in DEFAULT_CONNECTORS
    )
