"""Sending deliveries: scheduling, claiming, one attempt each, and retries.

The first attempt is enqueued right after the commit that created the delivery;
the dispatcher (beat) retries from ``next_attempt_at``. An endpoint that answers
410 or fails for days is turned off here, because that is the dispatcher's
verdict, not a person's edit.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.services import audit_record
from apps.webhooks import delivery as http
from apps.webhooks import payloads, signing
from apps.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from apps.webhooks.services.notifications import notification_endpoint_disabled

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status

DEFAULT_RETRY_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000]
# Retry-After is honoured up to this many seconds; beyond it, the schedule.
RETRY_AFTER_MAX_SECONDS = 24 * 3600


def retry_schedule() -> list[float]:
    """Waits after the 1st, 2nd, ... failed attempt; one retry per entry."""
    return [
        float(s)
        for s in getattr(
            settings, "WEBHOOK_RETRY_SCHEDULE_SECONDS", DEFAULT_RETRY_SCHEDULE
        )
    ]


def disable_after() -> timedelta:
    """How long an endpoint may fail every delivery before the console stops it."""
    return timedelta(days=float(getattr(settings, "WEBHOOK_DISABLE_AFTER_DAYS", 5)))


def enqueue_delivery(delivery_id: int) -> None:
    """Ask a worker to try now; the dispatcher retries if the broker is down."""
    from apps.webhooks.tasks import webhook_deliver_task

    try:
        webhook_deliver_task.delay(delivery_id)
    except Exception as exc:  # the row is durable: the dispatcher picks it up
        logger.warning(
            "Could not enqueue webhook delivery %s (%s); the dispatcher will send it",
            delivery_id,
            type(exc).__name__,
        )


def new_delivery(
    endpoint: WebhookEndpoint,
    *,
    event: str,
    data: dict[str, Any],
    when: datetime,
) -> WebhookDelivery:
    """A delivery of ``event`` to one endpoint, tried by a worker after commit."""
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event=event,
        webhook_id=signing.new_message_id(),
        payload=payloads.body_for(endpoint, event=event, data=data, when=when),
        next_attempt_at=when,
    )
    transaction.on_commit(lambda: enqueue_delivery(delivery.pk))
    return delivery


@transaction.atomic
def webhook_delivery_resend(
    *, actor: AbstractBaseUser | None, delivery: WebhookDelivery
) -> WebhookDelivery:
    """Send a finished delivery again, with the same ``webhook-id`` and body."""
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        raise ValidationError("Enable the endpoint before resending.")
    if not delivery.can_resend:
        raise ValidationError("This delivery is still being tried.")
    again = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event=delivery.event,
        webhook_id=delivery.webhook_id,
        payload=delivery.payload,
        next_attempt_at=timezone.now(),
        resent_from=delivery,
    )
    transaction.on_commit(lambda: enqueue_delivery(again.pk))
    audit_record(
        actor=actor,
        action="webhook.resent",
        workspace=endpoint.workspace,
        target=endpoint,
        changes={"webhook_id": [None, delivery.webhook_id]},
    )
    return again


@transaction.atomic
def webhook_endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> None:
    """The console turns an endpoint off and says why (410, failing for days)."""
    updated = WebhookEndpoint.objects.filter(pk=endpoint.pk, enabled=True).update(
        enabled=False, disabled_reason=reason[:500], updated_at=timezone.now()
    )
    if not updated:
        return
    endpoint.refresh_from_db()
    audit_record(
        actor=None,
        actor_label="webhooks",
        action="webhook.disabled",
        workspace=endpoint.workspace,
        target=endpoint,
        changes={"enabled": [True, False], "disabled_reason": [None, reason]},
        outcome="failure",
    )
    notification_endpoint_disabled(endpoint=endpoint, reason=reason)
    logger.warning("Webhook endpoint %s disabled: %s", endpoint.public_id, reason)


# --- Sending ------------------------------------------------------------------------


def _stale_claim_cutoff(now: datetime) -> datetime:
    # A claim is stamped again right before its request, and a request lasts at
    # most ``http.MAX_REQUEST_TIMEOUTS`` timeouts; older than that, its worker died.
    seconds = http.timeout_seconds() * (http.MAX_REQUEST_TIMEOUTS + 1) + 30
    return now - timedelta(seconds=seconds)


def _due(now: datetime) -> Q:
    return Q(status=Status.PENDING, next_attempt_at__lte=now) | Q(
        status=Status.DELIVERING, claimed_at__lt=_stale_claim_cutoff(now)
    )


def webhook_delivery_claim(*, delivery_id: int, now: datetime | None = None) -> bool:
    """Take one due delivery for this worker; False if it is not due or not ours."""
    now = now or timezone.now()
    return bool(
        WebhookDelivery.objects.filter(_due(now), pk=delivery_id).update(
            status=Status.DELIVERING, claimed_at=now, updated_at=now
        )
    )


def webhook_deliveries_claim_due(
    *, now: datetime | None = None, limit: int | None = None
) -> list[int]:
    """Claim a batch of due deliveries; concurrent dispatchers skip each other's."""
    now = now or timezone.now()
    limit = limit or int(getattr(settings, "WEBHOOK_DISPATCH_BATCH", 20))
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(_due(now))
            .order_by("next_attempt_at", "id")
            .values_list("pk", flat=True)[:limit]
        )
        # The conditional UPDATE is the claim where row locks do not exist (SQLite).
        WebhookDelivery.objects.filter(_due(now), pk__in=ids).update(
            status=Status.DELIVERING, claimed_at=now, updated_at=now
        )
        return list(
            WebhookDelivery.objects.filter(
                pk__in=ids, status=Status.DELIVERING, claimed_at=now
            ).values_list("pk", flat=True)
        )


def webhook_dispatch(*, now: datetime | None = None) -> int:
    """Beat: claim due deliveries and send each; returns how many were sent."""
    now = now or timezone.now()
    ids = webhook_deliveries_claim_due(now=now)
    for delivery_id in ids:
        webhook_delivery_send(delivery_id=delivery_id, claimed_at=now)
    return len(ids)


def webhook_delivery_attempt(*, delivery_id: int) -> bool:
    """Claim one delivery and send it if it is due (the on-commit task)."""
    now = timezone.now()
    if not webhook_delivery_claim(delivery_id=delivery_id, now=now):
        return False
    webhook_delivery_send(delivery_id=delivery_id, claimed_at=now)
    return True


def body_bytes(delivery: WebhookDelivery) -> bytes:
    """The exact bytes sent and signed; the same for every attempt."""
    return json.dumps(
        delivery.payload, separators=(",", ":"), ensure_ascii=False
    ).encode()


def webhook_delivery_send(
    *, delivery_id: int, claimed_at: datetime
) -> WebhookDelivery | None:
    """Make one attempt of a delivery claimed at ``claimed_at``, record the answer.

    The claim is stamped again just before the request: a batch's last delivery
    would otherwise look abandoned to another dispatcher while this one works
    through the batch. If someone else took it meanwhile, nothing is sent.
    """
    restamped = timezone.now()
    if not WebhookDelivery.objects.filter(
        pk=delivery_id, status=Status.DELIVERING, claimed_at=claimed_at
    ).update(claimed_at=restamped):
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint__workspace").get(
        pk=delivery_id
    )
    endpoint = delivery.endpoint
    if not endpoint.enabled:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=Status.GAVE_UP,
            next_attempt_at=None,
            last_error=f"Endpoint disabled: {endpoint.disabled_reason}"[:500],
            updated_at=timezone.now(),
        )
        delivery.refresh_from_db()
        return delivery
    body = body_bytes(delivery)
    headers = signing.headers(
        secret=endpoint.secret, msg_id=delivery.webhook_id, body=body
    )
    started = timezone.now()
    result = http.post(endpoint.url, body, headers)
    return _record(delivery.pk, started, result)


def _outcome(result: http.HttpResult) -> tuple[str, str]:
    """(kind, error): kind is ok, retry, fail or gone."""
    code = result.status_code
    if code is None:
        return ("retry" if result.transient else "fail"), result.error
    if 200 <= code < 300:
        return "ok", ""
    if 300 <= code < 400:
        return "fail", (
            f"The receiver answered {code} (a redirect), which is not followed: "
            "register the final URL."
        )
    if code == 410:
        return "gone", "The receiver answered 410 Gone."
    if code == 429 or code >= 500:
        return "retry", f"The receiver answered {code}."
    return "fail", f"The receiver answered {code}; not retried."


@transaction.atomic
def _record(
    delivery_id: int, started: datetime, result: http.HttpResult
) -> WebhookDelivery:
    now = timezone.now()
    delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=delivery.endpoint_id)
    kind, error = _outcome(result)
    delivery.attempt_count += 1
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=delivery.attempt_count,
        attempted_at=started,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        error=error[:500],
        response_excerpt=result.excerpt[: http.EXCERPT_BYTES],
    )
    delivery.last_status_code = result.status_code
    delivery.last_error = error[:500]
    delivery.claimed_at = None
    delivery.next_attempt_at = None
    schedule = retry_schedule()
    if kind == "ok":
        delivery.status = Status.SUCCEEDED
    elif kind == "retry" and delivery.attempt_count <= len(schedule):
        wait = schedule[delivery.attempt_count - 1]
        if result.retry_after is not None:
            wait = min(result.retry_after, RETRY_AFTER_MAX_SECONDS)
        delivery.status = Status.PENDING
        delivery.next_attempt_at = now + timedelta(seconds=wait)
    elif kind == "retry":
        delivery.status = Status.GAVE_UP
    else:
        delivery.status = Status.FAILED
    delivery.save()

    if kind == "ok":
        if endpoint.failing_since is not None:
            endpoint.failing_since = None
            endpoint.save(update_fields=["failing_since", "updated_at"])
    else:
        if endpoint.failing_since is None:
            endpoint.failing_since = started
            endpoint.save(update_fields=["failing_since", "updated_at"])
        if kind == "gone":
            webhook_endpoint_disable(
                endpoint=endpoint,
                reason=f"The receiver answered 410 Gone on "
                f"{now:%Y-%m-%d %H:%M} UTC: it no longer wants these events.",
            )
        elif now - endpoint.failing_since >= disable_after():
            days = disable_after().total_seconds() / 86400
            webhook_endpoint_disable(
                endpoint=endpoint,
                reason=f"Every delivery failed for {days:g} days (since "
                f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC); last error: "
                f"{error or 'unknown'}",
            )
    logger.info(
        "Webhook delivery %s to endpoint %s attempt %s: %s %s",
        delivery.webhook_id,
        endpoint.public_id,
        delivery.attempt_count,
        result.status_code or "-",
        delivery.status,
    )
    return delivery
