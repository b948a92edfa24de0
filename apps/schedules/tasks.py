"""Celery tasks for schedules: thin, and safe to run twice or twice at once."""

from __future__ import annotations

from celery import shared_task

from apps.schedules import services


@shared_task(
    name="schedules.dispatch", ignore_result=True, time_limit=120, soft_time_limit=110
)
def schedule_dispatch_task() -> int:
    """Every 30 s (beat): turn due schedules into ticks and scheduled syncs."""
    return len(services.schedule_dispatch())
