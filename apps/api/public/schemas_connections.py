"""The Public API's connection and job shapes (``public-api.v1.8.0.yaml``).

Field names are Airbyte's own (camelCase), so the OpenAPI document ninja builds
from these classes matches the spec's, and Airbyte's SDKs read the answers as they
read Airbyte's. Requests ignore fields they do not know, as Airbyte's server does
(``FAIL_ON_UNKNOWN_PROPERTIES=false``); responses leave out what is unset rather
than send ``null`` where the spec says ``string``.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from ninja import Schema
from pydantic import Field

ConnectionSyncMode = Literal[
    "full_refresh_overwrite",
    "full_refresh_overwrite_deduped",
    "full_refresh_append",
    "full_refresh_update",
    "full_refresh_soft_delete",
    "incremental_append",
    "incremental_deduped_history",
    "incremental_update",
    "incremental_soft_delete",
]
ConnectionStatus = Literal["active", "inactive", "deprecated"]
NamespaceDefinition = Literal["source", "destination", "custom_format"]
SchemaUpdatesBehavior = Literal[
    "ignore", "disable_connection", "propagate_columns", "propagate_fully"
]
JobStatus = Literal[
    "pending", "running", "incomplete", "failed", "succeeded", "cancelled"
]
JobType = Literal["sync", "reset", "refresh", "clear"]


class SelectedFieldInfo(Schema):
    """One field to sync, as a path (the console selects top-level fields)."""

    fieldPath: list[str] | None = None


class StreamMapper(Schema):
    """A mapper Airbyte applies to a stream (the console has none)."""

    id: UUID | None = None
    type: str
    mapperConfiguration: dict


class StreamConfiguration(Schema):
    """How one stream is synced: its mode, cursor, key and fields."""

    name: str
    namespace: str | None = None
    syncMode: ConnectionSyncMode | None = None
    cursorField: list[str] | None = None
    primaryKey: list[list[str]] | None = None
    includeFiles: bool | None = None
    destinationObjectName: str | None = None
    selectedFields: list[SelectedFieldInfo] | None = None
    mappers: list[StreamMapper] | None = None


class StreamConfigurations(Schema):
    """The streams a connection syncs (those not listed are not synced)."""

    streams: list[StreamConfiguration] | None = None


class ConnectionSchedule(Schema):
    """When a connection runs: by hand, or on a Quartz cron expression."""

    scheduleType: Literal["manual", "cron"]
    cronExpression: str | None = None


class ConnectionScheduleResponse(Schema):
    """A connection's schedule as read back (``basic`` for the console's intervals)."""

    scheduleType: Literal["manual", "cron", "basic"]
    cronExpression: str | None = None
    basicTiming: str | None = None


class Tag(Schema):
    tagId: UUID
    workspaceId: UUID
    name: str
    color: str


class ConnectionCreateRequest(Schema):
    """``POST /connections``."""

    name: str | None = None
    sourceId: UUID
    destinationId: UUID
    configurations: StreamConfigurations | None = None
    schedule: ConnectionSchedule | None = None
    dataResidency: str | None = None
    namespaceDefinition: NamespaceDefinition | None = None
    namespaceFormat: str | None = None
    prefix: str | None = None
    nonBreakingSchemaUpdatesBehavior: SchemaUpdatesBehavior | None = None
    status: ConnectionStatus | None = None
    tags: list[Tag] | None = None


class ConnectionPatchRequest(Schema):
    """``PATCH /connections/{connectionId}``: only the fields sent change."""

    name: str | None = None
    configurations: StreamConfigurations | None = None
    schedule: ConnectionSchedule | None = None
    dataResidency: str | None = None
    namespaceDefinition: NamespaceDefinition | None = None
    namespaceFormat: str | None = None
    prefix: str | None = None
    nonBreakingSchemaUpdatesBehavior: SchemaUpdatesBehavior | None = None
    status: ConnectionStatus | None = None
    tags: list[Tag] | None = None


class ConnectionResponse(Schema):
    """One connection as Airbyte describes it."""

    connectionId: UUID
    name: str
    sourceId: UUID
    destinationId: UUID
    workspaceId: UUID
    status: ConnectionStatus
    schedule: ConnectionScheduleResponse
    nonBreakingSchemaUpdatesBehavior: SchemaUpdatesBehavior
    namespaceDefinition: NamespaceDefinition
    namespaceFormat: str | None = None
    prefix: str
    configurations: StreamConfigurations
    createdAt: int = Field(description="Epoch seconds, as Airbyte sends it.")
    tags: list[Tag]
    statusReason: str | None = Field(
        default=None,
        description="Why the connection is inactive, when the console knows "
        "(as Airbyte 2.1 and later send it).",
    )


class ConnectionsResponse(Schema):
    previous: str
    next: str
    data: list[ConnectionResponse]


class JobCreateRequest(Schema):
    """``POST /jobs``: start a sync or a reset of a connection."""

    connectionId: UUID
    jobType: JobType


class JobResponse(Schema):
    """One job: its id is the console's ``SyncJob`` number (an int64, as Airbyte's)."""

    jobId: int
    status: JobStatus
    jobType: JobType
    startTime: str
    connectionId: UUID
    lastUpdatedAt: str | None = None
    duration: str | None = None
    bytesSynced: int | None = None
    rowsSynced: int | None = None


class JobsResponse(Schema):
    previous: str
    next: str
    data: list[JobResponse]
