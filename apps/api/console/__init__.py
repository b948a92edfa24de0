"""The console's own API additions (``/api/console/v1``): workspaces as code."""

from __future__ import annotations

from apps.api.console.workspace_code import router

__all__ = ["router"]
