"""``{% audit_changes event.changes %}``: an event's changes as readable lines."""

from __future__ import annotations

from typing import Any

from django import template

from apps.audit.presenters import change_lines

register = template.Library()


@register.inclusion_tag("audit/_changes.html")
def audit_changes(changes: dict[str, Any] | None) -> dict[str, Any]:
    return {"lines": change_lines(changes)}
