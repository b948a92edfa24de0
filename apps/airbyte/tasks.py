"""Celery tasks of the airbyte engine: thin, take ids, safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from apps.airbyte.client import AirbyteTransientError

logger = logging.getLogger(__name__)

# Pushes that cannot reach the server are retried with these waits (seconds).
_PUSH_RETRY_WAITS = (10, 30, 90, 270, 810)


@shared_task(name="airbyte.job_poll", ignore_result=True)
def airbyte_job_poll_task(job_id: int) -> None:
    """Mirror a job running on the Airbyte server; schedules the next poll itself."""
    from apps.airbyte.jobs import job_poll

    job_poll(job_id=job_id)


@shared_task(name="airbyte.job_start", ignore_result=True)
def airbyte_job_start_task(job_id: int) -> None:
    """Start (or, after a lost start, adopt) a job on the server."""
    from apps.airbyte.jobs import job_start

    job_start(job_id=job_id, recover=True)


@shared_task(name="airbyte.push", bind=True, ignore_result=True, max_retries=5)
def airbyte_push_task(self, kind: str, pk: int) -> None:
    """Create or update a source, destination or connection on the server."""
    from apps.airbyte.hooks import push_now

    try:
        push_now(kind=kind, pk=pk)
    except AirbyteTransientError as exc:
        wait = _PUSH_RETRY_WAITS[min(self.request.retries, len(_PUSH_RETRY_WAITS) - 1)]
        raise self.retry(exc=exc, countdown=wait) from None


@shared_task(name="airbyte.delete", bind=True, ignore_result=True, max_retries=5)
def airbyte_delete_task(self, server_id: int, kind: str, remote_id: str) -> None:
    """Delete an object on the server after the console deleted its row."""
    from apps.airbyte.mirror import remote_delete

    try:
        remote_delete(server_id=server_id, kind=kind, remote_id=remote_id)
    except AirbyteTransientError as exc:
        wait = _PUSH_RETRY_WAITS[min(self.request.retries, len(_PUSH_RETRY_WAITS) - 1)]
        raise self.retry(exc=exc, countdown=wait) from None


@shared_task(
    name="airbyte.probe", ignore_result=True, time_limit=660, soft_time_limit=630
)
def airbyte_probe_task(probe_id: int) -> None:
    """Run one of the Engine page's probes (test, list, choose, import).

    The interactive ones end within their own deadline (AIRBYTE_PROBE_DEADLINE_
    SECONDS); the limits here bound the import.
    """
    from apps.airbyte.services import probe_run

    probe_run(probe_id=probe_id)
