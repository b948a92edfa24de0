"""Syncs on an Airbyte server: start the job there, then follow it with short polls.

The console's ``SyncJob`` row stays the truth for the console; ``remote_id`` ties it
to the server's job. The flow:

1. ``job_start`` (the sync task) moves the row from pending to running, makes sure
   the connection exists on the server, and ``POST /jobs``. A ``409
   try-again-later`` means a job is already running for the connection (a task
   redelivered after its POST, or a sync started in Airbyte's own UI): that job is
   adopted, never a second one started. It then schedules the first poll.
2. ``job_poll`` (a short task with a countdown) reads the job (``GET /jobs/{id}``)
   and its attempts (Config API), mirrors status, counts, attempts and failure
   reasons onto the rows, and schedules the next poll until the job ends. A cancel
   asked for in the console is sent from here (``DELETE /jobs/{id}``). At the end
   it copies the attempts' logs and finishes the job, which fires the same signals
   (webhooks, notifications) as the embedded engine.
3. The reaper re-polls jobs nobody asked about for a while (a lost task) and
   restarts a start that died before the server's job id was saved.

Airbyte retries failed attempts itself, so the console's retry policy does not
apply; its attempts are mirrored as they are. A status word the console does not
know is kept in ``remote_status`` and shown as it is, and the job keeps polling.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.airbyte.client import (
    AirbyteApiError,
    AirbyteClient,
    AirbyteError,
    AirbyteTransientError,
)
from apps.airbyte.mapping import (
    TERMINAL_JOB_STATUSES,
    failure_origin,
    failure_type,
)
from apps.airbyte.mirror import connection_push, mark_clear, mark_record, server_for
from apps.airbyte.shapes import RemoteAttempt, RemoteJob
from apps.connections import lifecycle
from apps.connections.models import SyncAttempt, SyncJob
from apps.engines.base import EngineError
from apps.engines.masking import SecretMasker

logger = logging.getLogger(__name__)

Status = SyncJob.Status
# Waits before a start that could not reach the server is tried again.
START_RETRY_SECONDS = 60
# How long a job the server says it does not know is still polled before it fails.
UNKNOWN_JOB_SECONDS = 300


def schedule_poll(job_id: int, *, countdown: float | None = None) -> None:
    from apps.airbyte.tasks import airbyte_job_poll_task
    from apps.connections.tasks import sync_queue

    wait = settings.AIRBYTE_POLL_SECONDS if countdown is None else countdown
    try:
        airbyte_job_poll_task.apply_async(
            args=[job_id], countdown=wait, queue=sync_queue(job_id), retry=False
        )
    except Exception:  # broker down: the reaper polls jobs nobody polled
        logger.warning("Could not schedule a poll of job %s", job_id, exc_info=True)


def job_start(*, job_id: int, recover: bool = False) -> SyncJob | None:
    """Start the job on the server (or adopt the one running there); safe twice."""
    allowed = [Status.PENDING, Status.RUNNING] if recover else [Status.PENDING]
    with transaction.atomic():
        job = (
            SyncJob.objects.select_for_update()
            .select_related("connection__workspace")
            .filter(pk=job_id)
            .first()
        )
        if job is None:
            return None
        if job.remote_id:
            # Already on the server: a redelivered task only makes sure it is followed.
            if job.is_active:
                transaction.on_commit(lambda: schedule_poll(job_id, countdown=0))
            return job
        if job.status not in allowed or (
            job.next_attempt_at and job.next_attempt_at > timezone.now()
        ):
            return None
        now = timezone.now()
        first_start = job.started_at is None
        job.status = Status.RUNNING
        job.started_at = job.started_at or now
        job.next_attempt_at = None
        job.remote_polled_at = now
        job.save()
        if first_start:
            transaction.on_commit(lambda: lifecycle.job_started(job_id))
    connection = job.connection
    is_reset = job.trigger == SyncJob.Trigger.RESET
    try:
        remote_connection = connection_push(connection, for_sync=True)
        with AirbyteClient.for_server(server_for(connection.workspace)) as client:
            if is_reset:
                remote = _post_clear(client, remote_connection, job.reset_streams)
            else:
                remote = _post_or_adopt(client, remote_connection)
    except AirbyteTransientError as exc:
        _start_later(job, exc.message)
        return job
    except _OtherJobRunning as exc:
        _start_later(job, exc.message)
        return job
    except AirbyteApiError as exc:
        if is_reset and exc.status == 409:
            _finish(
                job_id,
                status=Status.FAILED,
                remote_status="",
                failure=(
                    SyncJob.FailureType.CONFIG_ERROR,
                    SyncJob.FailureOrigin.AIRBYTE,
                    "A sync is running on the Airbyte server for this connection; "
                    "cancel it or wait for it to end, then reset again. Nothing "
                    "was emptied.",
                ),
            )
            return SyncJob.objects.get(pk=job_id)
        return _start_failed(job_id, exc, is_reset=is_reset)
    except (AirbyteError, EngineError) as exc:
        return _start_failed(job_id, exc, is_reset=is_reset)
    SyncJob.objects.filter(pk=job_id, remote_id="").update(
        remote_id=remote.id,
        remote_status=remote.status,
        remote_polled_at=timezone.now(),
    )
    schedule_poll(job_id)
    return SyncJob.objects.get(pk=job_id)


def _start_failed(
    job_id: int, exc: AirbyteError | EngineError, *, is_reset: bool
) -> SyncJob:
    """The server refused the start for good: the job fails with its reason."""
    what = "reset" if is_reset else "sync"
    _finish(
        job_id,
        status=Status.FAILED,
        remote_status="",
        failure=(
            SyncJob.FailureType.CONFIG_ERROR
            if isinstance(exc, AirbyteApiError)
            else SyncJob.FailureType.SYSTEM_ERROR,
            SyncJob.FailureOrigin.AIRBYTE,
            f"The Airbyte server did not start the {what}. {exc.message}",
        ),
    )
    return SyncJob.objects.get(pk=job_id)


class _OtherJobRunning(Exception):
    """The server runs another kind of job (a reset, clear or refresh) for the
    connection: the sync waits for it instead of adopting it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _post_clear(
    client: AirbyteClient, remote_connection: str, streams: list[dict[str, Any]]
) -> RemoteJob:
    """Empty only the chosen streams (``connections/clear/stream``).

    Never ``POST /jobs {jobType: clear}``: that clears every stream of the
    connection, deleting data the user kept, and cancels a running sync.
    """
    chosen = [
        (str(s.get("name") or ""), str(s.get("namespace") or ""))
        for s in streams
        if isinstance(s, dict) and s.get("name")
    ]
    if not chosen:
        raise EngineError("This reset names no stream to empty.")
    return client.connection_clear_streams(remote_connection, chosen)


def _post_or_adopt(client: AirbyteClient, remote_connection: str) -> RemoteJob:
    try:
        return client.job_create(remote_connection, "sync")
    except AirbyteApiError as exc:
        if exc.status == 409 and exc.title == "state-conflict":
            # "Could not fulfill request": the server starts no job on an
            # inactive connection.
            raise AirbyteApiError(
                "The connection is disabled on the Airbyte server, so it started "
                "no sync: enable the connection (in the console, or in Airbyte "
                "if Airbyte disabled it) and run it again.",
                status=exc.status,
                title=exc.title,
                detail=exc.detail,
            ) from None
        if not exc.try_again_later:
            raise
    # A job is already running for this connection on the server. Follow it only
    # if it is a sync: unfiltered, the server lists resets (clears) too, and
    # adopting one would report the clear as this sync (0 rows, "succeeded").
    for status in ("running", "pending", "incomplete"):
        found = client.job_latest(remote_connection, status, job_type="sync")
        if found is not None:
            return found
    raise _OtherJobRunning(
        "A reset, clear or refresh is running on the Airbyte server for this "
        "connection; the sync starts after it ends."
    )


def _start_later(job: SyncJob, message: str) -> None:
    """The server could not be reached: back to pending, the reaper tries again."""
    SyncJob.objects.filter(pk=job.pk, remote_id="", status=Status.RUNNING).update(
        status=Status.PENDING,
        next_attempt_at=timezone.now() + timedelta(seconds=START_RETRY_SECONDS),
        enqueued_at=None,
        failure_message=f"{message} The console tries again in a minute.",
    )


def job_poll(*, job_id: int) -> SyncJob | None:
    """Mirror the server's job onto the rows; schedule the next poll until it ends."""
    job = (
        SyncJob.objects.select_related("connection__workspace")
        .filter(pk=job_id)
        .first()
    )
    if job is None or not job.remote_id or job.status in SyncJob.TERMINAL_STATUSES:
        return job
    try:
        server = server_for(job.connection.workspace)
        with AirbyteClient.for_server(server) as client:
            if job.status == Status.CANCELLING:
                _send_cancel_once(client, job)
            remote = client.job_get(job.remote_id)
            attempts = client.job_attempts(job.remote_id)
            remote_status = remote.status
            logged = None
            if remote_status in TERMINAL_JOB_STATUSES:
                logged = _fetch_logs(client, job.remote_id, attempts)
    except AirbyteTransientError as exc:
        logger.warning("Polling job %s failed (%s); trying again", job_id, exc.message)
        SyncJob.objects.filter(pk=job_id).update(remote_polled_at=timezone.now())
        schedule_poll(job_id)
        return job
    except AirbyteApiError as exc:
        if _server_forgot(exc):
            return _unknown_job(job, exc)
        if exc.not_found:
            _finish(
                job_id,
                status=Status.FAILED,
                remote_status="",
                failure=(
                    SyncJob.FailureType.SYSTEM_ERROR,
                    SyncJob.FailureOrigin.AIRBYTE,
                    f"The Airbyte server no longer knows job {job.remote_id}.",
                ),
            )
            return SyncJob.objects.get(pk=job_id)
        return _cannot_follow(job_id, exc.message)
    except EngineError as exc:  # the workspace's server settings are gone
        return _cannot_follow(job_id, exc.message)
    mark_clear(kind="job", pk=job_id)
    _mirror_attempts(job, attempts, logged)
    rows = remote.rows_synced
    size = remote.bytes_synced
    if remote_status in TERMINAL_JOB_STATUSES:
        _finish(
            job_id,
            status=remote_status,
            remote_status=remote_status,
            records=rows,
            size=size,
            failure=_last_failure(attempts) if remote_status == "failed" else None,
        )
        return SyncJob.objects.get(pk=job_id)
    SyncJob.objects.filter(pk=job_id).update(
        remote_status=remote_status,
        remote_polled_at=timezone.now(),
        records_committed=rows,
        bytes_committed=size,
        failure_message="",
    )
    schedule_poll(job_id)
    return SyncJob.objects.get(pk=job_id)


def _server_forgot(exc: AirbyteApiError) -> bool:
    """How the server says it does not know a job: never 404, but a 409
    ``state-conflict`` ("Could not fulfill request"). A 403 stays "cannot follow
    right now" (a missing role is fixed on the server, and the job is still there)."""
    return exc.status == 409 and exc.title == "state-conflict"


def _unknown_job(job: SyncJob, exc: AirbyteApiError) -> SyncJob:
    """Keep polling a job the server says it does not know, for a bounded time
    (``UNKNOWN_JOB_SECONDS`` from the first such answer), then fail it."""
    from apps.airbyte.models import RemoteMark

    mark = mark_record(
        obj=job.connection,
        kind="job",
        state=RemoteMark.State.UNKNOWN,
        reason=exc.message,
        remote_id=job.remote_id,
        object_id=job.pk,
    )
    waited = (timezone.now() - mark.noticed_at).total_seconds()
    if waited >= UNKNOWN_JOB_SECONDS:
        _finish(
            job.pk,
            status=Status.FAILED,
            remote_status="",
            failure=(
                SyncJob.FailureType.SYSTEM_ERROR,
                SyncJob.FailureOrigin.AIRBYTE,
                f"The Airbyte server no longer knows job {job.remote_id}: it "
                f"answered “{exc.message}” for {int(waited)} s, so the console "
                "stopped following it. Look for the sync in Airbyte's UI; start "
                "it again if it did not run.",
            ),
        )
        mark_clear(kind="job", pk=job.pk)
        return SyncJob.objects.get(pk=job.pk)
    SyncJob.objects.filter(pk=job.pk).update(
        remote_polled_at=timezone.now(),
        failure_message=f"The Airbyte server does not know this job right now "
        f"({exc.message}). The console gives up after {UNKNOWN_JOB_SECONDS} s.",
    )
    schedule_poll(job.pk)
    return SyncJob.objects.get(pk=job.pk)


def _cannot_follow(job_id: int, message: str) -> SyncJob:
    """The server refuses to say (bad credentials, say): tell the user, and let the
    reaper try again later instead of asking every few seconds."""
    logger.warning("Cannot follow job %s: %s", job_id, message)
    SyncJob.objects.filter(pk=job_id).update(
        remote_polled_at=timezone.now(),
        failure_message=f"The console cannot follow this job on the Airbyte server "
        f"right now: {message} It tries again every "
        f"{settings.AIRBYTE_POLL_LOST_SECONDS} s.",
    )
    return SyncJob.objects.get(pk=job_id)


CANCEL_SENT = "job.airbyte_cancel_sent"


def _send_cancel_once(client: AirbyteClient, job: SyncJob) -> None:
    """Send the cancel once, not on every poll, and record that it was sent.

    ``DELETE /jobs/{id}`` cancels whatever runs on the job's connection (the
    server looks the connection up), so a repeat after the job ended could stop a
    sync started since; and the server stops the job's pods before it answers, so
    the call has the long timeout. The audit event is the record (and the
    history's line); a cancel that failed is not recorded and is sent again.
    """
    from apps.audit.models import AuditEvent
    from apps.audit.services import audit_record

    target_id = str(getattr(job, "public_id", None) or job.pk)
    sent = AuditEvent.objects.filter(
        action=CANCEL_SENT,
        target_type=job._meta.label_lower,
        target_id=target_id,
    ).exists()
    if sent:
        return
    try:
        client.job_cancel(job.remote_id)
    except AirbyteApiError as exc:
        if exc.status != 409:  # 409 state-conflict: it already ended
            raise
    audit_record(
        actor=None,
        actor_label="worker",
        action=CANCEL_SENT,
        workspace=job.connection.workspace,
        target=job,
        changes={"remote_job": [None, job.remote_id]},
    )


def _fetch_logs(
    client: AirbyteClient, remote_id: str, attempts: tuple[RemoteAttempt, ...]
) -> dict[int, tuple[str, ...]]:
    """Each attempt's log by the console's attempt number, one call per attempt
    (``attempt/get_for_job``). A log the server cannot give is a line saying so:
    the logs never keep an ended job from ending in the console."""
    logs: dict[int, tuple[str, ...]] = {}
    for number, attempt in enumerate(attempts, start=1):
        try:
            logs[number] = client.attempt_logs(remote_id, attempt.id).log_lines
        except AirbyteError as exc:
            logger.warning(
                "Could not fetch the log of job %s attempt %s: %s",
                remote_id,
                attempt.id,
                exc.message,
            )
            logs[number] = (
                "The console could not fetch this attempt's logs from the Airbyte "
                f"server: {exc.message}",
            )
    return logs


def _count(*values: int | None) -> int | None:
    """The first count the server did say, or None when it said none."""
    return next((value for value in values if value is not None), None)


def _mirror_attempts(
    job: SyncJob,
    attempts: tuple[RemoteAttempt, ...],
    logged: dict[int, tuple[str, ...]] | None,
) -> None:
    """Create or update one SyncAttempt per attempt the server reports; ``logged``
    (each attempt's log lines by number, once the job has ended) fills their logs.
    A count the server leaves out (``totalStats`` is absent while an attempt runs
    and may lack ``bytesCommitted``) keeps what the row had, never becomes 0."""
    logs_by_number = logged or {}
    now = timezone.now()
    for number, attempt in enumerate(attempts, start=1):
        status = attempt.status or "running"
        first = attempt.failure
        values: dict[str, Any] = {
            "status": status
            if status in SyncAttempt.Status.values
            else SyncAttempt.Status.RUNNING,
            "worker": "airbyte",
            "heartbeat_at": now,
            "finished_at": attempt.ended_at,
            "failure_type": failure_type(first.failure_type) if first else "",
            "failure_origin": failure_origin(first.failure_origin) if first else "",
            "failure_message": (first.external_message if first else "")[:10_000],
        }
        counts = {
            "records_emitted": attempt.records_emitted,
            "records_committed": _count(
                attempt.records_committed, attempt.records_synced
            ),
            "bytes_committed": _count(attempt.bytes_committed, attempt.bytes_synced),
        }
        values.update({k: v for k, v in counts.items() if v is not None})
        if number in logs_by_number:
            text = "\n".join(logs_by_number[number])
            values["log"] = _masker(job).mask(text)[-settings.SYNC_LOG_MAX_BYTES :]
        SyncAttempt.objects.update_or_create(job=job, number=number, defaults=values)
    if attempts:
        SyncJob.objects.filter(pk=job.pk).update(attempt_count=len(attempts))


def _masker(job: SyncJob) -> SecretMasker:
    """Airbyte masks secrets in its logs; the console masks what it knows as well."""
    from apps.connectors.selectors import connector_secrets

    connection = job.connection
    return SecretMasker(
        str(value)
        for obj in (connection.source, connection.destination)
        for value in connector_secrets(obj).values()
        if isinstance(value, str | int)
    )


def _last_failure(attempts: tuple[RemoteAttempt, ...]) -> tuple[str, str, str]:
    for attempt in reversed(attempts):
        first = attempt.failure
        if first is not None:
            return (
                failure_type(first.failure_type),
                failure_origin(first.failure_origin),
                first.external_message or "The sync failed on Airbyte.",
            )
    return (
        SyncJob.FailureType.SYSTEM_ERROR,
        SyncJob.FailureOrigin.AIRBYTE,
        "The sync failed on the Airbyte server; it gave no reason.",
    )


@transaction.atomic
def _finish(
    job_id: int,
    *,
    status: str,
    remote_status: str,
    records: int | None = None,
    size: int | None = None,
    failure: tuple[str, str, str] | None = None,
) -> None:
    """End the job the way the server ended it; fires the job-ended signal once."""
    job = (
        SyncJob.objects.select_for_update()
        .select_related("connection__workspace")
        .get(pk=job_id)
    )
    if job.status in SyncJob.TERMINAL_STATUSES:
        return
    now = timezone.now()
    job.remote_status = remote_status or job.remote_status
    job.remote_polled_at = now
    if records is not None:
        job.records_committed = records
    if size is not None:
        job.bytes_committed = size
    lifecycle.job_finish(
        job=job,
        status=status,
        failure=failure,
        now=now,
        changes={"airbyte_job": [None, job.remote_id]},
    )
    # Attempts the server never closed (a start that failed) end with the job.
    job.attempts.filter(status=SyncAttempt.Status.RUNNING).update(
        status=SyncAttempt.Status.FAILED
        if status == Status.FAILED
        else SyncAttempt.Status.CANCELLED
        if status == Status.CANCELLED
        else SyncAttempt.Status.SUCCEEDED,
        finished_at=now,
    )


def lost_jobs(*, now: datetime | None = None) -> tuple[list[int], list[int]]:
    """(jobs to poll, starts to recover): airbyte jobs nobody looked at for a while."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.AIRBYTE_POLL_LOST_SECONDS)
    stale = SyncJob.objects.filter(
        connection__workspace__engine="airbyte",
        status__in=[Status.RUNNING, Status.CANCELLING],
        remote_polled_at__lt=cutoff,
    )
    to_poll = list(stale.exclude(remote_id="").values_list("pk", flat=True)[:500])
    to_start = list(stale.filter(remote_id="").values_list("pk", flat=True)[:500])
    return to_poll, to_start
