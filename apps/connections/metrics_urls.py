"""The workspace's Metrics page (issue #17): mounted at ``w/<id>/metrics/``."""

from __future__ import annotations

app_name = "metrics"

urlpatterns: list = []
