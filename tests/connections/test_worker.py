"""A real Celery worker process runs syncs; killing it loses nothing.

These tests need PostgreSQL: the worker is another process and must see the test
database. The broker is whatever the suite uses (Redis in CI, else the filesystem).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from unittest import mock

import pytest

from apps.connections import lifecycle
from apps.connections.models import SyncAttempt, SyncJob
from apps.connections.services import sync_cancel, sync_enqueue, sync_request
from tests.connections.conftest import pg_rows

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout:g} s waiting for {what}")


def _request(connection, admin) -> SyncJob:
    return sync_request(connection=connection, trigger="manual", actor=admin)


def test_sigkilled_worker_loses_nothing_and_the_next_attempt_resumes(
    admin,
    settings,
    worker,
    faker_source,
    postgres_destination,
    make_connection,
    pg_schema,
):
    settings.SYNC_HEARTBEAT_STALE_SECONDS = 4
    settings.SYNC_RETRY_BACKOFF_BASE_SECONDS = 1
    # Faker regenerates every user on each run (always_updated), so the retry
    # re-sends what the dead worker had committed: dedup must keep one row each.
    source = faker_source(count=40_000, records_per_slice=1000)
    connection = make_connection(
        source,
        postgres_destination,
        [
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
            }
        ],
        namespace=pg_schema,
    )
    first_worker = worker("doomed")
    job = _request(connection, admin)
    attempt = wait_for(
        lambda: SyncAttempt.objects.filter(job=job, records_committed__gt=0).first(),
        timeout=120,
        what="the first committed batch",
    )
    os.killpg(first_worker.pid, signal.SIGKILL)
    first_worker.wait()
    killed_at = pg_rows(f'select count(*) from "{pg_schema}".users')[0][0]
    assert 0 < killed_at < 40_000

    # The reaper finds the silent attempt and the job waits for its retry.
    wait_for(
        lambda: lifecycle.reap_stale_attempts() or None,
        timeout=30,
        what="the reaper to fail the lost attempt",
    )
    attempt.refresh_from_db()
    assert attempt.status == SyncAttempt.Status.FAILED
    assert "stopped responding" in attempt.failure_message
    job.refresh_from_db()
    assert job.status == SyncJob.Status.INCOMPLETE

    worker("rescuer")
    wait_for(lambda: lifecycle.due_jobs(), timeout=10, what="the retry to fall due")
    for job_id in lifecycle.due_jobs():
        sync_enqueue(job_id=job_id)
    wait_for(
        lambda: SyncJob.objects.get(pk=job.pk).status in SyncJob.TERMINAL_STATUSES,
        timeout=180,
        what="the second attempt to finish",
    )
    job.refresh_from_db()
    assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message
    assert job.attempt_count == 2
    second = job.attempts.get(number=2)
    assert "Resuming from" in second.log
    # Every user exactly once, whatever the first worker had committed.
    assert pg_rows(f'select count(*), count(distinct id) from "{pg_schema}".users') == [
        (40_000, 40_000)
    ]


def test_cancel_stops_a_running_sync_and_keeps_committed_data(
    admin, worker, faker_source, postgres_destination, make_connection, pg_schema
):
    source = faker_source(count=200_000, records_per_slice=1000)
    connection = make_connection(
        source,
        postgres_destination,
        [
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
            }
        ],
        namespace=pg_schema,
    )
    worker("canceller")
    job = _request(connection, admin)
    wait_for(
        lambda: SyncAttempt.objects.filter(job=job, records_committed__gt=0).exists(),
        timeout=120,
        what="a committed batch",
    )
    sync_cancel(actor=admin, job=job)
    job.refresh_from_db()
    assert job.status == SyncJob.Status.CANCELLING
    started = time.monotonic()
    wait_for(
        lambda: SyncJob.objects.get(pk=job.pk).status == SyncJob.Status.CANCELLED,
        timeout=30,
        what="the cancel to take effect",
    )
    assert time.monotonic() - started < 15
    job.refresh_from_db()
    kept = pg_rows(f'select count(*) from "{pg_schema}".users')[0][0]
    assert kept == job.records_committed > 0
    assert kept < 200_000
    # A cancelled job never runs again.
    with mock.patch("apps.connections.tasks.sync_job_task.apply_async"):
        assert lifecycle.due_jobs() == []
