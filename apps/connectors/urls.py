"""Catalog, sources and destinations, under ``w/<workspace_id>/``."""

from __future__ import annotations

from django.urls import path

from apps.connectors import views
from apps.connectors.catalog.urls import urlpatterns as catalog_urlpatterns

app_name = "connectors"


def _kind_urls(kind: str, prefix: str) -> list:
    extra = {"kind": kind}
    return [
        path(f"{prefix}/", views.connector_list, extra, name=f"{kind}_list"),
        path(f"{prefix}/new/", views.connector_create, extra, name=f"{kind}_create"),
        path(
            f"{prefix}/<uuid:public_id>/",
            views.connector_detail,
            extra,
            name=f"{kind}_detail",
        ),
        path(
            f"{prefix}/<uuid:public_id>/edit/",
            views.connector_edit,
            extra,
            name=f"{kind}_edit",
        ),
        path(
            f"{prefix}/<uuid:public_id>/delete/",
            views.connector_delete,
            extra,
            name=f"{kind}_delete",
        ),
        path(
            f"{prefix}/<uuid:public_id>/check/",
            views.connector_check,
            extra,
            name=f"{kind}_check",
        ),
    ]


urlpatterns = [
    *catalog_urlpatterns,
    *_kind_urls("source", "sources"),
    *_kind_urls("destination", "destinations"),
    path(
        "sources/<uuid:public_id>/discover/",
        views.source_discover,
        name="source_discover",
    ),
]
