"""Schedule URLs, under ``w/<workspace_id>/schedules/``."""

from __future__ import annotations

from django.urls import path

from apps.schedules import views

app_name = "schedules"

urlpatterns = [
    path("", views.schedule_list, name="list"),
    path("new/", views.schedule_create, name="create"),
    path("preview/", views.schedule_preview, name="preview"),
    path("<uuid:schedule_id>/", views.schedule_detail, name="detail"),
    path("<uuid:schedule_id>/edit/", views.schedule_edit, name="edit"),
    path("<uuid:schedule_id>/pause/", views.schedule_pause, name="pause"),
    path("<uuid:schedule_id>/resume/", views.schedule_resume, name="resume"),
    path("<uuid:schedule_id>/delete/", views.schedule_delete, name="delete"),
]
