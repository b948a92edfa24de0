"""What webhooks do when the domain apps announce a change (connected in apps.py).

The domain apps sit below webhooks and never import it: they send signals, and
these receivers turn each one into an event. Nothing here decides anything; the
emission services do.
"""

from __future__ import annotations

from typing import Any

from django.dispatch import Signal

from apps.webhooks.models import Event
from apps.webhooks.services.emission import (
    webhook_connection_event,
    webhook_credential_rotated,
    webhook_sync_event,
)


def sync_job_started(sender: Any, job_id: int, **kwargs: Any) -> None:
    """After the commit that started a job; the service never raises."""
    webhook_sync_event(job_id, Event.SYNC_STARTED)


def sync_job_finished(sender: Any, job_id: int, **kwargs: Any) -> None:
    """After the commit that ended a job; the service never raises."""
    webhook_sync_event(job_id)


def connection_event(
    sender: Any,
    connection: Any,
    event: str,
    signal: Signal | None = None,
    **details: Any,
) -> None:
    """Inside the connection's transaction, so the deliveries share its fate.

    ``signal`` is Django's own argument; everything else the sender named
    (``reason``, ``diff``) is the event's detail and goes into the payload.
    """
    webhook_connection_event(connection=connection, event=event, **details)


def credential_rotated(sender: Any, credential: Any, **kwargs: Any) -> None:
    """Inside the credential's transaction, like ``connection_event``."""
    webhook_credential_rotated(credential=credential)
