"""Notifications: successes too, each member's choice per workspace (#18 item 14)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.connections.models import SyncJob
from apps.webhooks import preferences
from apps.webhooks.services import emission
from apps.webhooks.services.notifications import NOTIFIED_EVENTS
from tests.factories import ConnectionFactory

SETTINGS = "/notifications/settings/"


@pytest.fixture
def connection(workspace):
    return ConnectionFactory(workspace=workspace, name="Stripe to Warehouse")


def _sync(connection, status: str) -> None:
    now = timezone.now()
    job = SyncJob.objects.create(
        connection=connection,
        trigger="manual",
        status=status,
        started_at=now - timedelta(minutes=1),
        finished_at=now,
        failure_message="Destination refused the login." if status == "failed" else "",
    )
    emission.webhook_sync_event(job.pk)


def _badge(user, workspace) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return Template("{% load webhook_notifications %}{% notification_badge %}").render(
        Context({"request": request, "current_workspace": workspace})
    )


def _choose(client, workspace, app=(), email=(), **headers):
    key = str(workspace.public_id)
    return client.post(
        SETTINGS,
        {f"{key}-app": list(app), f"{key}-email": list(email)},
        headers=headers,
    )


def _list(client, workspace) -> str:
    return client.get(reverse("notifications:list", args=[workspace.public_id])).text


def test_every_notified_event_can_be_chosen():
    assert {str(e) for e in NOTIFIED_EVENTS} | {"webhook.disabled"} == (
        preferences.CHOOSABLE
    )


def test_by_default_failures_show_and_successes_do_not(
    admin, workspace, connection, login
):
    _sync(connection, "succeeded")
    _sync(connection, "failed")
    page = _list(login(admin), workspace)
    assert "Sync failure occurred: Stripe to Warehouse" in page
    assert "Sync completed" not in page
    assert ">1<" in _badge(admin, workspace)


def test_member_chooses_successes_and_sees_them(
    admin, viewer, workspace, connection, login, htmx_headers
):
    client = login(viewer)
    response = _choose(
        client, workspace, app=["sync.succeeded", "sync.failed"], **htmx_headers
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    _sync(connection, "succeeded")
    assert "Sync completed: Stripe to Warehouse" in _list(client, workspace)
    # The admin kept the defaults: their list has no successes.
    assert "Sync completed" not in _list(login(admin), workspace)
    event = AuditEvent.objects.get(action="notifications.preferences_changed")
    assert event.workspace == workspace and event.actor == viewer
    assert event.changes["in_app"][1] == ["sync.failed", "sync.succeeded"]


def test_unticking_everything_silences_a_workspace(admin, workspace, connection, login):
    client = login(admin)
    _choose(client, workspace)
    _sync(connection, "failed")
    assert "Nothing to report" in _list(client, workspace)
    assert ">1<" not in _badge(admin, workspace)


def test_chosen_events_are_mailed_to_who_chose_them_only(
    admin, viewer, workspace, connection, login, mail_now
):
    _choose(login(admin), workspace, app=["sync.failed"], email=["sync.failed"])
    _sync(connection, "failed")
    _sync(connection, "succeeded")
    (sent,) = mail.outbox
    assert sent.to == ["admin@acme.test"]
    assert sent.subject == "[Acme Data] Sync failure occurred: Stripe to Warehouse"
    assert "Destination refused the login." in sent.body
    assert f"/w/{workspace.public_id}/connections/jobs/" in sent.body
    assert SETTINGS in sent.body


def test_settings_page_lists_only_ones_own_workspaces(
    admin, workspace, outsider, login
):
    page = login(admin).get(SETTINGS)
    assert "Acme Data" in page.text
    assert "Elsewhere" not in page.text
    # A choice for someone else's workspace is not even a field.
    elsewhere = outsider.memberships.get().workspace
    _choose(login(admin), elsewhere, app=["sync.succeeded"])
    assert not AuditEvent.objects.filter(
        action="notifications.preferences_changed", workspace=elsewhere
    ).exists()


def test_saving_the_same_choice_twice_is_one_change(admin, workspace, login):
    client = login(admin)
    _choose(client, workspace, app=["sync.failed"])
    _choose(client, workspace, app=["sync.failed"])
    assert (
        AuditEvent.objects.filter(action="notifications.preferences_changed").count()
        == 1
    )


def test_anonymous_is_sent_to_sign_in(client, db):
    response = client.get(SETTINGS)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
