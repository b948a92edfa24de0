"""Catalog URLs; included by apps/connectors/urls.py under ``w/<workspace_id>/``."""

from __future__ import annotations

from django.urls import path

from apps.connectors import catalog_views

urlpatterns = [
    path("catalog/", catalog_views.catalog, name="catalog"),
    path(
        "catalog/<uuid:definition_id>/row/",
        catalog_views.catalog_row,
        name="catalog_row",
    ),
    path(
        "catalog/<uuid:definition_id>/install/",
        catalog_views.catalog_install,
        name="catalog_install",
    ),
    path(
        "catalog/<uuid:definition_id>/uninstall/",
        catalog_views.catalog_uninstall,
        name="catalog_uninstall",
    ),
]
