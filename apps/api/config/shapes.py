"""The Config API's answers (``config-api.v1.8.0.yaml``) built from the console's rows.

Plain functions from rows to dicts, one per schema of the spec, so every router
answers the same shape for the same thing. The ids are the console's: workspaces,
sources, destinations and connections by ``public_id``; a job's ``id`` is its
``SyncJob.pk`` (Airbyte's job ids are int64); an attempt's ``id`` is its number
counted from 0, as Airbyte's ``attemptNumber`` is. Times are epoch seconds.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.utils import timezone

from apps.api.public.jobs import PUBLIC_STATUS
from apps.connections.models import Connection, SyncAttempt, SyncJob
from apps.connectors.models import ConnectorConfig, ConnectorDefinition

# The console's job statuses in Airbyte's words, shared with the Public API (the
# Config API's JobStatus uses the same words).
JOB_STATUSES = PUBLIC_STATUS
# Airbyte's attempts end succeeded or failed; a cancelled one is a failed one whose
# failure says ``manual_cancellation``.
ATTEMPT_STATUSES = {
    SyncAttempt.Status.RUNNING: "running",
    SyncAttempt.Status.SUCCEEDED: "succeeded",
    SyncAttempt.Status.FAILED: "failed",
    SyncAttempt.Status.CANCELLED: "failed",
}
FAILURE_ORIGINS = {
    SyncJob.FailureOrigin.SOURCE: "source",
    SyncJob.FailureOrigin.DESTINATION: "destination",
    SyncJob.FailureOrigin.CONSOLE: "airbyte_platform",
    SyncJob.FailureOrigin.AIRBYTE: "airbyte_platform",
}
# Every console failure type is one of Airbyte's words.
FAILURE_TYPES = {value: str(value) for value in SyncJob.FailureType.values}
# JobConfigType: a reset job of the console is Airbyte's "clear" (it empties the
# streams' tables and their state).
CONFIG_TYPE_SYNC = "sync"
CONFIG_TYPE_CLEAR = "clear"


def epoch(moment: datetime | None) -> int | None:
    """Epoch seconds, as the Config API gives every time; None stays None."""
    return int(moment.timestamp()) if moment is not None else None


def _now() -> int:
    return int(timezone.now().timestamp())


# -- definitions ----------------------------------------------------------------------
def definition_read(definition: ConnectorDefinition) -> dict[str, Any]:
    """``SourceDefinitionRead`` / ``DestinationDefinitionRead``."""
    kind = definition.kind
    release = definition.release_stage
    out: dict[str, Any] = {
        f"{kind}DefinitionId": str(definition.definition_id),
        "name": definition.name,
        # Empty for a connector the console runs without an image (a built-in
        # destination written by the console itself).
        "dockerRepository": definition.docker_repository,
        "dockerImageTag": definition.docker_image_tag or definition.pypi_version or "",
        "documentationUrl": definition.documentation_url
        or "https://docs.airbyte.com/integrations",
        "protocolVersion": "0.2.0",
        "custom": release == ConnectorDefinition.ReleaseStage.CUSTOM,
        "releaseStage": release,
    }
    if definition.icon:
        out["icon"] = definition.icon
    return out


def synchronous_job(
    config_type: str,
    *,
    config_id: str = "",
    succeeded: bool = True,
    log_lines: list[str] | None = None,
    failure: str = "",
    started: int | None = None,
) -> dict[str, Any]:
    """``SynchronousJobRead``: what a check, discover or spec call reports of itself.

    The console has no job row for these (a draft check or a discover is recorded
    on its own row), so the id is a fresh UUID, as Airbyte's are.
    """
    now = _now()
    out: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "configType": config_type,
        "createdAt": started if started is not None else now,
        "endedAt": now,
        "succeeded": succeeded,
        "connectorConfigurationUpdated": False,
        "logType": "formatted",
        "logs": {"logLines": list(log_lines or [])},
    }
    if config_id:
        out["configId"] = config_id
    if failure:
        out["failureReason"] = {
            # Only a destination's check fails on the destination's side.
            "failureOrigin": "destination"
            if config_type == "check_connection_destination"
            else "source",
            "failureType": "config_error",
            "externalMessage": failure,
            "timestamp": now * 1000,
        }
    return out


# -- sources and destinations ----------------------------------------------------------
def actor_read(obj: ConnectorConfig, configuration: dict[str, Any]) -> dict[str, Any]:
    """``SourceRead`` / ``DestinationRead``; ``configuration`` is already masked."""
    kind = obj._meta.model_name
    return {
        f"{kind}DefinitionId": str(obj.definition.definition_id),
        f"{kind}Id": str(obj.public_id),
        "workspaceId": str(obj.workspace.public_id),
        "connectionConfiguration": configuration,
        "name": obj.name,
        f"{kind}Name": obj.definition.name,
        "createdAt": epoch(obj.created_at),
    }


# -- catalogs and connections -------------------------------------------------------
def airbyte_stream(stream: dict[str, Any]) -> dict[str, Any]:
    """``AirbyteStream`` from a stream of the console's cached catalog."""
    out: dict[str, Any] = {
        "name": stream["name"],
        "jsonSchema": stream.get("json_schema") or {},
        "supportedSyncModes": list(stream.get("supported_sync_modes") or [])
        or ["full_refresh"],
        "sourceDefinedCursor": bool(stream.get("source_defined_cursor")),
        "defaultCursorField": list(stream.get("default_cursor_field") or []),
        "sourceDefinedPrimaryKey": [
            list(path) for path in stream.get("source_defined_primary_key") or []
        ],
        "isResumable": True,
    }
    if stream.get("namespace"):
        out["namespace"] = stream["namespace"]
    return out


def stream_configuration(
    *,
    sync_mode: str,
    destination_sync_mode: str,
    cursor_field: list[str],
    primary_key: list[list[str]],
    selected: bool,
    selected_fields: list[str] | None = None,
    suggested: bool = True,
) -> dict[str, Any]:
    """``AirbyteStreamConfiguration``."""
    out: dict[str, Any] = {
        "syncMode": sync_mode,
        "destinationSyncMode": destination_sync_mode,
        "cursorField": list(cursor_field),
        "primaryKey": [list(path) for path in primary_key],
        "selected": selected,
        "suggested": suggested,
    }
    if selected_fields:
        out["fieldSelectionEnabled"] = True
        out["selectedFields"] = [{"fieldPath": [name]} for name in selected_fields]
    return out


def discovered_catalog(catalog: dict[str, Any] | None) -> dict[str, Any]:
    """``AirbyteCatalog`` of a source's discovered streams, each with the
    configuration a new connection starts with (the console's default choice)."""
    from apps.connections.catalog import default_choice

    streams = []
    for stream in (catalog or {}).get("streams", []):
        choice = default_choice(stream)
        streams.append(
            {
                "stream": airbyte_stream(stream),
                "config": stream_configuration(
                    sync_mode=choice.sync_mode,
                    destination_sync_mode=choice.destination_sync_mode,
                    cursor_field=choice.cursor_field,
                    primary_key=choice.primary_key,
                    selected=True,
                ),
            }
        )
    return {"streams": streams}


def connection_catalog(connection: Connection) -> dict[str, Any]:
    """``AirbyteCatalog`` of a connection: its configured streams."""
    from apps.connections.catalog import catalog_streams

    known = catalog_streams(connection.source.catalog)
    streams = []
    for row in connection.streams.all():
        discovered = known.get((row.namespace, row.name)) or {
            "name": row.name,
            "namespace": row.namespace,
            "json_schema": row.json_schema,
        }
        streams.append(
            {
                "stream": airbyte_stream(discovered),
                "config": stream_configuration(
                    sync_mode=row.sync_mode,
                    destination_sync_mode=row.destination_sync_mode,
                    cursor_field=list(row.cursor_field or []),
                    primary_key=list(row.primary_key or []),
                    selected=row.selected,
                    selected_fields=list(row.selected_fields or []),
                ),
            }
        )
    return {"streams": streams}


NON_BREAKING = {
    Connection.SchemaChangePolicy.IGNORE: "ignore",
    Connection.SchemaChangePolicy.PROPAGATE_COLUMNS: "propagate_columns",
    Connection.SchemaChangePolicy.PROPAGATE_FULLY: "propagate_fully",
    Connection.SchemaChangePolicy.DISABLE: "disable",
}


def connection_read(connection: Connection) -> dict[str, Any]:
    """``ConnectionRead``: the console's schema is a custom namespace format."""
    return {
        "connectionId": str(connection.public_id),
        "name": connection.name,
        "namespaceDefinition": "customformat",
        "namespaceFormat": connection.namespace,
        "prefix": connection.table_prefix,
        "sourceId": str(connection.source.public_id),
        "destinationId": str(connection.destination.public_id),
        "workspaceId": str(connection.workspace.public_id),
        "syncCatalog": connection_catalog(connection),
        "scheduleType": "manual",
        "status": "active"
        if connection.status == Connection.Status.ACTIVE
        else "inactive",
        "breakingChange": connection.status == Connection.Status.BROKEN,
        "nonBreakingChangesPreference": NON_BREAKING.get(
            connection.schema_change_policy, "ignore"
        ),
        "created_at": epoch(connection.created_at),
        "tags": [],
    }


# -- jobs and attempts ----------------------------------------------------------------
def _failure(
    failure_type: str, failure_origin: str, message: str, when: datetime | None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "failureType": FAILURE_TYPES.get(failure_type, "system_error"),
        "failureOrigin": FAILURE_ORIGINS.get(failure_origin, "unknown"),
        "externalMessage": message,
        "timestamp": (epoch(when) or _now()) * 1000,
    }
    if failure_type == SyncJob.FailureType.TRANSIENT_ERROR:
        out["retryable"] = True
    return out


def attempt_read(attempt: SyncAttempt) -> dict[str, Any]:
    """``AttemptRead``; the counts are the attempt's committed ones."""
    updated = attempt.finished_at or attempt.heartbeat_at or attempt.started_at
    out: dict[str, Any] = {
        "id": attempt.number - 1,
        "status": ATTEMPT_STATUSES.get(attempt.status, "running"),
        "createdAt": epoch(attempt.started_at),
        "updatedAt": epoch(updated),
        "recordsSynced": attempt.records_committed,
        "bytesSynced": attempt.bytes_committed,
        "totalStats": {
            "recordsEmitted": attempt.records_emitted,
            "bytesEmitted": attempt.bytes_committed,
            "recordsCommitted": attempt.records_committed,
            "bytesCommitted": attempt.bytes_committed,
        },
    }
    if attempt.finished_at is not None:
        out["endedAt"] = epoch(attempt.finished_at)
    if attempt.failure_message or attempt.status == SyncAttempt.Status.CANCELLED:
        failure_type = attempt.failure_type
        if attempt.status == SyncAttempt.Status.CANCELLED:
            failure_type = SyncJob.FailureType.MANUAL_CANCELLATION
        out["failureSummary"] = {
            "failures": [
                _failure(
                    failure_type,
                    attempt.failure_origin,
                    attempt.failure_message or "The attempt was cancelled.",
                    attempt.finished_at,
                )
            ],
            "partialSuccess": attempt.records_committed > 0,
        }
    return out


def attempt_info(attempt: SyncAttempt, *, with_logs: bool) -> dict[str, Any]:
    """``AttemptInfoRead``; the log as formatted lines when asked for."""
    out: dict[str, Any] = {"attempt": attempt_read(attempt)}
    if with_logs:
        out["logType"] = "formatted"
        out["logs"] = {"logLines": attempt.log.splitlines()}
    return out


def job_read(job: SyncJob, attempts: list[SyncAttempt]) -> dict[str, Any]:
    """``JobRead``; ``configId`` is the connection's id."""
    is_reset = job.trigger == SyncJob.Trigger.RESET
    emitted = sum(a.records_emitted for a in attempts)
    out: dict[str, Any] = {
        "id": job.pk,
        "configType": CONFIG_TYPE_CLEAR if is_reset else CONFIG_TYPE_SYNC,
        "configId": str(job.connection.public_id),
        "createdAt": epoch(job.created_at),
        "updatedAt": epoch(job.finished_at or job.updated_at),
        "status": JOB_STATUSES.get(job.status, "running"),
        "aggregatedStats": {
            "recordsEmitted": max(emitted, job.records_committed),
            "bytesEmitted": job.bytes_committed,
            "recordsCommitted": job.records_committed,
            "bytesCommitted": job.bytes_committed,
            "recordsRejected": 0,
        },
    }
    if job.started_at is not None:
        out["startedAt"] = epoch(job.started_at)
    if is_reset:
        streams = [
            {
                "name": s.get("name", ""),
                **({"namespace": s["namespace"]} if s.get("namespace") else {}),
            }
            for s in job.reset_streams or []
            if isinstance(s, dict)
        ]
        out["resetConfig"] = {"streamsToReset": streams}
        out["enabledStreams"] = streams
    return out


def job_info(job: SyncJob, *, with_logs: bool) -> dict[str, Any]:
    """``JobInfoRead``: the job and its attempts (with their logs when asked)."""
    attempts = list(job.attempts.order_by("number"))
    return {
        "job": job_read(job, attempts),
        "attempts": [attempt_info(a, with_logs=with_logs) for a in attempts],
    }


def job_with_attempts(job: SyncJob) -> dict[str, Any]:
    """``JobWithAttemptsRead`` (``jobs/list``): attempts without their logs.

    The attempts must be prefetched (``prefetch_related("attempts")``)."""
    attempts = sorted(job.attempts.all(), key=lambda a: a.number)
    return {
        "job": job_read(job, attempts),
        "attempts": [attempt_read(a) for a in attempts],
    }
