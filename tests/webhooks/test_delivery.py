"""Deliveries reach a real receiver on 127.0.0.1, signed, and retry from the row."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.connections.models import SyncJob
from apps.webhooks import signing
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from apps.webhooks.services import dispatch, emission, endpoints

Status = WebhookDelivery.Status


def _failed_job(connection) -> SyncJob:
    started = timezone.now() - timedelta(minutes=3)
    return SyncJob.objects.create(
        connection=connection,
        trigger=SyncJob.Trigger.SCHEDULED,
        status=SyncJob.Status.FAILED,
        started_at=started,
        finished_at=started + timedelta(seconds=95),
        records_committed=1200,
        bytes_committed=45678,
        failure_type=SyncJob.FailureType.CONFIG_ERROR,
        failure_origin=SyncJob.FailureOrigin.SOURCE,
        failure_message="The API key was refused.",
    )


def test_failed_sync_reaches_the_receiver_signed_over_the_raw_bytes(
    connection,
    endpoint_and_secret,
    receiver,
    enqueued,
    django_capture_on_commit_callbacks,
):
    _, secret = endpoint_and_secret
    job = _failed_job(connection)

    with django_capture_on_commit_callbacks(execute=True):
        emission.webhook_sync_event(job.pk)
    assert len(enqueued) == 1
    assert dispatch.webhook_delivery_attempt(delivery_id=enqueued[0])

    [got] = receiver.received
    msg_id = signing.verify(secret=secret, headers=got.headers, body=got.body)
    delivery = WebhookDelivery.objects.get()
    assert msg_id == delivery.webhook_id and msg_id.startswith("msg_")
    assert delivery.status == Status.SUCCEEDED
    event = json.loads(got.body)
    assert event["type"] == "sync.failed"
    data = event["data"]
    assert data["connection"]["name"] == "Stripe to Warehouse"
    assert data["source"]["name"] == "Stripe"
    assert data["destination"]["name"] == "Warehouse"
    assert data["connection"]["url"].startswith("http://127.0.0.1:8000/w/")
    assert data["job_id"] == str(job.public_id)
    assert data["duration_seconds"] == 95
    assert data["records_committed"] == 1200
    assert data["bytes_committed"] == 45678
    assert data["error"] == {
        "message": "The API key was refused.",
        "type": "config_error",
        "origin": "source",
    }
    [attempt] = delivery.attempts.all()
    assert attempt.status_code == 200 and attempt.response_excerpt == "ok"
    assert attempt.latency_ms is not None


def test_a_tampered_body_does_not_verify(endpoint_and_secret, receiver):
    endpoint, secret = endpoint_and_secret
    endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    dispatch.webhook_dispatch()
    [got] = receiver.received
    signing.verify(secret=secret, headers=got.headers, body=got.body)
    with pytest.raises(signing.SignatureError):
        signing.verify(secret=secret, headers=got.headers, body=got.body + b" ")
    with pytest.raises(signing.SignatureError):
        signing.verify(secret=signing.new_secret(), headers=got.headers, body=got.body)


def test_signature_matches_the_standard_webhooks_example():
    # The example from the Standard Webhooks specification's test vectors.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert (
        signing.sign(
            secret=secret,
            msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
            timestamp=1614265330,
            body=body,
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_endpoint_not_wanting_the_event_gets_nothing(
    connection, workspace, admin, enqueued
):
    endpoints.webhook_endpoint_create(
        actor=admin,
        workspace=workspace,
        name="starts",
        url="https://hooks.example.com/x",
        events=["sync.started"],
    )
    emission.webhook_sync_event(_failed_job(connection).pk)
    assert WebhookDelivery.objects.count() == 0


def test_slack_format_has_text_and_blocks(
    connection, workspace, admin, receiver, enqueued
):
    endpoints.webhook_endpoint_create(
        actor=admin,
        workspace=workspace,
        name="slack",
        url=receiver.url,
        events="sync_failed",
        format="slack",
    )
    emission.webhook_sync_event(_failed_job(connection).pk)
    dispatch.webhook_dispatch()
    body = json.loads(receiver.received[0].body)
    assert body["text"] == "Sync failure occurred: Stripe to Warehouse"
    text = json.dumps(body["blocks"])
    assert "The API key was refused." in text
    assert "1,200" in text and "1 min 35 s" in text


def test_5xx_is_retried_from_the_row_until_accepted(
    endpoint_and_secret, receiver, settings
):
    endpoint, secret = endpoint_and_secret
    settings.WEBHOOK_RETRY_SCHEDULE_SECONDS = [30, 60]
    receiver.plan = [(503, {}, b"busy"), (500, {}, b"oops")]
    delivery = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    start = timezone.now()

    with time_machine.travel(start, tick=False):
        assert dispatch.webhook_dispatch() == 1
        delivery.refresh_from_db()
        assert delivery.status == Status.PENDING
        assert delivery.next_attempt_at == start + timedelta(seconds=30)
        # Not due yet: a dispatcher leaves it alone.
        assert dispatch.webhook_dispatch() == 0
    # A "restarted worker" has nothing but the row: the wait lives there.
    with time_machine.travel(start + timedelta(seconds=31), tick=False):
        assert dispatch.webhook_dispatch() == 1
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == start + timedelta(seconds=31 + 60)
    with time_machine.travel(start + timedelta(seconds=92), tick=False):
        assert dispatch.webhook_dispatch() == 1
    delivery.refresh_from_db()
    assert delivery.status == Status.SUCCEEDED
    assert [a.status_code for a in delivery.attempts.all()] == [503, 500, 200]
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert ids == {delivery.webhook_id}
    for got in receiver.received:
        signing.verify(secret=secret, headers=got.headers, body=got.body)
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_gives_up_when_the_schedule_runs_out(endpoint_and_secret, receiver, settings):
    endpoint, _ = endpoint_and_secret
    settings.WEBHOOK_RETRY_SCHEDULE_SECONDS = [0, 0]
    receiver.plan = [(502, {}, b"")] * 3
    delivery = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    for _ in range(5):
        dispatch.webhook_dispatch()
    delivery.refresh_from_db()
    assert delivery.status == Status.GAVE_UP
    assert delivery.attempt_count == 3
    assert len(receiver.received) == 3


def test_429_honours_retry_after(endpoint_and_secret, receiver, settings):
    endpoint, _ = endpoint_and_secret
    settings.WEBHOOK_RETRY_SCHEDULE_SECONDS = [5]
    receiver.plan = [(429, {"Retry-After": "120"}, b"slow down")]
    delivery = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        dispatch.webhook_dispatch()
    delivery.refresh_from_db()
    assert delivery.status == Status.PENDING
    assert delivery.next_attempt_at == start + timedelta(seconds=120)
    assert delivery.last_status_code == 429
    with time_machine.travel(start + timedelta(seconds=60), tick=False):
        assert dispatch.webhook_dispatch() == 0
    with time_machine.travel(start + timedelta(seconds=121), tick=False):
        assert dispatch.webhook_dispatch() == 1
    delivery.refresh_from_db()
    assert delivery.status == Status.SUCCEEDED


def test_a_redirect_is_not_followed_and_not_retried(endpoint_and_secret, receiver):
    endpoint, _ = endpoint_and_secret
    receiver.plan = [(302, {"Location": receiver.url + "/elsewhere"}, b"")]
    delivery = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    dispatch.webhook_dispatch()
    dispatch.webhook_dispatch()
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert "not followed" in delivery.last_error
    assert [r.path for r in receiver.received] == ["/hooks/acme"]


def test_other_4xx_fail_without_retry(endpoint_and_secret, receiver):
    endpoint, _ = endpoint_and_secret
    receiver.plan = [(400, {}, b"bad")]
    delivery = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    dispatch.webhook_dispatch()
    dispatch.webhook_dispatch()
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED and len(receiver.received) == 1


def test_410_disables_the_endpoint_with_the_reason(endpoint_and_secret, receiver):
    endpoint, _ = endpoint_and_secret
    receiver.plan = [(410, {}, b"gone")]
    delivery = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    dispatch.webhook_dispatch()
    endpoint.refresh_from_db()
    delivery.refresh_from_db()
    assert delivery.status == Status.FAILED
    assert endpoint.enabled is False
    assert "410 Gone" in endpoint.disabled_reason
    assert AuditEvent.objects.filter(action="webhook.disabled").count() == 1
    # Nothing more is sent to a disabled endpoint.
    emission.webhook_event_emit(
        workspace=endpoint.workspace, event="sync.failed", payload={}
    )
    assert WebhookDelivery.objects.count() == 1


def test_timeouts_are_retried(endpoint_and_secret, receiver, settings):
    endpoint, _ = endpoint_and_secret
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.3
    receiver.delay = 1.0
    delivery = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    dispatch.webhook_dispatch()
    delivery.refresh_from_db()
    assert delivery.status == Status.PENDING
    assert "Timed out" in delivery.last_error
    receiver.delay = 0
    dispatch.webhook_dispatch()
    delivery.refresh_from_db()
    assert delivery.status == Status.SUCCEEDED


def test_connection_refused_is_retried(workspace, admin, enqueued):
    endpoint, _ = endpoints.webhook_endpoint_create(
        actor=admin,
        workspace=workspace,
        name="closed",
        # Port 9 (discard) is closed on 127.0.0.1 here.
        url="http://127.0.0.1:9/hook",
        events="sync_failed",
    )
    delivery = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    dispatch.webhook_dispatch()
    delivery.refresh_from_db()
    assert delivery.status == Status.PENDING
    assert delivery.attempts.get().status_code is None
    assert delivery.last_error


def test_endpoint_failing_for_days_is_disabled(endpoint_and_secret, receiver, settings):
    endpoint, _ = endpoint_and_secret
    settings.WEBHOOK_DISABLE_AFTER_DAYS = 5
    settings.WEBHOOK_RETRY_SCHEDULE_SECONDS = [3600] * 200
    receiver.plan = [(500, {}, b"")] * 200
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        delivery = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
        dispatch.webhook_dispatch()
    endpoint.refresh_from_db()
    assert endpoint.failing_since == start
    with time_machine.travel(start + timedelta(days=4, hours=23), tick=False):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now()
        )
        dispatch.webhook_dispatch()
    endpoint.refresh_from_db()
    assert endpoint.enabled
    with time_machine.travel(start + timedelta(days=5, minutes=1), tick=False):
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now()
        )
        dispatch.webhook_dispatch()
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "failed for 5 days" in endpoint.disabled_reason


def test_a_success_resets_the_failing_clock(endpoint_and_secret, receiver):
    endpoint, _ = endpoint_and_secret
    receiver.plan = [(500, {}, b"")]
    endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    dispatch.webhook_dispatch()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None
    dispatch.webhook_dispatch()
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_resend_keeps_the_webhook_id(endpoint_and_secret, receiver, admin):
    endpoint, secret = endpoint_and_secret
    first = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    dispatch.webhook_dispatch()
    first.refresh_from_db()
    again = dispatch.webhook_delivery_resend(actor=admin, delivery=first)
    dispatch.webhook_dispatch()
    assert again.pk != first.pk
    assert [r.headers["webhook-id"] for r in receiver.received] == [
        first.webhook_id,
        first.webhook_id,
    ]
    assert receiver.received[0].body == receiver.received[1].body
    for got in receiver.received:
        signing.verify(secret=secret, headers=got.headers, body=got.body)
    assert AuditEvent.objects.filter(action="webhook.resent").count() == 1


def test_a_delivery_left_delivering_by_a_dead_worker_is_taken_again(
    endpoint_and_secret, receiver
):
    endpoint, _ = endpoint_and_secret
    delivery = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert dispatch.webhook_deliveries_claim_due() == [delivery.pk]
        # The worker dies here, before it sends anything.
        assert dispatch.webhook_deliveries_claim_due() == []
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        assert dispatch.webhook_dispatch() == 1
    delivery.refresh_from_db()
    assert delivery.status == Status.SUCCEEDED
    assert len(receiver.received) == 1


def test_a_claimed_delivery_is_not_sent_twice(endpoint_and_secret, receiver):
    endpoint, _ = endpoint_and_secret
    delivery = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    assert dispatch.webhook_delivery_attempt(delivery_id=delivery.pk)
    assert not dispatch.webhook_delivery_attempt(delivery_id=delivery.pk)
    assert dispatch.webhook_dispatch() == 0
    assert len(receiver.received) == 1


def test_disabled_endpoint_pending_deliveries_give_up(endpoint_and_secret, receiver):
    endpoint, _ = endpoint_and_secret
    delivery = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False, disabled_reason="Turned off."
    )
    dispatch.webhook_dispatch()
    delivery.refresh_from_db()
    assert delivery.status == Status.GAVE_UP
    assert receiver.received == []


def test_response_excerpt_is_at_most_one_kib(endpoint_and_secret, receiver):
    endpoint, _ = endpoint_and_secret
    receiver.plan = [(200, {}, b"x" * 50_000)]
    delivery = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    dispatch.webhook_dispatch()
    assert len(delivery.attempts.get().response_excerpt) == 1024


def test_a_job_ending_in_the_lifecycle_emits_its_event(
    connection, endpoint_and_secret, enqueued, django_capture_on_commit_callbacks
):
    from apps.connections import lifecycle
    from apps.connections.models import SyncAttempt
    from apps.engines.base import AttemptOutcome

    job = SyncJob.objects.create(connection=connection, trigger="manual")
    with django_capture_on_commit_callbacks(execute=True):
        attempt = lifecycle.attempt_claim(job_id=job.pk)
        lifecycle.attempt_finish(
            attempt_id=attempt.pk,
            outcome=AttemptOutcome(
                status=SyncAttempt.Status.SUCCEEDED,
                records_committed=7,
                bytes_committed=70,
            ),
        )
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "sync.succeeded"
    assert delivery.payload["data"]["records_committed"] == 7
    assert enqueued == [delivery.pk]


def test_a_broken_event_never_breaks_the_caller(caplog):
    emission.webhook_sync_event(987654321)
    assert "Could not emit the webhook event" in caplog.text


def test_a_stolen_claim_is_not_sent_by_the_slow_dispatcher(
    endpoint_and_secret, receiver
):
    endpoint, _ = endpoint_and_secret
    delivery = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert dispatch.webhook_deliveries_claim_due() == [delivery.pk]
    # A second dispatcher takes it over once the first claim looks abandoned...
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        assert dispatch.webhook_dispatch() == 1
    # ...and the first one, getting to it late, sends nothing.
    assert (
        dispatch.webhook_delivery_send(delivery_id=delivery.pk, claimed_at=start)
        is None
    )
    assert len(receiver.received) == 1


def test_sync_started_event_for_a_running_job(connection, workspace, admin, enqueued):
    endpoints.webhook_endpoint_create(
        actor=admin,
        workspace=workspace,
        name="starts",
        url="https://hooks.example.com/x",
        events="sync.started",
    )
    job = SyncJob.objects.create(
        connection=connection,
        trigger="manual",
        status=SyncJob.Status.RUNNING,
        started_at=timezone.now(),
    )
    emission.webhook_sync_event(job.pk, "sync.started")
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "sync.started"
    assert delivery.payload["data"]["finished_at"] is None
    assert "error" not in delivery.payload["data"]


def test_connection_disabled_event_carries_the_reason(
    connection, workspace, admin, enqueued
):
    endpoints.webhook_endpoint_create(
        actor=admin,
        workspace=workspace,
        name="ops2",
        url="https://hooks.example.com/x",
        events="connection.disabled,credential.rotated",
        format="slack",
    )
    emission.webhook_connection_event(
        connection=connection, event="connection.disabled", reason="Schema broke."
    )
    delivery = WebhookDelivery.objects.get()
    assert delivery.payload["text"] == "Connection disabled: Stripe to Warehouse"


def test_credential_rotated_event_has_no_secret(workspace, admin, enqueued):
    from apps.credentials.services import credential_create

    credential = credential_create(
        actor=admin,
        workspace=workspace,
        name="Stripe key",
        type="api_key",
        fields={"api_key": "sk_live_canary_123"},
    )
    endpoints.webhook_endpoint_create(
        actor=admin,
        workspace=workspace,
        name="creds",
        url="https://hooks.example.com/x",
        events="credential.rotated",
    )
    emission.webhook_credential_rotated(credential=credential)
    payload = WebhookDelivery.objects.get().payload
    assert payload["data"]["credential"]["name"] == "Stripe key"
    assert "sk_live_canary_123" not in json.dumps(payload)


def test_tasks_can_be_enqueued(monkeypatch):
    # Celery refuses apply_async when a task's limits contradict the global ones.
    from apps.webhooks import tasks

    sent = []
    monkeypatch.setattr(
        tasks.webhook_deliver_task.app, "send_task", lambda *a, **k: sent.append(a)
    )
    tasks.webhook_deliver_task.delay(1)
    tasks.webhook_dispatch_task.delay()
    assert len(sent) == 2
