"""`airbyte pipeline resources|optimize|batch`: what syncs cost, what to change,
and many syncs at once.

- ``resources``: per worker, the CPU and memory it uses now (each worker reports
  every few seconds, see ``apps/engines/worker_status.py``); per connection, the
  engine's and the connector's peak memory and CPU seconds of recent attempts.
- ``optimize --connection-id ID``: recommendations with their evidence
  (``optimize.py``).
- ``batch --file FILE [--parallel N] [--wait]``: sync the listed connections, at
  most N at a time, and print a summary. FILE holds connection ids or names, one
  per line (blank lines and lines starting with ``#`` are skipped), or a JSON
  list of them. Every name is checked before anything starts. Without
  ``--wait`` the command returns once the last connection has started (the
  last N may still be running); with it, once every job has ended. It exits
  non-zero if any job failed or was cancelled.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from django.core.management.base import CommandError
from django.utils import timezone

from apps.connections import optimize, services
from apps.connections.models import Connection, SyncJob
from apps.core.clikit import CliResult, arg, group, table
from apps.core.roles import Role
from apps.engines.worker_status import worker_state, worker_status_list
from apps.workspaces.cli import AS_USER, WORKSPACE, cli_membership

pipeline = group("pipeline", "How connections perform over time.")

MB = 1024 * 1024
# How often `batch` looks at its jobs' rows.
BATCH_POLL_SECONDS = 1.0


def _connection(workspace: Any, wanted: str) -> Connection | None:
    rows = Connection.objects.for_workspace(workspace).select_related(
        "source__definition", "destination__definition"
    )
    try:
        return rows.filter(public_id=UUID(str(wanted))).first()
    except ValueError:
        return rows.filter(name__iexact=str(wanted)).first()


def _one_connection(workspace: Any, wanted: str) -> Connection:
    found = _connection(workspace, wanted)
    if found is None:
        raise CommandError(f"No connection {wanted!r} in {workspace}.")
    return found


def _mb(value: int | None) -> str | float:
    return "" if value is None else round(value / MB, 1)


def _seconds(value: float | None) -> str | float:
    return "" if value is None else round(value, 2)


# -- resources ------------------------------------------------------------------------


def _worker_rows() -> list[dict[str, Any]]:
    now = timezone.now()
    rows = []
    for status in worker_status_list(include_stopped=False):
        rows.append(
            {
                "worker": status.name,
                "state": worker_state(status, now),
                "cpu_percent": status.cpu_percent,
                "memory_mb": _mb(status.rss_bytes),
                "processes": status.processes,
                "queues": status.queues,
                "host_cpus": status.host_cpus,
                "host_load_1m": status.host_load_1m,
                "host_memory_available_mb": _mb(status.host_memory_available_bytes),
                "host_memory_mb": _mb(status.host_memory_bytes),
                "reported_s_ago": round((now - status.reported_at).total_seconds()),
                "reported_at": status.reported_at.isoformat(),
            }
        )
    return rows


def _connection_resource_rows(
    summaries: list[optimize.ConnectionResources],
) -> list[dict[str, Any]]:
    return [
        {
            "connection": s.connection.name,
            "id": str(s.connection.public_id),
            "attempts": s.attempts,
            "measured": s.measured,
            "engine_peak_mb": _mb(s.engine_peak_rss_bytes),
            "engine_cpu_s": _seconds(s.engine_cpu_seconds),
            "connector_peak_mb": _mb(s.connector_peak_rss_bytes),
            "connector_cpu_s": _seconds(s.connector_cpu_seconds),
        }
        for s in summaries
    ]


def _attempt_rows(connection: Connection, limit: int) -> list[dict[str, Any]]:
    rows = []
    for attempt in optimize.attempt_resources(connection=connection, limit=limit):
        rows.append(
            {
                "job": str(attempt.job.public_id),
                "attempt": attempt.number,
                "status": attempt.status,
                "started": timezone.localtime(attempt.started_at).strftime(
                    "%Y-%m-%d %H:%M %Z"
                ),
                "records": attempt.records_committed,
                "engine_peak_mb": _mb(attempt.engine_peak_rss_bytes),
                "engine_cpu_s": _seconds(attempt.engine_cpu_seconds),
                "connector_peak_mb": _mb(attempt.connector_peak_rss_bytes),
                "connector_cpu_s": _seconds(attempt.connector_cpu_seconds),
            }
        )
    return rows


@pipeline.action(
    "resources",
    "CPU and memory per worker now; per connection, what recent attempts used.",
    arg("--connection-id", dest="connection_id", help="Only this connection."),
    arg(
        "--limit",
        type=int,
        default=optimize.RESOURCE_ATTEMPTS,
        help="Recent attempts per connection (default %(default)s).",
    ),
    WORKSPACE,
    AS_USER,
)
def pipeline_resources(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.VIEWER)
    workspace = membership.workspace
    limit = options["limit"]
    if limit < 1:
        raise CommandError("--limit must be at least 1.")
    workers = _worker_rows()
    if options.get("connection_id"):
        connection = _one_connection(workspace, options["connection_id"])
        connections = Connection.objects.filter(pk=connection.pk)
    else:
        connection = None
        connections = Connection.objects.for_workspace(workspace).order_by("name")
    summaries = optimize.connection_resources(connections=connections, limit=limit)
    data: dict[str, Any] = {
        "workers": workers,
        "connections": _connection_resource_rows(summaries),
    }
    text = "Workers (CPU: share of one core over the last report)\n"
    text += (
        table(
            workers,
            [
                "worker",
                "state",
                "cpu_percent",
                "memory_mb",
                "processes",
                "host_load_1m",
                "host_memory_available_mb",
                "reported_s_ago",
            ],
        )
        if workers
        else "(no worker has reported: is one running? `airbyte manage start`)"
    )
    text += (
        f"\n\nConnections (last {limit} attempts: peak memory is the largest, "
        "CPU the mean per attempt)\n"
    )
    text += table(
        data["connections"],
        [
            "connection",
            "attempts",
            "measured",
            "engine_peak_mb",
            "engine_cpu_s",
            "connector_peak_mb",
            "connector_cpu_s",
        ],
    )
    if connection is not None:
        data["attempts"] = _attempt_rows(connection, limit)
        text += f"\n\nAttempts of {connection.name}, newest first\n"
        text += table(
            data["attempts"],
            [
                "started",
                "attempt",
                "status",
                "records",
                "engine_peak_mb",
                "engine_cpu_s",
                "connector_peak_mb",
                "connector_cpu_s",
                "job",
            ],
        )
    return CliResult(data=data, text=text)


# -- optimize -------------------------------------------------------------------------


@pipeline.action(
    "optimize",
    "Recommendations for a connection, each with the evidence behind it.",
    arg("--connection-id", required=True, dest="connection_id"),
    arg(
        "--jobs",
        type=int,
        default=optimize.RECENT_JOBS,
        help="How many recent syncs to look at (default %(default)s).",
    ),
    WORKSPACE,
    AS_USER,
)
def pipeline_optimize(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.VIEWER)
    connection = _one_connection(membership.workspace, options["connection_id"])
    if options["jobs"] < 1:
        raise CommandError("--jobs must be at least 1.")
    found = optimize.connection_recommendations(
        connection=connection, jobs=options["jobs"]
    )
    data = {
        "connection": connection.name,
        "id": str(connection.public_id),
        "recommendations": [r.as_dict() for r in found],
    }
    if not found:
        text = (
            f"No recommendations for {connection.name}: its settings and last "
            f"{options['jobs']} syncs show nothing to change."
        )
        return CliResult(data=data, text=text)
    rows = [
        {"n": n, "severity": r.severity, "code": r.code, "title": r.title}
        for n, r in enumerate(found, 1)
    ]
    text = table(rows, ["n", "severity", "code", "title"])
    for n, recommendation in enumerate(found, 1):
        text += (
            f"\n\n{n}. {recommendation.title}\n"
            f"   Evidence: {recommendation.evidence}\n"
            f"   Advice:   {recommendation.advice}"
        )
    return CliResult(data=data, text=text)


# -- batch ----------------------------------------------------------------------------


#: A batch file lists connections; anything this big is the wrong file (or a device
#: that never ends, such as /dev/zero).
BATCH_FILE_MAX_BYTES = 1024 * 1024


def read_batch_file(path: str) -> list[str]:
    """The connection ids or names a batch file lists, in order.

    A JSON list of strings, or one per line (blank lines and ``#`` comments
    skipped). Raises CommandError saying what is wrong with the file.
    """
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(BATCH_FILE_MAX_BYTES + 1)
        if len(raw) > BATCH_FILE_MAX_BYTES:
            raise CommandError(
                f"{path} is larger than {BATCH_FILE_MAX_BYTES // 1024:,} KB: a batch "
                "file lists connection ids or names."
            )
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise CommandError(f"No such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"Cannot read {path}: {exc}") from None
    if text.lstrip().startswith("["):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(
                f"{path} is not valid JSON (line {exc.lineno}): {exc.msg}."
            ) from None
        if not all(isinstance(item, str) and item.strip() for item in document):
            raise CommandError(
                f"{path}: the JSON list must hold connection ids or names "
                "(non-empty strings)."
            )
        names = [item.strip() for item in document]
    else:
        names = [
            line.strip()
            for line in text.splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
    if not names:
        raise CommandError(f"{path} lists no connection.")
    return names


def _batch_connections(workspace: Any, names: list[str]) -> list[Connection]:
    """Every listed connection, or one error naming every problem."""
    found: list[Connection] = []
    problems: list[str] = []
    for name in names:
        connection = _connection(workspace, name)
        if connection is None:
            problems.append(f"no connection {name!r} in {workspace}")
        elif connection in found:
            problems.append(f"{connection.name} is listed twice")
        elif connection.status != Connection.Status.ACTIVE:
            problems.append(
                f"{connection.name} is {connection.get_status_display().lower()}"
            )
        else:
            running = connection.jobs.active().first()
            if running is not None:
                problems.append(
                    f"{connection.name} already has a sync running "
                    f"(job {running.public_id})"
                )
            found.append(connection)
    if problems:
        raise CommandError("Nothing was started: " + "; ".join(problems) + ".")
    return found


NOT_STARTED = "not started"
REFUSED = "refused"


def _batch_row(
    connection: Connection, job: SyncJob | None, refusal: str = ""
) -> dict[str, Any]:
    if job is None:
        return {
            "connection": connection.name,
            "job": "",
            "status": REFUSED if refusal else NOT_STARTED,
            "records": 0,
            "duration_s": "",
            "failure": refusal,
        }
    return {
        "connection": connection.name,
        "job": str(job.public_id),
        "status": job.status,
        "records": job.records_committed,
        "duration_s": round(job.duration_seconds, 1)
        if job.duration_seconds is not None
        else "",
        "failure": job.failure_message[:200],
    }


@pipeline.action(
    "batch",
    "Sync the connections a file lists, at most N at a time; non-zero if any fail.",
    arg("--file", required=True, dest="file", help="Connection ids or names."),
    arg(
        "--parallel",
        type=int,
        default=2,
        help="At most this many running at once (default %(default)s).",
    ),
    arg("--wait", action="store_true", help="Return when every job has ended."),
    arg("--timeout", type=float, default=0, help="Give up after N s (0: never)."),
    WORKSPACE,
    AS_USER,
)
def pipeline_batch(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.RUNNER)
    parallel = options["parallel"]
    if parallel < 1:
        raise CommandError("--parallel must be at least 1.")
    if (options.get("timeout") or 0) < 0:
        raise CommandError("--timeout must be 0 (never give up) or more seconds.")
    connections = _batch_connections(
        membership.workspace, read_batch_file(options["file"])
    )
    quiet = bool(options.get("json"))
    jobs: dict[int, SyncJob] = {}
    # Connections the check passed but that could not start when their turn came
    # (paused or started elsewhere meanwhile): reported, and the batch goes on.
    refused: dict[int, str] = {}
    waiting = list(connections)
    started = time.monotonic()
    timed_out = False
    while True:
        for job in jobs.values():
            if job.status not in SyncJob.TERMINAL_STATUSES:
                before = job.status
                job.refresh_from_db()
                if job.status in SyncJob.TERMINAL_STATUSES and not quiet:
                    sys.stderr.write(
                        f"{job.connection.name}: {job.status} "
                        f"({job.records_committed:,} records)\n"
                    )
                elif job.status != before and not quiet:
                    sys.stderr.write(f"{job.connection.name}: {job.status}\n")
        running = sum(
            1 for j in jobs.values() if j.status not in SyncJob.TERMINAL_STATUSES
        )
        while waiting and running < parallel:
            connection = waiting.pop(0)
            try:
                jobs[connection.pk] = _start(connection, membership.user, quiet)
            except CommandError as exc:
                refused[connection.pk] = str(exc)
                if not quiet:
                    sys.stderr.write(f"{exc}\n")
                continue
            running += 1
        if not waiting and (not options.get("wait") or running == 0):
            break
        if options.get("timeout") and time.monotonic() - started > options["timeout"]:
            timed_out = True
            break
        time.sleep(BATCH_POLL_SECONDS)
    rows = [_batch_row(c, jobs.get(c.pk), refused.get(c.pk, "")) for c in connections]
    failed = [
        r
        for r in rows
        if r["status"] in (SyncJob.Status.FAILED, SyncJob.Status.CANCELLED, REFUSED)
    ]
    not_started = [r for r in rows if r["status"] == NOT_STARTED]
    unfinished = [
        r
        for r in rows
        if r["status"] not in (*SyncJob.TERMINAL_STATUSES, NOT_STARTED, REFUSED)
    ]
    text = table(rows, ["connection", "job", "status", "records", "duration_s"])
    for row in failed:
        if row["failure"]:
            text += f"\n{row['connection']}: {row['failure']}"
    summary = f"{len(rows)} connection{'s' if len(rows) != 1 else ''}: "
    succeeded = len(rows) - len(failed) - len(unfinished) - len(not_started)
    summary += f"{succeeded} succeeded, {len(failed)} failed"
    if unfinished:
        summary += f", {len(unfinished)} still running"
    if not_started:
        summary += f", {len(not_started)} not started"
    if timed_out:
        summary += f" (gave up after {options['timeout']:g} s)"
    text += f"\n{summary}."
    bad = bool(failed) or timed_out or bool(not_started)
    return CliResult(
        data={"jobs": rows, "failed": len(failed), "timed_out": timed_out},
        text=text,
        exit_code=1 if bad else 0,
    )


def _start(connection: Connection, user: Any, quiet: bool) -> SyncJob:
    try:
        job = services.sync_request(
            connection=connection, trigger=SyncJob.Trigger.API, actor=user
        )
    except services.SyncAlreadyRunning as exc:
        # Started by someone else since the check: follow that job instead.
        job = exc.job
        if job is None:
            raise CommandError(
                f"A sync of {connection.name} is already running."
            ) from None
    except services.ConnectionNotActive as exc:
        raise CommandError(f"{connection.name}: {exc}") from None
    job.connection = connection
    if not quiet:
        sys.stderr.write(f"{connection.name}: started job {job.public_id}\n")
    return job
