"""The workspace's Engine page, mounted at ``w/<workspace_id>/engine/``."""

from __future__ import annotations

from django.urls import path

from apps.airbyte import remote_views, views

app_name = "engine"

urlpatterns = [
    path("", views.engine_settings, name="settings"),
    path("switch/", views.engine_switch, name="switch"),
    path("server/", views.server_save, name="server"),
    path("test/", views.server_test, name="test"),
    path("workspaces/", views.remote_workspace_list, name="workspaces"),
    path("workspace/", views.remote_workspace_choose, name="workspace"),
    path("import/", views.airbyte_import, name="import"),
    path("probes/<uuid:probe_id>/", views.probe_status, name="probe"),
    path(
        "recreate/<str:kind>/<uuid:public_id>/",
        remote_views.recreate,
        name="recreate",
    ),
]
