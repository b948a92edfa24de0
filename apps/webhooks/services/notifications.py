"""The workspace's in-app notification list: what a team must not miss."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.webhooks import payloads
from apps.webhooks.models import (
    Event,
    Notification,
    NotificationCursor,
    WebhookEndpoint,
)
from apps.webhooks.preferences import WEBHOOK_DISABLED, notification_email_after_commit
from apps.workspaces.models import Workspace

# What the notification list keeps: failures, changes and successes. Each member
# chooses which of them they see and which reach them by email
# (``apps.webhooks.preferences``); successes are off until they choose them.
NOTIFIED_EVENTS = {
    Event.SYNC_FAILED: Notification.Level.ERROR,
    Event.SYNC_SUCCEEDED: Notification.Level.INFO,
    Event.TRANSFORM_SUCCEEDED: Notification.Level.INFO,
    Event.SYNC_CANCELLED: Notification.Level.INFO,
    Event.CONNECTION_DISABLED: Notification.Level.ERROR,
    Event.SCHEMA_CHANGED: Notification.Level.INFO,
    Event.CREDENTIAL_ROTATED: Notification.Level.INFO,
    Event.TRANSFORM_FAILED: Notification.Level.ERROR,
}


def notification_record(
    *, workspace: Workspace, event: str, data: dict[str, Any]
) -> Notification | None:
    """Add an event to the workspace's notification list, if it is one to show."""
    level = NOTIFIED_EVENTS.get(event)
    if level is None:
        return None
    connection = data.get("connection") or {}
    # A transform's event names its project first (the connection is its sync's).
    subject = data.get("project") or connection
    headline = payloads.HEADLINES.get(event, event)
    title = f"{headline}: {subject['name']}" if subject.get("name") else headline
    error = data.get("error") or {}
    body = error.get("message") or data.get("message") or ""
    link = (
        (data.get("run") or {}).get("url")
        or (data.get("job") or {}).get("url")
        or subject.get("url")
        or ""
    )
    notification = Notification.objects.create(
        workspace=workspace,
        event=event,
        level=level,
        title=title[:300],
        body=str(body)[:1000],
        link=payloads.to_path(link),
    )
    notification_email_after_commit(notification=notification)
    return notification


def notification_endpoint_disabled(
    *, endpoint: WebhookEndpoint, reason: str
) -> Notification:
    """Tell the workspace that the console turned one of its endpoints off."""
    notification = Notification.objects.create(
        workspace=endpoint.workspace,
        event=WEBHOOK_DISABLED,
        level=Notification.Level.ERROR,
        title=f"Webhook “{endpoint.name}” was disabled",
        body=reason[:1000],
        link=payloads.console_path(
            "webhooks:detail", endpoint.workspace.public_id, endpoint.public_id
        ),
    )
    notification_email_after_commit(notification=notification)
    return notification


@transaction.atomic
def notification_mark_read(*, actor: AbstractBaseUser, workspace: Workspace) -> None:
    """Everything in the list so far counts as read for this member.

    Not audited: it changes nothing but one person's unread counter.
    """
    NotificationCursor.objects.update_or_create(
        user=actor, workspace=workspace, defaults={"seen_at": timezone.now()}
    )
