"""Connections from scripts: add, list, execute (with --wait), logs, performance.

`content add --type connection --config file.json` takes::

    {"name": "Faker to warehouse", "source": "<source id or name>",
     "destination": "<destination id or name>", "namespace": "faker",
     "streams": [{"name": "users", "sync_mode": "incremental",
                  "destination_sync_mode": "append_dedup"}]}

Without ``streams`` every stream is selected with the best mode it supports; an
optional ``"queue": "heavy"`` pins its syncs to the hosts whose workers consume it.
"""

from __future__ import annotations

import sys
import time
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils import timezone

from apps.connections import selectors, services
from apps.connections.catalog import default_choice
from apps.connections.models import Connection, SyncAttempt, SyncJob
from apps.connectors.content_cli import content_type, read_json_file
from apps.connectors.models import Destination, Source
from apps.connectors.services import source_discover_run
from apps.core.clikit import CliResult, arg, group, table
from apps.core.roles import Role
from apps.workspaces.cli import AS_USER, WORKSPACE, cli_membership

content = group("content", "Sources, destinations and connections from scripts.")
logs = group("logs", "Read a sync job's log.")
pipeline = group("pipeline", "How connections perform over time.")


def _row(connection: Connection) -> dict[str, Any]:
    last = getattr(connection, "last_job", None)
    return {
        "id": str(connection.public_id),
        "name": connection.name,
        "status": connection.status,
        "source": connection.source.name,
        "destination": connection.destination.name,
        "last_sync": last.status if last else "",
    }


@content_type("list", "connection")
@content_type("list", "connections")
def connection_rows(options: dict[str, Any]) -> CliResult:
    """`content list --type connections`."""
    membership = cli_membership(options, Role.VIEWER)
    connections = selectors.with_last_jobs(
        selectors.connection_list(workspace=membership.workspace)
    )
    rows = [_row(c) for c in connections]
    return CliResult(
        data=rows,
        text=table(
            rows, ["name", "status", "source", "destination", "last_sync", "id"]
        ),
    )


def _named(model, workspace, wanted: str, what: str):
    rows = model.objects.for_workspace(workspace)
    try:
        found = rows.filter(public_id=UUID(str(wanted))).first()
    except ValueError:
        found = rows.filter(name__iexact=str(wanted)).first()
    if found is None:
        raise CommandError(f"No {what} {wanted!r} in {workspace}.")
    return found


@content_type("add", "connection")
def connection_add(options: dict[str, Any]) -> CliResult:
    """`content add --type connection --config FILE`."""
    membership = cli_membership(options, Role.EDITOR)
    workspace = membership.workspace
    document = read_json_file(options["config"])
    if not isinstance(document, dict):
        raise CommandError("The file needs a JSON object with source and destination.")
    source = _named(Source, workspace, document.get("source", ""), "source")
    destination = _named(
        Destination, workspace, document.get("destination", ""), "destination"
    )
    if source.catalog is None:
        # A script adds a source and then its connection: the streams it names
        # are found now, as "Refresh schema" would (on the engine, here).
        if source_discover_run(pk=source.pk) is None:
            source.refresh_from_db()
            raise CommandError(
                f"Could not find the streams of {source.name}: "
                f"{source.discover_message}"
            )
        source.refresh_from_db()
    streams = document.get("streams")
    if streams is None:
        streams = [
            vars(default_choice(s)) for s in (source.catalog or {}).get("streams", [])
        ]
    try:
        connection = services.connection_create(
            actor=membership.user,
            workspace=workspace,
            name=str(document.get("name") or f"{source.name} → {destination.name}"),
            source=source,
            destination=destination,
            streams=streams,
            namespace=str(document.get("namespace") or "public"),
            table_prefix=str(document.get("table_prefix") or ""),
            queue=str(document.get("queue") or ""),
        )
    except ValidationError as exc:
        raise CommandError("\n".join(exc.messages)) from None
    return CliResult(
        data=_row(connection),
        text=f"Created connection {connection.name} ({connection.public_id}).",
    )


def _job_row(job: SyncJob) -> dict[str, Any]:
    return {
        "job": str(job.public_id),
        # The id the JSON API knows the job by (GET /api/public/v1/jobs/{id}).
        "api_id": job.pk,
        "status": job.status,
        "trigger": job.trigger,
        "attempts": job.attempt_count,
        "records": job.records_committed,
        "bytes": job.bytes_committed,
        "duration_s": round(job.duration_seconds or 0, 1),
        "failure": job.failure_message,
    }


@content.action(
    "execute",
    "Sync a connection now; with --wait, follow it and exit non-zero if it fails.",
    arg("--connection-id", required=True, dest="connection_id"),
    arg("--wait", action="store_true", help="Follow progress until the job ends."),
    arg("--timeout", type=float, default=0, help="With --wait: give up after N s."),
    WORKSPACE,
    AS_USER,
)
def content_execute(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.RUNNER)
    connection = _named(
        Connection, membership.workspace, options["connection_id"], "connection"
    )
    try:
        job = services.sync_request(
            connection=connection, trigger=SyncJob.Trigger.API, actor=membership.user
        )
    except services.SyncAlreadyRunning as exc:
        raise CommandError(
            f"A sync of {connection.name} is already running (job {exc.job.public_id})."
        ) from None
    except services.ConnectionNotActive as exc:
        raise CommandError(str(exc)) from None
    if not options.get("wait"):
        return CliResult(
            data=_job_row(job),
            text=f"Queued job {job.public_id} for {connection.name}.",
        )
    job = _follow(job, quiet=bool(options.get("json")), timeout=options.get("timeout"))
    ok = job.status == SyncJob.Status.SUCCEEDED
    text = (
        f"Job {job.public_id} {job.status}: {job.records_committed:,} records, "
        f"{job.bytes_committed / 1e6:.1f} MB in {job.duration_seconds or 0:.1f} s."
    )
    if not ok and job.failure_message:
        origin = job.get_failure_origin_display()
        text += f"\n{origin} {job.failure_type}: {job.failure_message}"
    return CliResult(data=_job_row(job), text=text, exit_code=0 if ok else 1)


def _follow(job: SyncJob, *, quiet: bool, timeout: float | None) -> SyncJob:
    """Poll the job row until it ends, printing a progress line every few seconds."""
    started = time.monotonic()
    last_line = ""
    while True:
        job.refresh_from_db()
        if job.status in SyncJob.TERMINAL_STATUSES:
            return job
        attempt = job.attempts.order_by("-number").first()
        if attempt is not None and not quiet:
            elapsed = (timezone.now() - attempt.started_at).total_seconds() or 1
            line = (
                f"{job.status}: attempt {attempt.number}, "
                f"{attempt.records_emitted:,} read, "
                f"{attempt.records_committed:,} committed "
                f"({attempt.records_emitted / elapsed:,.0f} records/s)"
            )
            if line != last_line:
                sys.stderr.write(line + "\n")
                last_line = line
        if timeout and time.monotonic() - started > timeout:
            raise CommandError(
                f"Job {job.public_id} still {job.status} after {timeout:g} s."
            )
        time.sleep(2)


@logs.action(
    "show",
    "Print a job's log (all attempts); --follow keeps printing while it runs.",
    arg("--job", required=True, dest="job"),
    arg("--follow", action="store_true"),
    WORKSPACE,
    AS_USER,
    default=True,
)
def logs_show(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.VIEWER)
    try:
        job = SyncJob.objects.select_related("connection").get(
            public_id=UUID(options["job"]), connection__workspace=membership.workspace
        )
    except (ValueError, SyncJob.DoesNotExist):
        raise CommandError(f"No job {options['job']} in this workspace.") from None
    printed: dict[int, int] = {}
    while True:
        for attempt in SyncAttempt.objects.filter(job=job).order_by("number"):
            already = printed.get(attempt.pk, 0)
            if already == 0:
                sys.stdout.write(f"--- attempt {attempt.number} ({attempt.status})\n")
            text = attempt.log[already:]
            if text:
                sys.stdout.write(text + ("\n" if not text.endswith("\n") else ""))
            printed[attempt.pk] = len(attempt.log)
        job.refresh_from_db()
        if not options.get("follow") or job.status in SyncJob.TERMINAL_STATUSES:
            break
        time.sleep(2)
    return CliResult(data=_job_row(job), text="")


@pipeline.action(
    "performance",
    "Per job: records/s, MB/s, duration, and the trend.",
    arg("--connection-id", required=True, dest="connection_id"),
    arg("--limit", type=int, default=20),
    WORKSPACE,
    AS_USER,
)
def pipeline_performance(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.VIEWER)
    connection = _named(
        Connection, membership.workspace, options["connection_id"], "connection"
    )
    jobs = list(
        connection.jobs.filter(status=SyncJob.Status.SUCCEEDED)
        .exclude(started_at=None)
        .order_by("-created_at")[: options["limit"]]
    )
    rows = []
    for job in reversed(jobs):
        seconds = job.duration_seconds or 0
        rows.append(
            {
                "job": str(job.public_id),
                "finished": f"{job.finished_at:%Y-%m-%d %H:%M}"
                if job.finished_at
                else "",
                "records": job.records_committed,
                "seconds": round(seconds, 1),
                "records_per_s": round(job.records_committed / seconds)
                if seconds
                else 0,
                "mb_per_s": round(job.bytes_committed / 1e6 / seconds, 2)
                if seconds
                else 0,
            }
        )
    trend = _trend([r["records_per_s"] for r in rows])
    text = table(
        rows, ["finished", "records", "seconds", "records_per_s", "mb_per_s", "job"]
    )
    text += f"\ntrend: {trend}"
    return CliResult(data={"jobs": rows, "trend": trend}, text=text)


def _trend(rates: list[float]) -> str:
    """Faster, slower or steady: the newer half of the jobs against the older half."""
    if len(rates) < 4:
        return "not enough jobs yet"
    half = len(rates) // 2
    old = sum(rates[:half]) / half
    new = sum(rates[half:]) / (len(rates) - half)
    if not old:
        return "steady"
    change = (new - old) / old
    if change > 0.1:
        return f"faster ({change:+.0%})"
    if change < -0.1:
        return f"slower ({change:+.0%})"
    return f"steady ({change:+.0%})"


# `pipeline resources|optimize|batch` live in pipeline_cli.py (registered on import).
import apps.connections.pipeline_cli  # noqa: E402, F401

# `pipeline quality` lives in its own module; importing it registers the action.
from apps.connections import quality_cli  # noqa: E402, F401
