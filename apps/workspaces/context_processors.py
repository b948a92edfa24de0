"""The layout's navigation: the current workspace, the switcher and the side menu."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from apps.workspaces.selectors import workspace_list_for_user
from apps.workspaces.services import workspace_create_allowed


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str | None
    active: bool
    note: str = ""


# Sections in menu order: (label, url name or None while its issue has not landed,
# the smallest role that sees it, the view-name prefixes, separated by spaces, that
# mark it current). A None entry is shown disabled, never as a page.
SECTIONS: list[tuple[str, str | None, str, str]] = [
    ("Dashboard", "workspaces:detail", "viewer", "workspaces:detail"),
    # A connection's Quality and Recommendations tabs have their own namespaces.
    ("Connections", "connections:list", "viewer", "connections: quality: optimize:"),
    ("Jobs", "connections:timeline", "viewer", "connections:timeline"),
    ("Metrics", "metrics:page", "viewer", "metrics:"),
    ("Sources", "connectors:source_list", "viewer", "connectors:source"),
    ("Destinations", "connectors:destination_list", "viewer", "connectors:destination"),
    ("Catalog", "connectors:catalog", "viewer", "connectors:catalog"),
    ("Builder", "connector_builder:list", "editor", "connector_builder:"),
    ("Credentials", "credentials:list", "viewer", "credentials:"),
    ("Schedules", "schedules:list", "viewer", "schedules:"),
    ("Webhooks", "webhooks:list", "editor", "webhooks:"),
    ("Notifications", "notifications:list", "viewer", "notifications:"),
    ("Transforms", "transforms:list", "viewer", "transforms:"),
    ("Members", "workspaces:members", "viewer", "workspaces:member"),
    ("As code", "workspace_code:page", "viewer", "workspace_code:"),
    ("Audit", "audit:list", "admin", "audit:"),
    ("Settings", "workspaces:settings", "admin", "workspaces:settings"),
    ("Engine", "engine:settings", "admin", "engine:"),
]


def navigation(request: HttpRequest) -> dict:
    if not request.user.is_authenticated:
        return {}
    context: dict = {
        "switcher": SimpleLazyObject(
            lambda: list(workspace_list_for_user(user=request.user)[:50])
        ),
        "can_create_workspace": workspace_create_allowed(request.user),
    }
    membership = getattr(request, "membership", None)
    if membership is None:
        return context
    current = request.resolver_match.view_name if request.resolver_match else ""
    # The section with the longest matching prefix is current (Jobs, not
    # Connections, on the timeline).
    matches = [
        (len(prefix), prefixes)
        for *_, prefixes in SECTIONS
        for prefix in prefixes.split()
        if current.startswith(prefix)
    ]
    current_prefix = max(matches)[1] if matches else None
    items = []
    for label, url_name, role, prefix in SECTIONS:
        if not membership.allows(role):
            continue
        if url_name is None:
            items.append(NavItem(label, None, False, "Coming soon"))
            continue
        url = reverse(url_name, kwargs={"workspace_id": membership.workspace.public_id})
        items.append(NavItem(label, url, prefix == current_prefix))
    context.update(nav_items=items, current_workspace=membership.workspace)
    return context
