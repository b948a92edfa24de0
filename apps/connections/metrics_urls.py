"""The workspace's Metrics page (issue #17): mounted at ``w/<id>/metrics/``."""

from __future__ import annotations

from django.urls import path

from apps.connections import metrics_views

app_name = "metrics"

urlpatterns = [
    path("", metrics_views.metrics_page, name="page"),
]
