"""Celery tasks for the console's own upkeep: thin, and safe to run twice."""

from __future__ import annotations

from celery import shared_task

from apps.ops import retention

# The run stops between batches after this long and records what it did; the next
# beat run carries on. Well inside the time limit, so a big first prune is never
# killed halfway with its audit event unwritten.
PRUNE_BUDGET_SECONDS = 45 * 60


@shared_task(
    name="ops.retention_prune",
    ignore_result=True,
    time_limit=60 * 60,
    soft_time_limit=55 * 60,
)
def retention_prune_task() -> dict:
    """Every RETENTION_PRUNE_HOURS (beat): prune what is past its retention."""
    report = retention.retention_prune(budget_seconds=PRUNE_BUDGET_SECONDS)
    return report.counts()
