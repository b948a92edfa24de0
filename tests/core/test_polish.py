"""Rough edges of #18 item 19 that a view test can see (the browser ones are in
tests/browser/test_polish.py)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.connectors.catalog import services as catalog_services
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.engines.fixtures import FAKER_ID, definition
from tests.factories import SourceFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


def test_a_refused_request_is_logged_in_one_line_without_a_traceback(
    workspace, viewer, login, caplog
):
    url = reverse("webhooks:list", args=[workspace.public_id])
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = login(viewer).get(url)
    assert response.status_code == 403
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == f"Forbidden (Permission denied): {url}"
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


def test_admin_names_deliveries_and_canaries_in_plain_english(login):
    staff = UserFactory(email="root@acme.test", is_staff=True, is_superuser=True)
    page = login(staff).get(reverse("admin:index")).text
    assert "Webhook deliveries" in page
    assert "deliverys" not in page
    assert "canarys" not in page.lower()


def _endpoint(workspace) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        workspace=workspace,
        name="Ops",
        url="https://hooks.example.com/ops",
        events=["sync.failed"],
        secret="whsec_" + "A" * 43,
    )


def test_the_delivery_log_refreshes_itself_until_a_test_event_settles(
    workspace, editor, login, htmx_headers
):
    endpoint = _endpoint(workspace)
    client = login(editor)
    args = [workspace.public_id, endpoint.public_id]

    sent = client.post(reverse("webhooks:test", args=args), headers=htmx_headers)
    assert sent.status_code == 200 and "<html" not in sent.text
    assert 'hx-trigger="every 2s"' in sent.text
    assert reverse("webhooks:detail", args=args) + "?page=1" in sent.text

    WebhookDelivery.objects.filter(endpoint=endpoint).update(
        status=WebhookDelivery.Status.SUCCEEDED, attempt_count=1
    )
    settled = client.get(reverse("webhooks:detail", args=args), headers=htmx_headers)
    assert "Succeeded" in settled.text
    assert "every 2s" not in settled.text


def test_a_retry_hours_away_does_not_keep_the_log_polling(
    workspace, editor, login, htmx_headers
):
    endpoint = _endpoint(workspace)
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="sync.failed",
        webhook_id="msg_1",
        payload={},
        status=WebhookDelivery.Status.PENDING,
        attempt_count=3,
        next_attempt_at=timezone.now() + timedelta(hours=2),
    )
    args = [workspace.public_id, endpoint.public_id]
    page = login(editor).get(reverse("webhooks:detail", args=args)).text
    assert "Pending" in page
    assert "every 2s" not in page


def test_a_refused_uninstall_names_the_sources_that_use_the_connector(workspace):
    staff = UserFactory(email="root@acme.test", is_staff=True)
    faker = definition(FAKER_ID)
    other = WorkspaceFactory(name="Marketing")
    for name, where in [("A", workspace), ("B", workspace), ("C", other), ("D", other)]:
        SourceFactory(workspace=where, name=f"Faker {name}", definition=faker)
    SourceFactory(workspace=workspace, name="Not faker")

    said = catalog_services.sources_in_use_message(definition=faker, actor=staff)

    assert said == (
        "4 sources use Sample Data (Faker): Faker A (in Acme Data), Faker B (in "
        "Acme Data), Faker C (in Marketing) and 1 more. Delete them before "
        "uninstalling the connector."
    )
