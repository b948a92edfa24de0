"""The console's own API additions (``/api/console/v1``): workspaces as code."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["Workspaces as code"])
