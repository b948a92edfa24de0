"""Every write to webhooks: endpoints, deliveries and their attempts.

A delivery row is the truth about an event owed to an endpoint: it is created in
the transaction of the change it announces, tried once right after commit, and
retried by the dispatcher (beat) from ``next_attempt_at``, so retries survive a
worker restart. Endpoint changes are audited; the system's own deliveries are not
(their attempts are the record), but a person's "Send test" and "Resend" are.
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

from apps.audit.services import audit_record, field_changes
from apps.core.masking import MASK
from apps.webhooks import delivery as http
from apps.webhooks import payloads, signing
from apps.webhooks.models import (
    EVENT_ALIASES,
    TEST_EVENT,
    Event,
    Notification,
    NotificationCursor,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from apps.workspaces.models import Workspace

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
    return timedelta(days=float(getattr(settings, "WEBHOOK_DISABLE_AFTER_DAYS", 5)))


def _actor(actor: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return actor if actor is not None and actor.is_authenticated else None


def normalize_events(events: list[str] | str) -> list[str]:
    """Known event names (aliases of the resource-airbyte tool accepted), in order."""
    if isinstance(events, str):
        events = [e for e in events.replace(" ", ",").split(",") if e]
    known = set(Event.values)
    chosen: list[str] = []
    unknown: list[str] = []
    for name in events:
        value = EVENT_ALIASES.get(name.strip().lower(), name.strip().lower())
        if value not in known:
            unknown.append(name)
        elif value not in chosen:
            chosen.append(value)
    if unknown:
        raise ValidationError(
            {
                "events": f"Unknown event {', '.join(unknown)}: choose from "
                f"{', '.join(Event.values)} (or sync_completed, sync_failed)."
            }
        )
    if not chosen:
        raise ValidationError({"events": "Choose at least one event."})
    return chosen


def _clean(
    workspace: Workspace,
    *,
    name: str,
    url: str,
    format: str,
    exclude: WebhookEndpoint | None = None,
) -> tuple[str, str]:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "Give the endpoint a name."})
    url = (url or "").strip()
    if not url.lower().startswith(("http://", "https://")):
        raise ValidationError({"url": "Use an http:// or https:// URL."})
    try:
        http.check_literal(url)
    except http.BlockedAddress as exc:
        raise ValidationError(
            {"url": f"{exc} Webhooks only go to public addresses."}
        ) from None
    if format not in WebhookEndpoint.Format.values:
        raise ValidationError({"format": "Choose console or slack."})
    taken = WebhookEndpoint.objects.for_workspace(workspace).filter(name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise ValidationError(
            {"name": f"An endpoint named “{name}” already exists in this workspace."}
        )
    return name, url


def _audit_view(endpoint: WebhookEndpoint) -> dict[str, Any]:
    # The URL is shown as scheme and host: its path may carry a token.
    return {
        "name": endpoint.name,
        "url": endpoint.url_display,
        "events": ",".join(endpoint.events),
        "format": endpoint.format,
        "enabled": endpoint.enabled,
    }


@transaction.atomic
def webhook_endpoint_create(
    *,
    actor: AbstractBaseUser | None,
    workspace: Workspace,
    name: str,
    url: str,
    events: list[str] | str,
    format: str = WebhookEndpoint.Format.CONSOLE,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret, which the caller shows once and forgets."""
    name, url = _clean(workspace, name=name, url=url, format=format)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        workspace=workspace,
        name=name,
        url=url,
        events=normalize_events(events),
        format=format,
        secret=secret,
        created_by=_actor(actor),
    )
    endpoint.full_clean()
    endpoint.save()
    audit_record(
        actor=actor,
        action="webhook.created",
        workspace=workspace,
        target=endpoint,
        changes={**field_changes({}, _audit_view(endpoint)), "secret": [None, MASK]},
    )
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_update(
    *,
    actor: AbstractBaseUser | None,
    endpoint: WebhookEndpoint,
    name: str,
    url: str,
    events: list[str] | str,
    format: str,
    enabled: bool,
) -> WebhookEndpoint:
    """Change an endpoint; enabling it again forgets why it was disabled."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    before = _audit_view(endpoint)
    name, url = _clean(
        endpoint.workspace, name=name, url=url, format=format, exclude=endpoint
    )
    endpoint.name, endpoint.url, endpoint.format = name, url, format
    endpoint.events = normalize_events(events)
    if enabled and not endpoint.enabled:
        endpoint.disabled_reason = ""
        endpoint.failing_since = None
    endpoint.enabled = enabled
    endpoint.full_clean()
    endpoint.save()
    audit_record(
        actor=actor,
        action="webhook.updated",
        workspace=endpoint.workspace,
        target=endpoint,
        changes=field_changes(before, _audit_view(endpoint)),
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_rotate_secret(
    *, actor: AbstractBaseUser | None, endpoint: WebhookEndpoint
) -> str:
    """A new signing secret, in force at once; returned to be shown once."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    secret = signing.new_secret()
    endpoint.secret = secret
    endpoint.save(update_fields=["secret", "updated_at"])
    audit_record(
        actor=actor,
        action="webhook.secret_rotated",
        workspace=endpoint.workspace,
        target=endpoint,
        changes={"secret": [MASK, MASK]},
    )
    return secret


@transaction.atomic
def webhook_endpoint_delete(
    *, actor: AbstractBaseUser | None, endpoint: WebhookEndpoint
) -> None:
    """Delete an endpoint with its delivery log."""
    audit_record(
        actor=actor,
        action="webhook.deleted",
        workspace=endpoint.workspace,
        target=endpoint,
        changes=field_changes(_audit_view(endpoint), {}),
    )
    endpoint.delete()


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
    Notification.objects.create(
        workspace=endpoint.workspace,
        event=WEBHOOK_DISABLED,
        level=Notification.Level.ERROR,
        title=f"Webhook “{endpoint.name}” was disabled",
        body=reason[:1000],
        link=payloads.console_path(
            "webhooks:detail", endpoint.workspace.public_id, endpoint.public_id
        ),
    )
    logger.warning("Webhook endpoint %s disabled: %s", endpoint.public_id, reason)


# --- In-app notifications ----------------------------------------------------------

WEBHOOK_DISABLED = "webhook.disabled"
# What the notification list shows: failures and changes, not every routine sync.
NOTIFIED_EVENTS = {
    Event.SYNC_FAILED: Notification.Level.ERROR,
    Event.SYNC_CANCELLED: Notification.Level.INFO,
    Event.CONNECTION_DISABLED: Notification.Level.ERROR,
    Event.SCHEMA_CHANGED: Notification.Level.INFO,
    Event.CREDENTIAL_ROTATED: Notification.Level.INFO,
}


def notification_record(
    *, workspace: Workspace, event: str, data: dict[str, Any]
) -> Notification | None:
    """Add an event to the workspace's notification list, if it is one to show."""
    level = NOTIFIED_EVENTS.get(event)
    if level is None:
        return None
    connection = data.get("connection") or {}
    headline = payloads.HEADLINES.get(event, event)
    title = f"{headline}: {connection['name']}" if connection.get("name") else headline
    error = data.get("error") or {}
    body = error.get("message") or data.get("message") or ""
    link = (data.get("job") or {}).get("url") or connection.get("url") or ""
    return Notification.objects.create(
        workspace=workspace,
        event=event,
        level=level,
        title=title[:300],
        body=str(body)[:1000],
        link=payloads.to_path(link),
    )


@transaction.atomic
def notification_mark_read(*, actor: AbstractBaseUser, workspace: Workspace) -> None:
    """Everything in the list so far counts as read for this member.

    Not audited: it changes nothing but one person's unread counter.
    """
    NotificationCursor.objects.update_or_create(
        user=actor, workspace=workspace, defaults={"seen_at": timezone.now()}
    )


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


def _new_delivery(
    endpoint: WebhookEndpoint,
    *,
    event: str,
    data: dict[str, Any],
    when: datetime,
) -> WebhookDelivery:
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
def webhook_event_emit(
    *, workspace: Workspace, event: str, payload: dict[str, Any]
) -> list[WebhookDelivery]:
    """One delivery per enabled endpoint that wants ``event``, sent after commit.

    The workspace's notification list gets the events a team must not miss.
    """
    now = timezone.now()
    notification_record(workspace=workspace, event=event, data=payload)
    endpoints = [
        e
        for e in WebhookEndpoint.objects.for_workspace(workspace).filter(enabled=True)
        if event in e.events
    ]
    return [_new_delivery(e, event=event, data=payload, when=now) for e in endpoints]


def webhook_sync_event(job_id: int, event: str | None = None) -> None:
    """Announce a job's start or end to the workspace's endpoints.

    Called after the job's transaction commits; a failure here is logged, never
    raised, because a notification must not break the sync that it reports.
    """
    from apps.connections.models import SyncJob

    try:
        job = SyncJob.objects.select_related(
            "connection__workspace", "connection__source", "connection__destination"
        ).get(pk=job_id)
        webhook_event_emit(
            workspace=job.connection.workspace,
            event=event or payloads.sync_event_for(job),
            payload=payloads.sync_data(job),
        )
    except Exception:
        logger.exception("Could not emit the webhook event of job %s", job_id)


def webhook_connection_event(
    *, connection: Any, event: str, **details: Any
) -> list[WebhookDelivery]:
    """``connection.disabled`` (``reason=...``) or ``schema.changed`` (``diff=...``).

    Call it inside the transaction that disabled the connection or changed its
    schema: the deliveries exist only if that transaction commits.
    """
    return webhook_event_emit(
        workspace=connection.workspace,
        event=event,
        payload=payloads.connection_data(connection, **details),
    )


def webhook_credential_rotated(*, credential: Any) -> list[WebhookDelivery]:
    """``credential.rotated``: which credential, never its values."""
    workspace = credential.workspace
    return webhook_event_emit(
        workspace=workspace,
        event=Event.CREDENTIAL_ROTATED,
        payload={
            "workspace": {"id": str(workspace.public_id), "name": workspace.name},
            "credential": {
                "id": str(credential.public_id),
                "name": credential.name,
                "type": credential.type,
                "url": payloads.console_url(
                    "credentials:detail", workspace.public_id, credential.public_id
                ),
            },
            "message": f"Credential “{credential.name}” was rotated.",
        },
    )


@transaction.atomic
def webhook_test_send(
    *, actor: AbstractBaseUser | None, endpoint: WebhookEndpoint
) -> WebhookDelivery:
    """Send a test event to one endpoint, whatever events it wants."""
    if not endpoint.enabled:
        raise ValidationError("Enable the endpoint before sending a test event.")
    workspace = endpoint.workspace
    data = {
        "message": f"Webhook “{endpoint.name}” of {workspace.name} works.",
        "name": endpoint.name,
        "workspace": {
            "id": str(workspace.public_id),
            "name": workspace.name,
            "url": payloads.console_url("workspaces:detail", workspace.public_id),
        },
    }
    delivery = _new_delivery(endpoint, event=TEST_EVENT, data=data, when=timezone.now())
    audit_record(
        actor=actor,
        action="webhook.test_sent",
        workspace=workspace,
        target=endpoint,
        changes={"webhook_id": [None, delivery.webhook_id]},
    )
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
