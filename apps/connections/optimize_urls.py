"""A connection's Recommendations tab, with the resources its attempts used
(issue #17): mounted beside ``apps.connections.urls``."""

from __future__ import annotations

from django.urls import path

from apps.connections import optimize_views

app_name = "optimize"

urlpatterns = [
    path(
        "<uuid:connection_id>/recommendations/",
        optimize_views.recommendations,
        name="recommendations",
    ),
]
