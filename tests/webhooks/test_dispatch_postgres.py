"""Two dispatchers at once on real PostgreSQL: each delivery is sent once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction

from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import dispatch, endpoints

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def deliveries(require_postgres, workspace, admin, receiver, enqueued):
    endpoint, _ = endpoints.webhook_endpoint_create(
        actor=admin,
        workspace=workspace,
        name="ops",
        url=receiver.url,
        events="sync_failed",
    )
    return [
        endpoints.webhook_test_send(actor=None, endpoint=endpoint) for _ in range(12)
    ]


def test_a_locked_delivery_is_skipped_not_waited_for(deliveries):
    locked, held = threading.Event(), threading.Event()

    def hold_first() -> None:
        with transaction.atomic():
            WebhookDelivery.objects.select_for_update().get(pk=deliveries[0].pk)
            locked.set()
            held.wait(10)
        connection.close()

    thread = threading.Thread(target=hold_first)
    thread.start()
    assert locked.wait(10)
    try:
        claimed = dispatch.webhook_deliveries_claim_due(limit=100)
    finally:
        held.set()
        thread.join(10)
    assert deliveries[0].pk not in claimed
    assert sorted(claimed) == sorted(d.pk for d in deliveries[1:])


def test_concurrent_dispatchers_send_each_delivery_once(deliveries, receiver, settings):
    settings.WEBHOOK_DISPATCH_BATCH = 3
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def dispatcher() -> None:
        try:
            barrier.wait(10)
            for _ in range(10):
                if not dispatch.webhook_dispatch():
                    break
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    sent = [r.headers["webhook-id"] for r in receiver.received]
    assert sorted(sent) == sorted(d.webhook_id for d in deliveries)
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {
        WebhookDelivery.Status.SUCCEEDED
    }
