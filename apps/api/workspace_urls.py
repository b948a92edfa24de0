"""The "Workspace as code" pages, mounted at ``w/<uuid:workspace_id>/code/``."""

from __future__ import annotations

from django.urls import path

from apps.api import workspace_views as views

app_name = "workspace_code"

urlpatterns = [
    path("", views.workspace_code, name="page"),
    path("workspace.yaml", views.workspace_code_download, name="download"),
    path("plan/", views.workspace_code_plan, name="plan"),
    path("apply/", views.workspace_code_apply, name="apply"),
]
