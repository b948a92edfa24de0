"""``{% next_run_for connection as next_run %}`` for pages outside this app."""

from __future__ import annotations

from datetime import datetime

from django import template

from apps.connections.models import Connection
from apps.schedules import selectors

register = template.Library()


@register.simple_tag
def next_run_for(connection: Connection) -> datetime | None:
    """When the connection syncs next on its own; None if only by hand or paused."""
    return selectors.next_run_for(connection)
