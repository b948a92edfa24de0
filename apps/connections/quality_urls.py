"""A connection's Quality tab (issue #17): mounted beside ``apps.connections.urls``."""

from __future__ import annotations

app_name = "quality"

urlpatterns: list = []
