"""A connection's Recommendations and Resources tabs (issue #17): mounted beside
``apps.connections.urls``."""

from __future__ import annotations

app_name = "optimize"

urlpatterns: list = []
