"""Reads for the webhook pages and the CLI, scoped to a workspace."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.db.models import Count, Max, QuerySet
from django.shortcuts import get_object_or_404

from apps.webhooks.models import (
    Notification,
    NotificationCursor,
    WebhookDelivery,
    WebhookEndpoint,
)
from apps.webhooks.preferences import notification_in_app_events
from apps.workspaces.models import Workspace


def webhook_endpoint_list(*, workspace: Workspace) -> QuerySet[WebhookEndpoint]:
    """The workspace's endpoints with their delivery counts."""
    return (
        WebhookEndpoint.objects.for_workspace(workspace)
        .annotate(
            delivery_count=Count("deliveries"),
            last_delivery_at=Max("deliveries__created_at"),
        )
        .order_by("name")
    )


def webhook_endpoint_get(*, workspace: Workspace, endpoint_id: UUID) -> WebhookEndpoint:
    """One endpoint of the workspace, or 404."""
    return get_object_or_404(
        WebhookEndpoint.objects.for_workspace(workspace).select_related("workspace"),
        public_id=endpoint_id,
    )


def webhook_endpoint_by_name(
    *, workspace: Workspace, name: str
) -> WebhookEndpoint | None:
    return (
        WebhookEndpoint.objects.for_workspace(workspace)
        .filter(name__iexact=name.strip())
        .first()
    )


def webhook_delivery_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """An endpoint's deliveries, newest first, with their attempts."""
    return (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .select_related("endpoint")
        .prefetch_related("attempts")
        .order_by("-created_at", "-id")
    )


def webhook_delivery_get(
    *, endpoint: WebhookEndpoint, delivery_id: UUID
) -> WebhookDelivery:
    return get_object_or_404(
        WebhookDelivery.objects.filter(endpoint=endpoint).select_related(
            "endpoint__workspace"
        ),
        public_id=delivery_id,
    )


def notification_list(
    *, workspace: Workspace, user: object | None = None
) -> QuerySet[Notification]:
    """The workspace's notifications, newest first; for ``user``, those they chose."""
    found = Notification.objects.for_workspace(workspace)
    if user is not None:
        found = found.filter(
            event__in=notification_in_app_events(user=user, workspace=workspace)
        )
    return found.order_by("-created_at", "-id")


def notification_seen_at(*, user: object, workspace: Workspace) -> datetime | None:
    cursor = NotificationCursor.objects.filter(
        user_id=getattr(user, "pk", None), workspace=workspace
    ).first()
    return cursor.seen_at if cursor else None


def notification_unread_count(*, user: object, workspace: Workspace) -> int:
    """Notifications newer than what this member last marked as read (capped)."""
    seen_at = notification_seen_at(user=user, workspace=workspace)
    unread = notification_list(workspace=workspace, user=user)
    if seen_at is not None:
        unread = unread.filter(created_at__gt=seen_at)
    # A badge shows "99+" beyond this; counting further is wasted work.
    return unread[:100].count()
