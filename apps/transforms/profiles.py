"""A project's dbt target, built at run time from its destination's decrypted config.

Nothing here is stored: the worker hands the target to ``dbt.invoke``, which writes
it into a private folder and removes it afterwards.

Which destinations get a target depends on the engine that writes them. By
default a destination the console writes itself (a built-in descriptor of
``apps.engines.registry``) builds its own through ``descriptor.dbt_profile``. An
engine whose destinations are written elsewhere (an Airbyte server) registers its
own ``ProfileSupport`` from a ``dbt_profiles`` module of its app, which
``TransformsConfig.ready()`` discovers: nothing here names an engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apps.engines import registry
from apps.engines.masking import secret_values
from apps.transforms.dbt.install import ADAPTERS

Builder = Callable[..., dict[str, Any]]


class ProfileError(Exception):
    """No dbt target can be built for a project; ``message`` says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ProfileSupport:
    """How one engine's destinations become dbt targets.

    ``builders`` maps a destination's built-in name (its catalog ``builtin``) to
    ``(adapter, builder)``; ``builder(config, *, workspace_id)`` returns one dbt
    target output and raises ProfileError (or ValueError) with a message for the
    user. ``note`` says why the other destinations are not supported.
    """

    builders: dict[str, tuple[str, Builder]] = field(default_factory=dict)
    note: str = ""


_engines: dict[str, ProfileSupport] = {}


def register_engine_profiles(engine: str, support: ProfileSupport) -> None:
    """Let ``engine``'s destinations build dbt targets their own way."""
    _engines[engine] = support


def _builtin_support() -> ProfileSupport:
    """The console's own destinations: each descriptor builds its target."""
    return ProfileSupport(
        builders={
            d.name: (d.name, d.dbt_profile)
            for d in registry.destinations()
            if d.name in ADAPTERS and getattr(d, "dbt_profile", None) is not None
        }
    )


def support_for(workspace: Any) -> ProfileSupport:
    """What the engine of ``workspace`` can build dbt targets for."""
    name = getattr(workspace, "engine", None) or registry.DEFAULT_ENGINE
    return _engines.get(name) or _builtin_support()


def supported_titles(workspace: Any) -> list[str]:
    """The destination types a project of ``workspace`` can build in, for messages."""
    titles = []
    for name in support_for(workspace).builders:
        descriptor = registry.destination(name)
        titles.append(descriptor.title if descriptor else name)
    return titles


def _unsupported(workspace: Any, what: str) -> ProfileError:
    support = support_for(workspace)
    titles = ", ".join(supported_titles(workspace)) or "none"
    note = f" {support.note}" if support.note else ""
    return ProfileError(
        f"dbt cannot run against {what}. Supported destination types: {titles}.{note}"
    )


def _builder(project: Any) -> tuple[str, Builder]:
    destination = project.destination
    if destination is None:
        raise ProfileError(
            "The project has no destination: choose one in the project's settings."
        )
    definition = destination.definition
    builtin = definition.builtin or ""
    found = support_for(project.workspace).builders.get(builtin)
    if found is None:
        raise _unsupported(
            project.workspace, f"the destination “{destination.name}” ({definition})"
        )
    return found


def adapter_for(project: Any) -> str:
    """``"postgres"`` or ``"duckdb"``: the adapter a project's destination needs.

    Reads no secret. Raises ProfileError when the project has no destination or
    its engine cannot build a dbt target for it.
    """
    return _builder(project)[0]


def profile_for(project: Any) -> tuple[str, dict[str, Any], list[str]]:
    """(adapter, dbt target output, secret values to mask) for a project's run.

    The config is decrypted here and only handed on; never store the result.
    """
    from apps.connectors.selectors import connector_full_config, connector_secrets
    from apps.engines.base import EngineError

    adapter, build = _builder(project)
    destination = project.destination
    try:
        config = connector_full_config(destination)
        profile = build(config, workspace_id=str(project.workspace.public_id))
    except ProfileError:
        raise
    except EngineError as exc:
        raise ProfileError(exc.message) from None
    except (KeyError, ValueError, TypeError) as exc:
        detail = exc.args[0] if isinstance(exc, ValueError) and exc.args else exc
        raise ProfileError(
            f"The destination “{destination.name}” has a setting dbt cannot use "
            f"({detail}): fix it on the destination's page."
        ) from None
    secrets = {
        str(value)
        for value in connector_secrets(destination).values()
        if isinstance(value, str | int) and str(value)
    }
    secrets |= secret_values(profile)
    return adapter, profile, sorted(secrets)
