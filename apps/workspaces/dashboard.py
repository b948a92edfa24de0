"""What a workspace's Dashboard page shows, contributed by the apps above this one.

The page belongs to workspaces, but its figures (connections by status, jobs,
records) come from apps that sit above it. Each of those registers a provider from
its ``AppConfig.ready()``; the page puts each provider's answer in its context
under the provider's name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apps.workspaces.models import Workspace

_providers: dict[str, Callable[[Workspace], Any]] = {}


def register(name: str, provider: Callable[[Workspace], Any]) -> None:
    """Show ``provider(workspace)`` on the dashboard as the variable ``name``."""
    _providers[name] = provider


def dashboard_context(workspace: Workspace) -> dict[str, Any]:
    """Every registered provider's answer for this workspace."""
    return {name: provider(workspace) for name, provider in _providers.items()}
