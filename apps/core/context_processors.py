"""The layout's navigation: the current workspace, the switcher and the side menu."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from apps.workspaces.selectors import workspace_list_for_user


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str | None
    active: bool
    note: str = ""


# Sections in menu order: (label, url name or None while its issue has not landed,
# the smallest role that sees it). A None entry is shown disabled, never as a page.
SECTIONS: list[tuple[str, str | None, str]] = [
    ("Dashboard", "workspaces:detail", "viewer"),
    ("Connections", None, "viewer"),
    ("Sources", None, "viewer"),
    ("Destinations", None, "viewer"),
    ("Credentials", "credentials:list", "viewer"),
    ("Schedules", None, "viewer"),
    ("Webhooks", None, "viewer"),
    ("Transforms", None, "viewer"),
    ("Members", "workspaces:members", "viewer"),
    ("Audit", "audit:list", "admin"),
    ("Settings", "workspaces:settings", "admin"),
]


def navigation(request: HttpRequest) -> dict:
    if not request.user.is_authenticated:
        return {}
    context: dict = {
        "switcher": SimpleLazyObject(
            lambda: list(workspace_list_for_user(user=request.user)[:50])
        )
    }
    membership = getattr(request, "membership", None)
    if membership is None:
        return context
    current = request.resolver_match.view_name if request.resolver_match else ""
    items = []
    for label, url_name, role in SECTIONS:
        if not membership.allows(role):
            continue
        if url_name is None:
            items.append(NavItem(label, None, False, "Coming soon"))
            continue
        url = reverse(url_name, kwargs={"workspace_id": membership.workspace.public_id})
        app = url_name.split(":")[0]
        active = current == url_name or (
            current.startswith(f"{app}:") and app not in ("workspaces",)
        )
        items.append(NavItem(label, url, active))
    context.update(nav_items=items, current_workspace=membership.workspace)
    return context
