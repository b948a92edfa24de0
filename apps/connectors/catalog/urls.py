"""Catalog URLs; included by apps/connectors/urls.py under ``w/<workspace_id>/``."""

from __future__ import annotations

from django.urls import path

from apps.connectors.catalog import views

urlpatterns = [
    path("catalog/", views.catalog, name="catalog"),
    path("catalog/refresh/", views.catalog_refresh, name="catalog_refresh"),
    path(
        "catalog/<uuid:definition_id>/row/",
        views.catalog_row,
        name="catalog_row",
    ),
    path(
        "catalog/<uuid:definition_id>/icon/",
        views.catalog_icon,
        name="catalog_icon",
    ),
    path(
        "catalog/<uuid:definition_id>/install/",
        views.catalog_install,
        name="catalog_install",
    ),
    path(
        "catalog/<uuid:definition_id>/uninstall/",
        views.catalog_uninstall,
        name="catalog_uninstall",
    ),
]
