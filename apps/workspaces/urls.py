from __future__ import annotations

from django.urls import path

from apps.workspaces import views

app_name = "workspaces"

urlpatterns = [
    path("", views.home, name="home"),
    path("new/", views.workspace_create, name="create"),
    path("<uuid:workspace_id>/", views.workspace_detail, name="detail"),
    path("<uuid:workspace_id>/settings/", views.workspace_settings, name="settings"),
    path("<uuid:workspace_id>/members/", views.member_list, name="members"),
    path("<uuid:workspace_id>/members/add/", views.member_add, name="member_add"),
    path(
        "<uuid:workspace_id>/members/<uuid:membership_id>/role/",
        views.member_change_role,
        name="member_role",
    ),
    path(
        "<uuid:workspace_id>/members/<uuid:membership_id>/remove/",
        views.member_remove,
        name="member_remove",
    ),
]
