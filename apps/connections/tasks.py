"""Celery tasks for syncs: thin wrappers that take ids and are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from apps.connections import lifecycle
from apps.connections.models import SyncJob
from apps.engines import registry

#: The queue of a connection's syncs when it names none (Connection.queue blank).
SHARED_SYNC_QUEUE = "syncs"


def sync_queue(job_id: int) -> str:
    """The Celery queue a job's sync tasks go to: its connection's, or the shared one.

    A team pins a heavy connection to a host by giving it a queue only that host's
    worker consumes (WORKER_QUEUES); every enqueue of its syncs goes through here,
    so a retry or a reaper's re-enqueue lands on the same host as the first try.
    """
    queue = (
        SyncJob.objects.filter(pk=job_id)
        .values_list("connection__queue", flat=True)
        .first()
    )
    return queue or SHARED_SYNC_QUEUE


@shared_task(name="connections.sync_job", acks_late=False, ignore_result=True)
def sync_job_task(job_id: int) -> None:
    """Run the next attempt of a job, if this worker wins the claim.

    Acknowledged early: a sync may run for hours, longer than any broker's
    redelivery window, and the job row (not the message) says whether it ran.
    """
    from apps.connections.execution import sync_run

    sync_run(job_id=job_id)


@shared_task(name="connections.reaper", ignore_result=True)
def sync_reaper_task() -> None:
    """Every minute: fail attempts with stale heartbeats, enqueue jobs that are due."""
    from apps.connections.services import sync_enqueue

    lifecycle.reap_stale_attempts()
    for job_id in lifecycle.due_jobs():
        sync_enqueue(job_id=job_id)
    # Engines that follow jobs elsewhere pick up the ones whose polls were lost.
    for name in registry.engine_names():
        registry.engine_class(name).recover_lost_jobs()


@shared_task(name="connections.clear_tables", ignore_result=True)
def connection_clear_tables_task(
    connection_id: int, streams: list[str], empty_tables: bool = True
) -> None:
    """Reset streams in the destination: forget their state, empty their tables."""
    from apps.connections.execution import connection_clear_tables

    connection_clear_tables(
        connection_id=connection_id, streams=streams, empty_tables=empty_tables
    )
