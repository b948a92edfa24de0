"""What an event says: the console's JSON envelope and Slack's text plus blocks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, reverse

from apps.connections.models import SyncJob
from apps.webhooks.models import TEST_EVENT, Event, WebhookEndpoint


def console_url(name: str, *args: object) -> str:
    """An absolute link into the console, or "" when the page is not mounted."""
    path = console_path(name, *args)
    return settings.CONSOLE_BASE_URL.rstrip("/") + path if path else ""


def console_path(name: str, *args: object) -> str:
    """A path inside the console, or "" when the page is not mounted."""
    try:
        return reverse(name, args=[str(a) for a in args])
    except NoReverseMatch:
        return ""


def to_path(url: str) -> str:
    """The console path of one of its absolute links."""
    return url.removeprefix(settings.CONSOLE_BASE_URL.rstrip("/"))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def sync_event_for(job: SyncJob) -> str:
    """The event a job's current status announces."""
    return {
        SyncJob.Status.SUCCEEDED: Event.SYNC_SUCCEEDED,
        SyncJob.Status.FAILED: Event.SYNC_FAILED,
        SyncJob.Status.CANCELLED: Event.SYNC_CANCELLED,
    }.get(job.status, Event.SYNC_STARTED)


def sync_data(job: SyncJob) -> dict[str, Any]:
    """A sync's summary, with the fields of Airbyte's own sync notifications."""
    connection = job.connection
    workspace = connection.workspace
    ws = workspace.public_id
    source, destination = connection.source, connection.destination
    duration = job.duration_seconds if job.finished_at else None
    data: dict[str, Any] = {
        "workspace": {
            "id": str(ws),
            "name": workspace.name,
            "url": console_url("workspaces:detail", ws),
        },
        "connection": {
            "id": str(connection.public_id),
            "name": connection.name,
            "url": console_url("connections:detail", ws, connection.public_id),
        },
        "source": {
            "id": str(source.public_id),
            "name": source.name,
            "url": console_url("connectors:source_detail", ws, source.public_id),
        },
        "destination": {
            "id": str(destination.public_id),
            "name": destination.name,
            "url": console_url(
                "connectors:destination_detail", ws, destination.public_id
            ),
        },
        "job": {
            "id": str(job.public_id),
            # The id the JSON API knows the job by (GET /api/public/v1/jobs/{id}).
            "api_id": job.pk,
            "status": job.status,
            "trigger": job.trigger,
            "url": console_url("connections:job", ws, job.public_id),
        },
        "job_id": str(job.public_id),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "duration_seconds": round(duration, 3) if duration is not None else None,
        "records_committed": job.records_committed,
        "bytes_committed": job.bytes_committed,
        "success": job.status == SyncJob.Status.SUCCEEDED,
    }
    if job.status in (SyncJob.Status.FAILED, SyncJob.Status.CANCELLED):
        data["error"] = {
            "message": job.failure_message,
            "type": job.failure_type,
            "origin": job.failure_origin,
        }
    return data


def connection_data(connection: Any, **extra: Any) -> dict[str, Any]:
    """A connection event's payload: the connection, its ends, and ``extra``."""
    ws = connection.workspace.public_id
    return {
        "workspace": {
            "id": str(ws),
            "name": connection.workspace.name,
            "url": console_url("workspaces:detail", ws),
        },
        "connection": {
            "id": str(connection.public_id),
            "name": connection.name,
            "url": console_url("connections:detail", ws, connection.public_id),
        },
        "source": {
            "id": str(connection.source.public_id),
            "name": connection.source.name,
        },
        "destination": {
            "id": str(connection.destination.public_id),
            "name": connection.destination.name,
        },
        **extra,
    }


def transform_event_for(run: Any) -> str:
    """The event a run's end announces: ``transform.succeeded`` or ``failed``."""
    return (
        Event.TRANSFORM_SUCCEEDED
        if run.status == "succeeded"
        else Event.TRANSFORM_FAILED
    )


def transform_data(run: Any) -> dict[str, Any]:
    """A transform run's summary: the project, the run, its nodes, the sync before it.

    ``run`` is a ``transforms.TransformRun`` (an app above this one, so read by its
    attributes); nothing here touches the destination's config.
    """
    project = run.project
    workspace = project.workspace
    ws = workspace.public_id
    destination = project.destination
    duration = run.duration_seconds if run.finished_at else None
    data: dict[str, Any] = {
        "workspace": {
            "id": str(ws),
            "name": workspace.name,
            "url": console_url("workspaces:detail", ws),
        },
        "project": {
            "id": str(project.public_id),
            "name": project.name,
            "url": console_url("transforms:detail", ws, project.public_id),
        },
        "destination": (
            {
                "id": str(destination.public_id),
                "name": destination.name,
                "url": console_url(
                    "connectors:destination_detail", ws, destination.public_id
                ),
            }
            if destination is not None
            else None
        ),
        "run": {
            "id": str(run.public_id),
            "number": run.number,
            "command": run.command,
            "selector": run.selector,
            "trigger": run.trigger,
            "status": run.status,
            "git_commit": run.git_commit or None,
            "url": console_url("transforms:run", ws, run.public_id),
        },
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_seconds": round(duration, 3) if duration is not None else None,
        "nodes": dict(run.stats or {}),
        "success": run.status == "succeeded",
    }
    job = run.sync_job
    if job is not None:
        connection = job.connection
        data["connection"] = {
            "id": str(connection.public_id),
            "name": connection.name,
            "url": console_url("connections:detail", ws, connection.public_id),
        }
        data["sync_job"] = {
            "id": str(job.public_id),
            "url": console_url("connections:job", ws, job.public_id),
        }
    if run.status != "succeeded":
        data["error"] = {
            "message": run.failure_message,
            "type": "transform_error",
            "origin": "dbt",
        }
    return data


def _human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def _link(ref: dict[str, Any] | None) -> str:
    if not ref:
        return "-"
    name = str(ref.get("name", "")).replace("|", "/").replace(">", "")
    return f"<{ref['url']}|{name}>" if ref.get("url") else name


HEADLINES = {
    Event.SYNC_STARTED: "Sync started",
    Event.SYNC_SUCCEEDED: "Sync completed",
    Event.SYNC_FAILED: "Sync failure occurred",
    Event.SYNC_CANCELLED: "Sync cancelled",
    Event.CONNECTION_DISABLED: "Connection disabled",
    Event.SCHEMA_CHANGED: "Schema changed",
    Event.CREDENTIAL_ROTATED: "Credential rotated",
    Event.TRANSFORM_SUCCEEDED: "Transform succeeded",
    Event.TRANSFORM_FAILED: "Transform failed",
    TEST_EVENT: "Test event",
    "webhook.disabled": "Webhook disabled",
}


def slack_body(event: str, data: dict[str, Any]) -> dict[str, Any]:
    """Slack's incoming-webhook shape: a plain ``text`` and the same in ``blocks``."""
    headline = HEADLINES.get(event, event)
    connection = data.get("connection")
    if event == TEST_EVENT:
        text = f"{headline} from Airbyte Console: {data.get('message', '')}"
        return {
            "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        }
    lines = [f"*{headline}*"]
    project = data.get("project")
    run = data.get("run") or {}
    if project:
        selector = f" --select {run['selector']}" if run.get("selector") else ""
        lines.append(
            f"Project {_link(project)} run #{run.get('number')}: "
            f"dbt {run.get('command', '')}{selector}"
        )
    if connection:
        lines.append(
            f"Connection {_link(connection)}: {_link(data.get('source'))} → "
            f"{_link(data.get('destination'))}"
        )
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}
    ]
    if event.startswith("sync.") and event != Event.SYNC_STARTED:
        fields = [
            f"*Duration:*\n{_human_duration(data.get('duration_seconds'))}",
            f"*Records:*\n{data.get('records_committed', 0):,}",
            f"*Bytes:*\n{data.get('bytes_committed', 0):,}",
        ]
        blocks.append(
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": f} for f in fields],
            }
        )
    if event.startswith("transform."):
        nodes = data.get("nodes") or {}
        counts = ", ".join(f"{n} {status}" for status, n in sorted(nodes.items()))
        fields = [
            f"*Duration:*\n{_human_duration(data.get('duration_seconds'))}",
            f"*Nodes:*\n{counts or '-'}",
        ]
        blocks.append(
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": f} for f in fields],
            }
        )
    error = data.get("error")
    if error and error.get("message"):
        origin = error.get("origin") or "unknown"
        kind = error.get("type") or "unknown"
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*Failure reason* ({origin}, {kind}):\n"
                    f"```{error['message'][:2500]}```",
                },
            }
        )
    job = data.get("job")
    button = ("View job", job.get("url")) if job else ("View run", run.get("url"))
    if button[1]:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": button[0]},
                        "url": button[1],
                    }
                ],
            }
        )
    named = project or connection
    name = named.get("name") if named else data.get("name", "")
    text = f"{headline}: {name}" if name else headline
    return {"text": text, "blocks": blocks}


def body_for(
    endpoint: WebhookEndpoint, *, event: str, data: dict[str, Any], when: datetime
) -> dict[str, Any]:
    """The JSON document this endpoint receives for an event."""
    if endpoint.format == WebhookEndpoint.Format.SLACK:
        return slack_body(event, data)
    return {"type": event, "timestamp": when.isoformat(), "data": data}
