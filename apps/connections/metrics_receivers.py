"""Sync metrics, counted when a job starts and ends (connected in apps.py).

The signals are sent once per transition, after the commit that made it (the
claim's conditional UPDATE, the end under the job's row lock), in the process
where it happened: a task that runs twice counts once. A metric must never break
the signal's other receivers (webhooks, transforms), so failures are logged.
"""

from __future__ import annotations

import logging
from typing import Any

from apps.connections.models import SyncJob
from apps.core import metrics

logger = logging.getLogger(__name__)


def _job(job_id: int) -> SyncJob | None:
    return (
        SyncJob.objects.select_related("connection__workspace")
        .filter(pk=job_id)
        .first()
    )


def sync_job_started(sender: Any, job_id: int, **kwargs: Any) -> None:
    """Count the start and the wait from the request to the claim."""
    try:
        job = _job(job_id)
        if job is None:
            return
        wait = (
            (job.started_at - job.created_at).total_seconds()
            if job.started_at
            else None
        )
        metrics.sync_started(
            engine=job.connection.workspace.engine,
            trigger=job.trigger,
            queue_wait_seconds=wait,
            connection_id=str(job.connection.public_id),
        )
    except Exception:
        logger.exception("Could not count the start of job %s", job_id)


def sync_job_finished(sender: Any, job_id: int, **kwargs: Any) -> None:
    """Count the end: status and origin, what was committed, how long it took."""
    try:
        job = _job(job_id)
        if job is None:
            return
        metrics.sync_finished(
            engine=job.connection.workspace.engine,
            status=job.status,
            failure_origin=job.failure_origin,
            records_committed=job.records_committed,
            bytes_committed=job.bytes_committed,
            duration_seconds=job.duration_seconds if job.started_at else None,
            connection_id=str(job.connection.public_id),
        )
    except Exception:
        logger.exception("Could not count the end of job %s", job_id)
