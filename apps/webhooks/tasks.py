"""Celery tasks for webhooks: thin, take ids, safe to run twice (rows are claimed)."""

from __future__ import annotations

from celery import shared_task

from apps.webhooks.services import dispatch


@shared_task(
    name="webhooks.deliver", ignore_result=True, time_limit=120, soft_time_limit=110
)
def webhook_deliver_task(delivery_id: int) -> None:
    """Right after commit: try one delivery, if no one else has it."""
    dispatch.webhook_delivery_attempt(delivery_id=delivery_id)


@shared_task(
    name="webhooks.dispatch", ignore_result=True, time_limit=600, soft_time_limit=590
)
def webhook_dispatch_task() -> None:
    """Beat: send the deliveries whose retry wait is over."""
    dispatch.webhook_dispatch()
