"""``{% notification_badge %}``: the unread count for the top bar."""

from __future__ import annotations

from typing import Any

from django import template

from apps.webhooks.selectors import notification_unread_count

register = template.Library()


@register.inclusion_tag("webhooks/_notification_badge.html", takes_context=True)
def notification_badge(context: dict[str, Any]) -> dict[str, Any]:
    """The bell with the current workspace's unread count, for its members."""
    workspace = context.get("current_workspace")
    request = context.get("request")
    user = getattr(request, "user", None)
    if workspace is None or user is None or not user.is_authenticated:
        return {"workspace": None}
    count = notification_unread_count(user=user, workspace=workspace)
    return {"workspace": workspace, "count": count}
