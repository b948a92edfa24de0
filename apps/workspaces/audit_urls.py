from __future__ import annotations

from django.urls import path

from apps.workspaces import audit_views as views

app_name = "audit"

urlpatterns = [
    path("", views.audit_list, name="list"),
]
