"""The connector builder, under ``w/<workspace_id>/builder/``."""

from __future__ import annotations

from django.urls import path

from apps.connectors.builder import views

app_name = "connector_builder"

urlpatterns = [
    path("", views.builder_list, name="list"),
    path("new/", views.builder_create, name="create"),
    path("<uuid:project_id>/", views.builder_detail, name="detail"),
    path("<uuid:project_id>/save/", views.builder_save, name="save"),
    path("<uuid:project_id>/run/", views.builder_run_status, name="run"),
    path("<uuid:project_id>/publish/", views.builder_publish, name="publish"),
]
