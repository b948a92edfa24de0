"""The life of a sync job on the database row, which is the truth.

A worker claims a job with a conditional UPDATE (pending or incomplete -> running):
if 0 rows change, someone else has it. It opens an attempt, beats on the attempt row
while it runs (progress counters ride on the beat), and ends it. A failed attempt is
retried per ``retry.RetryPolicy``: the wait lives in ``next_attempt_at`` and the
reaper, run by beat every minute, enqueues jobs whose wait is over, and fails
attempts whose worker stopped beating.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.audit.services import audit_record
from apps.connections.models import SyncAttempt, SyncJob
from apps.connections.retry import RetryPolicy
from apps.core import metrics
from apps.core.pids import pid_alive
from apps.engines.base import RESOURCE_FIELDS, AttemptOutcome
from apps.engines.registry import get_engine

logger = logging.getLogger(__name__)

Status = SyncJob.Status


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def attempt_claim(*, job_id: int, now: datetime | None = None) -> SyncAttempt | None:
    """Take the job for this worker and open its next attempt; None if not ours."""
    now = now or timezone.now()
    with transaction.atomic():
        claimed = (
            SyncJob.objects.filter(
                pk=job_id, status__in=[Status.PENDING, Status.INCOMPLETE]
            )
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .update(
                status=Status.RUNNING,
                attempt_count=F("attempt_count") + 1,
                next_attempt_at=None,
                updated_at=now,
            )
        )
        if not claimed:
            return None
        job = SyncJob.objects.select_related("connection").get(pk=job_id)
        if job.started_at is None:
            job.started_at = now
            job.save(update_fields=["started_at"])
            transaction.on_commit(lambda: job_started(job_id))
        attempt = SyncAttempt.objects.create(
            job=job, number=job.attempt_count, worker=worker_name(), heartbeat_at=now
        )
        transaction.on_commit(lambda: metrics.attempt_running(attempt.pk))
        return attempt


def attempt_heartbeat(
    *,
    attempt_id: int,
    records_emitted: int,
    records_committed: int,
    bytes_committed: int,
    progress: dict[str, Any],
) -> bool:
    """Beat and store progress; returns True when the job is being cancelled."""
    SyncAttempt.objects.filter(pk=attempt_id, status=SyncAttempt.Status.RUNNING).update(
        heartbeat_at=timezone.now(),
        records_emitted=records_emitted,
        records_committed=records_committed,
        bytes_committed=bytes_committed,
        progress=progress,
    )
    return SyncJob.objects.filter(
        attempts__pk=attempt_id, status=Status.CANCELLING
    ).exists()


def _failures(job: SyncJob) -> tuple[int, int]:
    """(successive, total) failed attempts; one that committed data breaks a run."""
    successive = total = 0
    counting = True
    for attempt in job.attempts.order_by("-number"):
        if attempt.status != SyncAttempt.Status.FAILED:
            counting = False
            continue
        total += 1
        if counting and attempt.records_committed == 0:
            successive += 1
        else:
            counting = False
    return successive, total


@transaction.atomic
def attempt_finish(*, attempt_id: int, outcome: AttemptOutcome) -> SyncJob:
    """Close the attempt and move the job on: done, cancelled, or retried later."""
    now = timezone.now()
    # Off the running gauge whatever the row says (the reaper may have ended it).
    metrics.attempt_stopped(attempt_id)
    attempt = SyncAttempt.objects.select_for_update().get(pk=attempt_id)
    job = (
        SyncJob.objects.select_for_update()
        .select_related("connection__workspace")
        .get(pk=attempt.job_id)
    )
    if attempt.status != SyncAttempt.Status.RUNNING:
        # The reaper got here first (the heartbeat went stale): keep its verdict.
        return job
    attempt.status = outcome.status
    attempt.finished_at = now
    attempt.records_committed = outcome.records_committed
    attempt.bytes_committed = outcome.bytes_committed
    attempt.state_end = outcome.state_end
    attempt.failure_type = outcome.failure_type
    attempt.failure_origin = outcome.failure_origin
    attempt.failure_message = outcome.failure_message[:10_000]
    for field, value in (outcome.resources or {}).items():
        if field in RESOURCE_FIELDS:
            setattr(attempt, field, value)
    attempt.save()
    job.records_committed += outcome.records_committed
    job.bytes_committed += outcome.bytes_committed
    job.stream_stats = _merge_stats(job.stream_stats, outcome.stream_stats or {})
    _advance_job(job, attempt, now)
    return job


def _merge_stats(total: dict, more: dict) -> dict:
    merged = {key: dict(value) for key, value in (total or {}).items()}
    for stream, stats in more.items():
        into = merged.setdefault(stream, {})
        for key, value in stats.items():
            if isinstance(value, int | float):
                into[key] = into.get(key, 0) + value
            else:
                into[key] = value
    return merged


def _advance_job(job: SyncJob, attempt: SyncAttempt, now: datetime) -> None:
    """After an attempt of the console's own: end the job, or wait for a retry."""
    failure: tuple[str, str, str] | None = None
    if attempt.status == SyncAttempt.Status.SUCCEEDED:
        status = Status.SUCCEEDED
    elif (
        attempt.status == SyncAttempt.Status.CANCELLED
        or job.status == Status.CANCELLING
    ):
        status = Status.CANCELLED
    else:
        failure = (
            attempt.failure_type or SyncJob.FailureType.SYSTEM_ERROR,
            attempt.failure_origin or SyncJob.FailureOrigin.CONSOLE,
            attempt.failure_message,
        )
        policy = RetryPolicy.from_settings()
        successive, total = _failures(job)
        if policy.should_retry(
            failure_type=failure[0],
            successive_failures=successive,
            total_failures=total,
        ):
            status = Status.INCOMPLETE
            job.next_attempt_at = now + policy.backoff(successive or 1)
            job.enqueued_at = None
        else:
            status = Status.FAILED
    job_finish(
        job=job,
        status=status,
        failure=failure,
        now=now,
        changes={"attempt": [None, attempt.number]},
    )


def job_finish(
    *,
    job: SyncJob,
    status: str,
    failure: tuple[str, str, str] | None = None,
    now: datetime | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Write how a job's attempt left it: the one writer of a job's end, any engine.

    ``status`` is terminal (succeeded, failed, cancelled) or ``incomplete`` (a
    retry is due at ``job.next_attempt_at``). ``failure`` is (type, origin,
    message); a cancel always reads as a cancel. Call it inside the transaction
    that holds the job's row lock; it saves the job, records one audit event and,
    at a terminal status, sends ``sync_job_finished`` after the commit.
    """
    now = now or timezone.now()
    previous = job.status
    job.status = status
    if status == Status.CANCELLED:
        job.failure_type = SyncJob.FailureType.MANUAL_CANCELLATION
        job.failure_origin = ""
        job.failure_message = "Cancelled; data committed before the cancel is kept."
    elif failure:
        job.failure_type, job.failure_origin, job.failure_message = failure
    else:
        job.failure_type = job.failure_origin = job.failure_message = ""
    if status in SyncJob.TERMINAL_STATUSES:
        job.finished_at = now
    job.save()
    audit_record(
        actor=None,
        actor_label="worker",
        action=f"sync.{job.status}",
        workspace=job.connection.workspace,
        target=job.connection,
        changes={
            "status": [previous, job.status],
            **(changes or {}),
            "records_committed": [None, job.records_committed],
        },
        outcome="success" if job.status == Status.SUCCEEDED else "failure",
    )
    if job.status in SyncJob.TERMINAL_STATUSES:
        job_id = job.pk
        transaction.on_commit(lambda: job_ended(job_id))
    elif job.status == Status.INCOMPLETE and previous != Status.INCOMPLETE:
        connection = job.connection
        transaction.on_commit(
            lambda: metrics.sync_retry_scheduled(
                engine=connection.workspace.engine,
                connection_id=str(connection.public_id),
            )
        )


def job_started(job_id: int) -> None:
    """After the first attempt of a job is claimed: tell whoever listens."""
    from apps.connections.signals import sync_job_started

    sync_job_started.send(sender=SyncJob, job_id=job_id)


def job_ended(job_id: int) -> None:
    """After a job's last word is committed: notify whoever listens (webhooks, ...)."""
    from apps.connections.signals import sync_job_finished

    sync_job_finished.send(sender=SyncJob, job_id=job_id)


def stale_threshold() -> timedelta:
    return timedelta(seconds=settings.SYNC_HEARTBEAT_STALE_SECONDS)


def reap_stale_attempts(*, now: datetime | None = None) -> int:
    """Fail attempts whose worker is gone; their jobs retry per the policy.

    A worker is gone when its heartbeat is stale, or at once when it ran on this
    host and its process no longer exists (a crash, or `make run` stopped with
    Ctrl-C). The connector a dead worker left running is stopped by its engine.
    """
    now = now or timezone.now()
    cutoff = now - stale_threshold()
    running = (
        SyncAttempt.objects.filter(status=SyncAttempt.Status.RUNNING)
        # Attempts mirrored from an Airbyte server are the server's to end.
        .filter(job__remote_id="")
    )
    # With what the last heartbeat said was committed: those rows are in the
    # destination whatever happened to the worker, and count as the attempt's.
    fields = (
        "pk",
        "worker",
        "heartbeat_at",
        "connector_pgid",
        "records_committed",
        "bytes_committed",
    )
    stale = list(running.filter(heartbeat_at__lt=cutoff).values_list(*fields))
    seen = {row[0] for row in stale}
    here = f"{socket.gethostname()}:"
    dead_here = [
        row
        for row in running.filter(worker__startswith=here)
        .exclude(pk__in=seen)
        .values_list(*fields)
        if not _alive(row[1])
    ]
    for attempt_id, worker, beat, pgid, committed, committed_bytes in stale + dead_here:
        seconds = int((now - beat).total_seconds()) if beat else 0
        if attempt_id in seen:
            why = (
                f"The worker running this attempt ({worker}) stopped responding: "
                f"no heartbeat for {seconds} s."
            )
        else:
            why = (
                f"The worker running this attempt ({worker}) stopped responding: "
                "its process on this host is gone."
            )
        job = attempt_finish(
            attempt_id=attempt_id,
            outcome=AttemptOutcome(
                status=SyncAttempt.Status.FAILED,
                records_committed=committed,
                bytes_committed=committed_bytes,
                failure_type=SyncJob.FailureType.TRANSIENT_ERROR,
                failure_origin=SyncJob.FailureOrigin.CONSOLE,
                failure_message=(
                    f"{why} The next attempt resumes from the last committed state."
                ),
            ),
        )
        get_engine(job.connection.workspace).stop_lost_attempt(
            worker=worker, process_group=pgid
        )
        logger.warning(
            "Reaped attempt %s (worker %s, last beat %s s ago)",
            attempt_id,
            worker,
            seconds,
        )
    return len(stale) + len(dead_here)


def _alive(worker: str) -> bool:
    """Is the worker process (``host:pid``, on this host) still running?"""
    pid = worker.rpartition(":")[2]
    return not pid.isdigit() or pid_alive(int(pid))


def due_jobs(*, now: datetime | None = None) -> list[int]:
    """Jobs waiting for a worker: new, retry wait over, or lost in a broker outage."""
    now = now or timezone.now()
    resend_after = now - timedelta(seconds=settings.SYNC_REENQUEUE_AFTER_SECONDS)
    return list(
        SyncJob.objects.filter(status__in=[Status.PENDING, Status.INCOMPLETE])
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=resend_after))
        .order_by("created_at")
        .values_list("pk", flat=True)[:500]
    )
