"""A connection's Quality tab (issue #17): mounted beside ``apps.connections.urls``."""

from __future__ import annotations

from django.urls import path

from apps.connections import quality_views

app_name = "quality"

urlpatterns = [
    path("<uuid:connection_id>/quality/", quality_views.quality_page, name="page"),
    path(
        "<uuid:connection_id>/quality/report/",
        quality_views.quality_report,
        name="report",
    ),
]
