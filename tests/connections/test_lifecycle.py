"""The job row is the truth: claims, retries with backoff, the reaper."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from apps.connections import lifecycle
from apps.connections.lifecycle import AttemptOutcome
from apps.connections.models import SyncAttempt, SyncJob
from tests.factories import ConnectionFactory


@pytest.fixture
def job(db):
    return SyncJob.objects.create(
        public_id=uuid.uuid4(), connection=ConnectionFactory(), trigger="manual"
    )


def failed(failure_type: str = "transient_error", records: int = 0) -> AttemptOutcome:
    return AttemptOutcome(
        status=SyncAttempt.Status.FAILED,
        records_committed=records,
        failure_type=failure_type,
        failure_origin="source",
        failure_message="The source said no.",
    )


def test_only_one_worker_claims_a_job(job):
    first = lifecycle.attempt_claim(job_id=job.pk)
    second = lifecycle.attempt_claim(job_id=job.pk)
    assert first is not None and first.number == 1
    assert second is None
    job.refresh_from_db()
    assert job.status == SyncJob.Status.RUNNING
    assert job.started_at is not None


def test_transient_failures_back_off_10_30_90_seconds(job):
    waits = []
    with time_machine.travel("2026-01-01 12:00:00Z", tick=False) as clock:
        for _ in range(3):
            attempt = lifecycle.attempt_claim(job_id=job.pk)
            assert attempt is not None
            lifecycle.attempt_finish(attempt_id=attempt.pk, outcome=failed())
            job.refresh_from_db()
            assert job.status == SyncJob.Status.INCOMPLETE
            waits.append((job.next_attempt_at - timezone.now()).total_seconds())
            # Not claimable before its wait is over.
            assert lifecycle.attempt_claim(job_id=job.pk) is None
            clock.shift(timedelta(seconds=waits[-1]))
    assert waits == [10, 30, 90]


def test_config_error_is_not_retried_and_says_what_to_fix(job):
    attempt = lifecycle.attempt_claim(job_id=job.pk)
    lifecycle.attempt_finish(attempt_id=attempt.pk, outcome=failed("config_error"))
    job.refresh_from_db()
    assert job.status == SyncJob.Status.FAILED
    assert job.failure_type == "config_error"
    assert job.failure_message == "The source said no."
    assert job.finished_at is not None


def test_gives_up_after_the_successive_failure_limit(job, settings):
    settings.SYNC_MAX_SUCCESSIVE_FAILURES = 2
    settings.SYNC_RETRY_BACKOFF_BASE_SECONDS = 0
    for _ in range(2):
        attempt = lifecycle.attempt_claim(job_id=job.pk)
        lifecycle.attempt_finish(attempt_id=attempt.pk, outcome=failed())
    job.refresh_from_db()
    assert job.status == SyncJob.Status.FAILED
    assert job.attempt_count == 2


def test_partial_progress_resets_the_successive_count(job, settings):
    settings.SYNC_MAX_SUCCESSIVE_FAILURES = 2
    settings.SYNC_RETRY_BACKOFF_BASE_SECONDS = 0
    for records in (0, 500, 0):
        attempt = lifecycle.attempt_claim(job_id=job.pk)
        lifecycle.attempt_finish(attempt_id=attempt.pk, outcome=failed(records=records))
    job.refresh_from_db()
    assert job.status == SyncJob.Status.INCOMPLETE
    assert job.records_committed == 500


def test_success_sums_counts_and_ends_the_job(job):
    attempt = lifecycle.attempt_claim(job_id=job.pk)
    lifecycle.attempt_finish(
        attempt_id=attempt.pk,
        outcome=AttemptOutcome(
            status=SyncAttempt.Status.SUCCEEDED,
            records_committed=42,
            bytes_committed=4200,
            stream_stats={"users": {"records": 42}},
        ),
    )
    job.refresh_from_db()
    assert job.status == SyncJob.Status.SUCCEEDED
    assert (job.records_committed, job.bytes_committed) == (42, 4200)
    assert job.stream_stats == {"users": {"records": 42}}


def test_heartbeat_reports_cancel(job):
    attempt = lifecycle.attempt_claim(job_id=job.pk)
    beat = dict(
        attempt_id=attempt.pk,
        records_emitted=10,
        records_committed=5,
        bytes_committed=50,
        progress={"users": {"records": 10}},
    )
    assert lifecycle.attempt_heartbeat(**beat) is False
    SyncJob.objects.filter(pk=job.pk).update(status=SyncJob.Status.CANCELLING)
    assert lifecycle.attempt_heartbeat(**beat) is True
    attempt.refresh_from_db()
    assert attempt.records_emitted == 10


def test_reaper_fails_a_silent_attempt_and_the_job_is_retried(job, settings):
    settings.SYNC_HEARTBEAT_STALE_SECONDS = 60
    with time_machine.travel("2026-01-01 12:00:00Z", tick=False) as clock:
        attempt = lifecycle.attempt_claim(job_id=job.pk)
        clock.shift(timedelta(seconds=30))
        assert lifecycle.reap_stale_attempts() == 0
        clock.shift(timedelta(seconds=61))
        assert lifecycle.reap_stale_attempts() == 1
        attempt.refresh_from_db()
        job.refresh_from_db()
        assert attempt.status == SyncAttempt.Status.FAILED
        assert "stopped responding" in attempt.failure_message
        assert job.status == SyncJob.Status.INCOMPLETE
        assert lifecycle.due_jobs() == []
        clock.shift(timedelta(seconds=10))
        assert lifecycle.due_jobs() == [job.pk]
        # The dead worker's late report does not overwrite the reaper's verdict.
        lifecycle.attempt_finish(
            attempt_id=attempt.pk,
            outcome=AttemptOutcome(status=SyncAttempt.Status.SUCCEEDED),
        )
        attempt.refresh_from_db()
        assert attempt.status == SyncAttempt.Status.FAILED


def test_a_reaped_attempt_keeps_what_its_last_heartbeat_said_was_committed(
    job, settings
):
    # A worker killed after committing 5 records: those rows are in the
    # destination, so the job's total counts them and the attempt says so.
    settings.SYNC_HEARTBEAT_STALE_SECONDS = 60
    with time_machine.travel("2026-01-01 12:00:00Z", tick=False) as clock:
        attempt = lifecycle.attempt_claim(job_id=job.pk)
        lifecycle.attempt_heartbeat(
            attempt_id=attempt.pk,
            records_emitted=8,
            records_committed=5,
            bytes_committed=500,
            progress={},
        )
        clock.shift(timedelta(seconds=61))
        assert lifecycle.reap_stale_attempts() == 1
    attempt.refresh_from_db()
    job.refresh_from_db()
    assert attempt.status == SyncAttempt.Status.FAILED
    assert (attempt.records_committed, attempt.bytes_committed) == (5, 500)
    assert (job.records_committed, job.bytes_committed) == (5, 500)


def test_due_jobs_picks_up_jobs_lost_in_a_broker_outage(job, settings):
    settings.SYNC_REENQUEUE_AFTER_SECONDS = 300
    assert lifecycle.due_jobs() == [job.pk]  # never enqueued
    SyncJob.objects.filter(pk=job.pk).update(enqueued_at=timezone.now())
    assert lifecycle.due_jobs() == []
    SyncJob.objects.filter(pk=job.pk).update(
        enqueued_at=timezone.now() - timedelta(seconds=301)
    )
    assert lifecycle.due_jobs() == [job.pk]


def test_cancel_during_run_ends_cancelled_not_retried(job):
    attempt = lifecycle.attempt_claim(job_id=job.pk)
    SyncJob.objects.filter(pk=job.pk).update(status=SyncJob.Status.CANCELLING)
    lifecycle.attempt_finish(
        attempt_id=attempt.pk,
        outcome=AttemptOutcome(
            status=SyncAttempt.Status.CANCELLED, records_committed=7
        ),
    )
    job.refresh_from_db()
    assert job.status == SyncJob.Status.CANCELLED
    assert job.records_committed == 7
