"""The user's API applications and tokens, under their account (``/accounts/api/``)."""

from __future__ import annotations

from django.urls import path

from apps.api import views

app_name = "api_tokens"

urlpatterns = [
    path("", views.token_list, name="list"),
    path("applications/new/", views.application_create, name="application_create"),
    path(
        "applications/<uuid:application_id>/revoke/",
        views.application_revoke,
        name="application_revoke",
    ),
    path("tokens/new/", views.token_create, name="token_create"),
    path("tokens/<uuid:token_id>/revoke/", views.token_revoke, name="token_revoke"),
]
