"""Connection URLs, under ``w/<workspace_id>/connections/``."""

from __future__ import annotations

from django.urls import path

from apps.connections import views

app_name = "connections"

urlpatterns = [
    path("", views.connection_list, name="list"),
    path("new/", views.connection_create, name="create"),
    path("new/streams/", views.connection_streams, name="streams"),
    path("<uuid:connection_id>/", views.connection_detail, name="detail"),
    path("<uuid:connection_id>/sync/", views.connection_sync, name="sync"),
    path("<uuid:connection_id>/cancel/", views.connection_cancel, name="cancel"),
    path("<uuid:connection_id>/toggle/", views.connection_toggle, name="toggle"),
    path("<uuid:connection_id>/settings/", views.connection_settings, name="settings"),
    path("<uuid:connection_id>/reset/", views.connection_reset, name="reset"),
    path("<uuid:connection_id>/schema/", views.connection_schema, name="schema"),
    path("<uuid:connection_id>/delete/", views.connection_delete, name="delete"),
    path("<uuid:connection_id>/jobs/", views.job_list, name="jobs"),
    path("jobs/", views.job_timeline, name="timeline"),
    path("jobs/<uuid:job_id>/", views.job_detail, name="job"),
    path("jobs/<uuid:job_id>/log/", views.job_log, name="job_log"),
    path("jobs/<uuid:job_id>/retry/", views.job_retry_now, name="job_retry"),
]
