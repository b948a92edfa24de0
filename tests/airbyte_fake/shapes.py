"""The JSON shapes of the specs, built from the fake's state."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime
from typing import Any

from tests.airbyte_fake.core import Call
from tests.airbyte_fake.quirks import attempt_logs
from tests.airbyte_fake.state import (
    Actor,
    Attempt,
    ConfiguredStream,
    Connection,
    Job,
    Workspace,
    deep_merge,
    mask_secrets,
    new_id,
    now_seconds,
)

NOTIFICATION_KEYS = (
    "failure",
    "success",
    "connectionUpdate",
    "connectionUpdateActionRequired",
    "syncDisabled",
    "syncDisabledWarning",
)


def java_time(epoch: int) -> str:
    """Java ``OffsetDateTime.toString()``: seconds are dropped when they are zero."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M")
    if moment.second:
        text += f":{moment.second:02d}"
    return text + "Z"


def iso_duration(seconds: int) -> str:
    """Java ``Duration.toString()`` for whole seconds, e.g. ``PT1H2M3S``, ``PT0S``."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return text + (f"{secs}S" if secs or not (hours or minutes) else "")


def workspace_json(workspace: Workspace) -> dict[str, Any]:
    notifications = {
        key: {"email": {"enabled": False}, "webhook": {"enabled": False}}
        for key in NOTIFICATION_KEYS
    }
    for key, value in workspace.notifications.items():
        notifications[key] = deep_merge(notifications.get(key, {}), value)
    return {
        "workspaceId": workspace.id,
        "name": workspace.name,
        "dataResidency": "auto",
        "notifications": notifications,
    }


def actor_json(call: Call, actor: Actor) -> dict[str, Any]:
    definition = call.state.definitions[actor.definition_id]
    return {
        f"{actor.kind}Id": actor.id,
        "name": actor.name,
        f"{actor.kind}Type": definition.type_name,
        "definitionId": definition.id,
        "workspaceId": actor.workspace_id,
        "configuration": mask_secrets(
            actor.configuration, definition.connection_specification
        ),
        "createdAt": actor.created_at,
    }


def stream_json(stream: ConfiguredStream) -> dict[str, Any]:
    out: dict[str, Any] = {"name": stream.name, "syncMode": stream.sync_mode}
    if stream.namespace:
        out["namespace"] = stream.namespace
    if stream.cursor_field:
        out["cursorField"] = list(stream.cursor_field)
    if stream.primary_key:
        out["primaryKey"] = copy.deepcopy(stream.primary_key)
    if stream.selected_fields is not None:
        out["selectedFields"] = copy.deepcopy(stream.selected_fields)
    out["mappers"] = copy.deepcopy(stream.mappers)
    return out


def connection_json(connection: Connection) -> dict[str, Any]:
    schedule: dict[str, Any] = {"scheduleType": connection.schedule_type}
    if connection.cron_expression:
        # The server reads the expression back with its time zone appended.
        schedule["cronExpression"] = f"{connection.cron_expression} UTC"
    out: dict[str, Any] = {
        "connectionId": connection.id,
        "name": connection.name,
        "sourceId": connection.source_id,
        "destinationId": connection.destination_id,
        "workspaceId": connection.workspace_id,
        "status": connection.status,
        "schedule": schedule,
        "nonBreakingSchemaUpdatesBehavior": connection.non_breaking_behavior,
        "namespaceDefinition": connection.namespace_definition,
        "prefix": connection.prefix,
        "configurations": {"streams": [stream_json(s) for s in connection.streams]},
        "createdAt": connection.created_at,
        "tags": copy.deepcopy(connection.tags),
    }
    if connection.namespace_format is not None:
        out["namespaceFormat"] = connection.namespace_format
    return out


def job_json(job: Job) -> dict[str, Any]:
    out: dict[str, Any] = {
        "jobId": job.id,
        "status": job.status,
        "jobType": job.job_type,
        "connectionId": job.connection_id,
        "startTime": java_time(job.created_at),
    }
    if job.status != "pending":
        end = job.updated_at if job.terminal else now_seconds()
        out["duration"] = iso_duration(end - job.created_at)
        out["bytesSynced"] = job.bytes
        out["rowsSynced"] = job.rows
    if job.terminal:
        out["lastUpdatedAt"] = java_time(job.updated_at)
    return out


CONFIG_JOB_TYPES = {"sync": "sync", "reset": "reset_connection", "clear": "clear"}


def job_read(job: Job) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": job.id,
        "configType": CONFIG_JOB_TYPES.get(job.job_type, job.job_type),
        "configId": job.connection_id,
        "enabledStreams": [{"name": name} for name in job.stream_names],
        "createdAt": job.created_at,
        "updatedAt": job.updated_at,
        "status": job.status,
        "aggregatedStats": {
            "recordsEmitted": job.rows,
            "bytesEmitted": job.bytes,
            "recordsCommitted": job.rows,
            "bytesCommitted": job.bytes,
            "recordsRejected": 0,
        },
    }
    if job.started_at is not None:
        out["startedAt"] = job.started_at
    return out


def attempt_info(
    job: Job, attempt: Attempt, *, with_logs: bool, version: str = "1.8.0"
) -> dict[str, Any]:
    running = attempt.status == "running"
    records = job.rows if running else attempt.records
    size = job.bytes if running else attempt.bytes
    read: dict[str, Any] = {
        "id": attempt.number,
        "status": attempt.status,
        "createdAt": attempt.created_at,
        "updatedAt": attempt.updated_at,
    }
    if not running:
        # Like the server: bytesSynced/recordsSynced come from the sync's output
        # and totalStats from the stats saved at the end (absent while it runs,
        # and without bytesCommitted).
        read["bytesSynced"] = size
        read["recordsSynced"] = records
        read["totalStats"] = {
            "recordsEmitted": records,
            "bytesEmitted": size,
            "recordsCommitted": records,
            "stateMessagesEmitted": len(job.stream_names),
        }
    if attempt.ended_at is not None:
        read["endedAt"] = attempt.ended_at
    if attempt.failure:
        read["failureSummary"] = {
            "failures": [copy.deepcopy(attempt.failure)],
            "partialSuccess": records > 0,
        }
    out: dict[str, Any] = {"attempt": read}
    if with_logs:
        out.update(attempt_logs(job, attempt, version))
    return out


def job_info(job: Job, *, with_logs: bool, version: str = "1.8.0") -> dict[str, Any]:
    return {
        "job": job_read(job),
        "attempts": [
            attempt_info(job, a, with_logs=with_logs, version=version)
            for a in job.attempts
        ],
    }


def synchronous_job(
    config_type: str,
    config_id: str | None = None,
    *,
    succeeded: bool = True,
    log_lines: list[str] | None = None,
    failure: str | None = None,
) -> dict[str, Any]:
    now = now_seconds()
    out: dict[str, Any] = {
        "id": new_id(),
        "configType": config_type,
        "createdAt": now,
        "endedAt": now,
        "succeeded": succeeded,
        "connectorConfigurationUpdated": False,
        "logType": "formatted",
        "logs": {"logLines": log_lines or []},
    }
    if config_id:
        out["configId"] = config_id
    if failure:
        out["failureReason"] = {
            "failureOrigin": "source",
            "failureType": "system_error",
            "externalMessage": failure,
            "timestamp": int(time.time() * 1000),
        }
    return out
