from __future__ import annotations

from django.urls import path

from apps.webhooks import preference_views as views

app_name = "preferences"

urlpatterns = [
    path("", views.notification_settings, name="notifications"),
]
