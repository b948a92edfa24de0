"""What the connection pages show, shaped for their templates.

Live progress with an ETA, the history chart's bar geometry and the stream table
are presentation, not domain logic: they live here so the views only resolve the
member, call one service or selector and render. Nothing here writes.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from apps.connections import selectors
from apps.connections.models import Connection, SyncAttempt, SyncJob
from apps.connections.retry import RetryPolicy


def connection_page(connection: Connection) -> dict[str, Any]:
    """The connection page's data: the running job, the last result, the history."""
    active = selectors.active_job(connection=connection)
    jobs = list(selectors.job_list(connection=connection)[:50])
    return {
        "connection": connection,
        "active_job": active,
        "progress": job_progress(active),
        "last_job": next(
            (j for j in jobs if j.status in SyncJob.TERMINAL_STATUSES), None
        ),
        "recent_jobs": jobs[:10],
        "chart": job_chart(jobs),
        "streams": stream_table(connection, jobs),
    }


def stream_table(connection: Connection, jobs: list[SyncJob]) -> list[dict[str, Any]]:
    """Each stream with its rows in the last successful sync and its saved state."""
    last = next((j for j in jobs if j.status == SyncJob.Status.SUCCEEDED), None)
    stats = (last.stream_stats if last else {}) or {}
    states = {s.stream_name: s for s in connection.states.all()}
    table = []
    for stream in connection.streams.all():
        key = f"{stream.namespace}.{stream.name}" if stream.namespace else stream.name
        table.append(
            {
                "stream": stream,
                "records": (stats.get(key) or {}).get("records_committed"),
                "state": states.get(stream.name),
            }
        )
    return table


def job_progress(job: SyncJob | None) -> dict[str, Any] | None:
    """Live numbers of a running job: records, rate, per-stream status and an ETA."""
    if job is None:
        return None
    attempt = job.attempts.order_by("-number").first()
    if attempt is None:
        return {"job": job, "attempt": None}
    if job.status == SyncJob.Status.INCOMPLETE:
        return {"job": job, "attempt": attempt, "retry": retry_wait(job)}
    elapsed = max(1.0, (timezone.now() - attempt.started_at).total_seconds())
    rate = attempt.records_emitted / elapsed
    streams = []
    estimated = 0
    for name, data in sorted((attempt.progress or {}).items()):
        estimate = data.get("row_estimate")
        emitted = data.get("records_emitted", 0)
        if estimate:
            estimated += max(0, estimate - emitted)
        streams.append(
            {
                "name": name,
                **data,
                "percent": min(100, round(100 * emitted / estimate))
                if estimate
                else None,
            }
        )
    eta = round(estimated / rate) if rate and estimated else None
    return {
        "job": job,
        "attempt": attempt,
        "elapsed": round(elapsed),
        "rate": round(rate),
        "streams": streams,
        "eta": eta,
    }


def job_chart(jobs: list[SyncJob]) -> dict[str, Any] | None:
    """Records and duration of the last 50 finished jobs, as SVG bar geometry."""
    done = [j for j in reversed(jobs) if j.status in SyncJob.TERMINAL_STATUSES]
    if not done:
        return None
    # The scale is at least 1 so nothing divides by zero; the caption says the
    # real numbers (a run of cancelled jobs committed 0 records, not 1).
    most_records = max(j.records_committed for j in done)
    longest = max((j.duration_seconds or 0) for j in done)
    records_scale = most_records or 1
    duration_scale = longest or 1
    width = 12
    bars = []
    for index, job in enumerate(done):
        records_height = round(80 * job.records_committed / records_scale)
        duration_height = round(80 * (job.duration_seconds or 0) / duration_scale)
        bars.append(
            {
                "x": index * width,
                "job": job,
                "records_y": 90 - records_height,
                "records_h": records_height,
                "duration_y": 190 - duration_height,
                "duration_h": duration_height,
            }
        )
    return {
        "bars": bars,
        "width": max(len(done), 50) * width,
        "most_records": most_records,
        "longest": round(longest, 1),
    }


def retry_wait(job: SyncJob) -> dict[str, Any] | None:
    """A job waiting between attempts: why the last one failed, when and which the
    next one is (``2 of 5``: the policy's limit of failures in a row)."""
    if job.status != SyncJob.Status.INCOMPLETE:
        return None
    attempts = sorted(job.attempts.all(), key=lambda a: a.number, reverse=True)
    failed = next((a for a in attempts if a.status == SyncAttempt.Status.FAILED), None)
    # Failures in a row since the last attempt that committed data, as the policy
    # counts them (lifecycle._failures).
    successive = 0
    for attempt in attempts:
        if attempt.status != SyncAttempt.Status.FAILED or attempt.records_committed:
            break
        successive += 1
    policy = RetryPolicy.from_settings()
    most = min(
        job.attempt_count - successive + policy.max_successive_failures,
        policy.max_total_failures,
    )
    return {
        "failed": failed,
        "failed_number": failed.number if failed else job.attempt_count,
        "reason": (failed.failure_message if failed else "") or job.failure_message,
        "next_number": job.attempt_count + 1,
        "most": max(most, job.attempt_count + 1),
        "next_attempt_at": job.next_attempt_at,
        "due": job.next_attempt_at is None or job.next_attempt_at <= timezone.now(),
    }
