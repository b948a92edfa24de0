"""End to end with a real Celery worker: a failed sync reaches a local receiver,
signed, and is retried from the database until accepted, across a worker restart.

Needs PostgreSQL (the worker is another process and must see the test database).
"""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connections.models import SyncJob
from apps.webhooks import signing
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import emission, endpoints
from apps.webhooks.tasks import webhook_dispatch_task
from tests.connections.test_worker import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_failed_sync_is_delivered_signed_and_retried_across_a_worker_restart(
    worker, connection, workspace, admin, receiver
):
    endpoint, secret = endpoints.webhook_endpoint_create(
        actor=admin,
        workspace=workspace,
        name="ops",
        url=receiver.url,
        events="sync_failed",
    )
    receiver.plan = [(503, {}, b"try later")]
    first = worker("wh1")
    now = timezone.now()
    job = SyncJob.objects.create(
        connection=connection,
        trigger="scheduled",
        status=SyncJob.Status.FAILED,
        started_at=now - timedelta(seconds=30),
        finished_at=now,
        failure_type="system_error",
        failure_origin="destination",
        failure_message="disk full",
    )
    # What job_ended does after the job's commit; the delivery is enqueued at once.
    emission.webhook_sync_event(job.pk)
    delivery = WebhookDelivery.objects.get()
    wait_for(lambda: receiver.received, timeout=60, what="the first attempt")
    wait_for(
        lambda: WebhookDelivery.objects.filter(
            pk=delivery.pk, status="pending", attempt_count=1
        ).exists(),
        timeout=20,
        what="the retry to be scheduled",
    )

    # The worker dies; the retry lives in the row, and a new worker sends it.
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    worker("wh2")
    delivery.refresh_from_db()
    wait_for(
        lambda: timezone.now() >= delivery.next_attempt_at,
        timeout=60,
        what="the retry to fall due",
    )
    webhook_dispatch_task.delay()  # what beat sends every few seconds
    wait_for(
        lambda: WebhookDelivery.objects.filter(
            pk=delivery.pk, status="succeeded"
        ).exists(),
        timeout=60,
        what="the retry to be accepted",
    )
    assert len(receiver.received) == 2
    for got in receiver.received:
        assert signing.verify(secret=secret, headers=got.headers, body=got.body) == (
            delivery.webhook_id
        )
    assert [a.status_code for a in delivery.attempts.all()] == [503, 200]
    assert endpoint.deliveries.count() == 1
