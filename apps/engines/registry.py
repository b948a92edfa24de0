"""Where engines and built-in destinations announce themselves, and where callers ask.

Nothing here imports an implementation. Each engine registers a factory from its
app's ``AppConfig.ready()`` (``apps.engines.embedded`` and ``apps.airbyte``); the
embedded engine registers its built-in destinations the same way. The rest of the
console asks ``get_engine(workspace)`` and ``destinations()`` and never names an
engine: adding one is a new package and one ``register`` call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from apps.engines.base import (
        DestinationDescriptor,
        Engine,
        ManifestStore,
        SpecStore,
    )

# The engine a workspace without a choice runs on (the model's default too).
DEFAULT_ENGINE = "embedded"

_engines: dict[str, Callable[[Any], Engine]] = {}
_destinations: dict[str, DestinationDescriptor] = {}
_spec_store: list[SpecStore] = []
_manifest_store: list[ManifestStore] = []
_destination_configs: list[Callable[[str], list[tuple[str, dict[str, Any]]]]] = []


def register(name: str, factory: Callable[[Any], Engine]) -> None:
    """Make ``name`` an engine; ``factory(workspace)`` builds it (or ``None``)."""
    _engines[name] = factory


def get_engine(workspace: Any = None) -> Engine:
    """The engine that runs a workspace's connectors (``workspace.engine``).

    Without a workspace (the catalog pages, bootstrapping) it is the default one.
    """
    name = getattr(workspace, "engine", None) or DEFAULT_ENGINE
    try:
        factory = _engines[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"No engine named {name!r} is registered (known: {', '.join(_engines)})."
        ) from None
    return factory(workspace)


def engine_names() -> tuple[str, ...]:
    """Every registered engine, the default first."""
    return tuple(sorted(_engines, key=lambda name: (name != DEFAULT_ENGINE, name)))


def engine_class(name: str) -> type[Engine]:
    """The class of a registered engine, for its class-level verbs (health, install)."""
    factory = _engines[name]
    return factory if isinstance(factory, type) else type(factory(None))


def register_destination(descriptor: DestinationDescriptor) -> None:
    """Make a built-in destination known by its ``name`` (the catalog's ``builtin``)."""
    _destinations[descriptor.name] = descriptor


def unregister_destination(name: str) -> None:
    """Forget a built-in destination (tests that register one of their own)."""
    _destinations.pop(name, None)


def destinations() -> tuple[DestinationDescriptor, ...]:
    """Every built-in destination, in the order they registered."""
    return tuple(_destinations.values())


def destination(name: str) -> DestinationDescriptor | None:
    """The built-in destination called ``name``, or None."""
    return _destinations.get(name)


def register_spec_store(store: SpecStore) -> None:
    """Where engines keep connector specs between runs (the connectors app's table)."""
    _spec_store[:] = [store]


def spec_store() -> SpecStore | None:
    """The registered spec store, if any app registered one."""
    return _spec_store[0] if _spec_store else None


def register_manifest_store(store: ManifestStore) -> None:
    """Where engines find manifest-only connectors' manifests (the connectors app)."""
    _manifest_store[:] = [store]


def manifest_store() -> ManifestStore | None:
    """The registered manifest store, if any app registered one."""
    return _manifest_store[0] if _manifest_store else None


def register_destination_configs(
    source: Callable[[str], list[tuple[str, dict[str, Any]]]],
) -> None:
    """Where a built-in destination learns which workspaces saved which configs.

    ``source(name)`` gives ``(workspace public id, non-secret config)`` for every
    saved destination of built-in ``name`` (the connectors app registers it).
    """
    _destination_configs[:] = [source]


def destination_configs(name: str) -> list[tuple[str, dict[str, Any]]] | None:
    """Every workspace's saved config of built-in ``name``; None if nobody can say."""
    if not _destination_configs:
        return None
    return _destination_configs[0](name)
