from __future__ import annotations

from django.urls import path

from apps.credentials import views

app_name = "credentials"

urlpatterns = [
    path("", views.credential_list, name="list"),
    path("new/", views.credential_create, name="create"),
    path("new/fields/", views.credential_type_fields, name="type_fields"),
    path("new/pair/", views.credential_pair_row, name="pair_row"),
    path("<uuid:credential_id>/", views.credential_detail, name="detail"),
    path("<uuid:credential_id>/edit/", views.credential_edit, name="edit"),
    path("<uuid:credential_id>/delete/", views.credential_delete, name="delete"),
]
