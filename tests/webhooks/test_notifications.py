"""In-app notifications: failures reach the workspace without any webhook."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from apps.connections.models import SyncJob
from apps.webhooks.models import Notification
from apps.webhooks.services import dispatch, emission


def _job(connection, status: str) -> SyncJob:
    now = timezone.now()
    return SyncJob.objects.create(
        connection=connection,
        trigger="manual",
        status=status,
        started_at=now - timedelta(minutes=1),
        finished_at=now,
        failure_message="Destination refused the login." if status == "failed" else "",
    )


def _badge(user, workspace) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return Template("{% load webhook_notifications %}{% notification_badge %}").render(
        Context({"request": request, "current_workspace": workspace})
    )


def test_failed_sync_is_a_notification_without_any_webhook(connection, workspace):
    emission.webhook_sync_event(_job(connection, "failed").pk)
    note = Notification.objects.get()
    assert note.title == "Sync failure occurred: Stripe to Warehouse"
    assert note.body == "Destination refused the login."
    assert note.level == "error"
    assert note.link.startswith(f"/w/{workspace.public_id}/connections/jobs/")


def test_successful_syncs_are_kept_but_shown_only_to_who_chose_them(
    connection, workspace, admin, login
):
    # #18 item 14: successes are notified too; a member sees them once chosen.
    emission.webhook_sync_event(_job(connection, "succeeded").pk)
    note = Notification.objects.get()
    assert note.title == "Sync completed: Stripe to Warehouse"
    page = login(admin).get(reverse("notifications:list", args=[workspace.public_id]))
    assert "Sync completed" not in page.text


def test_disabled_webhook_tells_the_workspace_why(endpoint_and_secret):
    endpoint, _ = endpoint_and_secret
    dispatch.webhook_endpoint_disable(endpoint=endpoint, reason="410 Gone from them.")
    note = Notification.objects.get()
    assert note.title == "Webhook “ops” was disabled"
    assert note.body == "410 Gone from them."


def test_unread_count_and_mark_read(connection, workspace, viewer, admin, login):
    emission.webhook_sync_event(_job(connection, "failed").pk)
    emission.webhook_sync_event(_job(connection, "failed").pk)
    assert 'data-testid="unread-count">2<' in _badge(viewer, workspace)
    client = login(viewer)
    page = client.get(reverse("notifications:list", args=[workspace.public_id]))
    assert page.status_code == 200
    assert page.content.decode().count("Sync failure occurred") == 2
    later = timezone.now() + timedelta(seconds=1)
    with time_machine.travel(later, tick=False):
        response = client.post(
            reverse("notifications:mark_read", args=[workspace.public_id])
        )
    assert response.status_code == 302
    assert "unread-count" not in _badge(viewer, workspace)
    # Read for the viewer only.
    assert 'data-testid="unread-count">2<' in _badge(admin, workspace)


def test_outsider_gets_404(workspace, outsider, login):
    client = login(outsider)
    assert (
        client.get(
            reverse("notifications:list", args=[workspace.public_id])
        ).status_code
        == 404
    )
    assert (
        client.post(
            reverse("notifications:mark_read", args=[workspace.public_id])
        ).status_code
        == 404
    )


def test_htmx_page_is_a_fragment(workspace, viewer, login):
    response = login(viewer).get(
        reverse("notifications:list", args=[workspace.public_id]),
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and "<html" not in response.content.decode()


@pytest.mark.parametrize("count, shown", [(3, ">3<"), (120, ">99+<")])
def test_badge_caps_its_count(workspace, viewer, count, shown):
    Notification.objects.bulk_create(
        Notification(workspace=workspace, event="sync.failed", title="x")
        for _ in range(count)
    )
    assert shown in _badge(viewer, workspace)
