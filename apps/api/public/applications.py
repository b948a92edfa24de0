"""Public API: applications (being written for issue #15)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["Applications"])

# The Config API's token call (``POST /api/v1/applications/token``).
config_router = Router(tags=["applications"])
