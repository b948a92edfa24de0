from __future__ import annotations

from django.urls import path

from apps.webhooks import views

app_name = "webhooks"

urlpatterns = [
    path("", views.webhook_list, name="list"),
    path("new/", views.webhook_create, name="create"),
    path("<uuid:endpoint_id>/", views.webhook_detail, name="detail"),
    path("<uuid:endpoint_id>/edit/", views.webhook_edit, name="edit"),
    path("<uuid:endpoint_id>/rotate/", views.webhook_rotate, name="rotate"),
    path("<uuid:endpoint_id>/delete/", views.webhook_delete, name="delete"),
    path("<uuid:endpoint_id>/test/", views.webhook_test, name="test"),
    path(
        "<uuid:endpoint_id>/deliveries/<uuid:delivery_id>/resend/",
        views.webhook_resend,
        name="resend",
    ),
]
