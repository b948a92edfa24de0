"""Reading the audit trail."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from apps.audit.models import AuditEvent

if TYPE_CHECKING:
    from apps.workspaces.models import Workspace


def audit_event_list(
    *,
    workspace: Workspace,
    action: str = "",
    actor: str = "",
    search: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[AuditEvent]:
    """A workspace's events, newest first, filtered as the audit page asks."""
    events = AuditEvent.objects.for_workspace(workspace)
    if action:
        events = events.filter(action__startswith=action)
    if actor:
        events = events.filter(actor_label__icontains=actor)
    if search:
        events = events.filter(target_label__icontains=search) | events.filter(
            action__icontains=search
        )
    if since:
        events = events.filter(occurred_at__date__gte=since)
    if until:
        events = events.filter(occurred_at__date__lte=until)
    return events


def audit_action_choices(*, workspace: Workspace) -> list[str]:
    """The distinct actions recorded in a workspace, for the filter menu."""
    return list(
        AuditEvent.objects.for_workspace(workspace)
        .order_by("action")
        .values_list("action", flat=True)
        .distinct()
    )
