"""Turning changes elsewhere in the console into webhook events.

Each event becomes one delivery per enabled endpoint that wants it, and the events
a team must not miss also reach the workspace's notification list. The domain
apps below webhooks do not call this module: they send signals, and
``apps.webhooks.apps`` connects them here. Transforms, an app above webhooks,
calls ``webhook_transform_event`` directly.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.webhooks import payloads
from apps.webhooks.models import Event, WebhookDelivery, WebhookEndpoint
from apps.webhooks.services.dispatch import new_delivery
from apps.webhooks.services.notifications import notification_record
from apps.workspaces.models import Workspace

logger = logging.getLogger(__name__)


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
    return [new_delivery(e, event=event, data=payload, when=now) for e in endpoints]


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


def webhook_transform_event(*, run: Any) -> list[WebhookDelivery]:
    """``transform.succeeded`` / ``transform.failed`` for a run that just ended.

    Called by the transforms app (above this one) after the run's end commits.
    """
    return webhook_event_emit(
        workspace=run.project.workspace,
        event=payloads.transform_event_for(run),
        payload=payloads.transform_data(run),
    )


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
