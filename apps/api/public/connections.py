"""Public API: connections (being written for issue #15)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["Connections"])
