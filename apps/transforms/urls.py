"""Transforms URLs, under ``w/<workspace_id>/transforms/``."""

from __future__ import annotations

from django.urls import path

from apps.transforms import views

app_name = "transforms"

urlpatterns = [
    path("", views.project_list, name="list"),
    path("installs/", views.install_status, name="installs"),
    path("installs/<str:adapter>/", views.install, name="install"),
    path("new/", views.project_create, name="create"),
    path("triggers/", views.trigger_add, name="trigger_add"),
    path(
        "triggers/<uuid:trigger_id>/delete/",
        views.trigger_delete,
        name="trigger_delete",
    ),
    path("runs/<uuid:run_id>/", views.run_detail, name="run"),
    path("jobs/<uuid:job_id>/", views.job_runs, name="job_runs"),
    path("runs/<uuid:run_id>/cancel/", views.run_cancel, name="run_cancel"),
    path("<uuid:project_id>/", views.project_detail, name="detail"),
    path("<uuid:project_id>/run/", views.project_run, name="run_request"),
    path("<uuid:project_id>/runs/", views.run_list, name="runs"),
    path("<uuid:project_id>/schedule/", views.project_schedule, name="schedule"),
    path("<uuid:project_id>/settings/", views.project_settings, name="settings"),
    path("<uuid:project_id>/delete/", views.project_delete, name="delete"),
    path("<uuid:project_id>/files/", views.file_edit, name="file"),
    path("<uuid:project_id>/files/delete/", views.file_delete, name="file_delete"),
    path("<uuid:project_id>/docs/", views.docs, name="docs"),
    path("<uuid:project_id>/docs/site/", views.docs_site, name="docs_site"),
    path("<uuid:project_id>/docs/generate/", views.docs_generate, name="docs_generate"),
    path("<uuid:project_id>/nodes/<str:unique_id>/", views.node_detail, name="node"),
    path(
        "<uuid:project_id>/nodes/<str:unique_id>/run/",
        views.node_run,
        name="node_run",
    ),
]
