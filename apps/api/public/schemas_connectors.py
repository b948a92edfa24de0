"""The Public API's request and response objects for workspaces, sources,
destinations and streams, named and shaped as in ``public-api.v1.8.0.yaml``.

Field names are Airbyte's (camelCase). Unknown fields in a request body are
ignored, as Airbyte's server does (``FAIL_ON_UNKNOWN_PROPERTIES=false``), except
inside ``resourceAllocation``, which the spec closes (``additionalProperties:
false``). Ids in bodies are UUIDs (``format: uuid``), so a malformed one is a 400.
"""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from ninja import Schema
from pydantic import ConfigDict, Field

# -- Workspaces ---------------------------------------------------------------------


class EmailNotificationConfig(Schema):
    enabled: bool = False


class WebhookNotificationConfig(Schema):
    enabled: bool = False
    url: str | None = None


class NotificationConfig(Schema):
    email: EmailNotificationConfig | None = None
    webhook: WebhookNotificationConfig | None = None


class NotificationsConfig(Schema):
    failure: NotificationConfig | None = None
    success: NotificationConfig | None = None
    connectionUpdate: NotificationConfig | None = None
    connectionUpdateActionRequired: NotificationConfig | None = None
    syncDisabled: NotificationConfig | None = None
    syncDisabledWarning: NotificationConfig | None = None


class WorkspaceCreateRequest(Schema):
    name: str
    organizationId: UUID | None = None
    notifications: NotificationsConfig | None = None
    regionId: UUID | None = None


class WorkspaceUpdateRequest(Schema):
    name: str | None = None
    notifications: NotificationsConfig | None = None
    regionId: UUID | None = None


class WorkspaceResponse(Schema):
    workspaceId: str
    name: str
    dataResidency: str
    notifications: dict[str, Any]


class WorkspacesResponse(Schema):
    previous: str = ""
    next: str = ""
    data: list[WorkspaceResponse]


# -- Sources and destinations ------------------------------------------------------


class ResourceRequirements(Schema):
    cpu_request: str | None = None
    cpu_limit: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None
    ephemeral_storage_request: str | None = None
    ephemeral_storage_limit: str | None = None


class JobTypeResourceLimit(Schema):
    # Closed in the spec too, with jobType one of its JobType values.
    model_config = ConfigDict(extra="forbid")

    jobType: Literal[
        "get_spec",
        "check_connection",
        "discover_schema",
        "sync",
        "reset_connection",
        "connection_updater",
        "replicate",
    ]
    resourceRequirements: ResourceRequirements


class ScopedResourceRequirements(Schema):
    # The one object the spec closes: an unknown key here is a 400.
    model_config = ConfigDict(extra="forbid")

    default: ResourceRequirements | None = None
    jobSpecific: list[JobTypeResourceLimit] | None = None


class SourceCreateRequest(Schema):
    name: str
    workspaceId: UUID
    configuration: dict[str, Any]
    definitionId: UUID | None = None
    secretId: str | None = None
    resourceAllocation: ScopedResourceRequirements | None = None


class SourcePatchRequest(Schema):
    name: str | None = None
    workspaceId: UUID | None = None
    configuration: dict[str, Any] | None = None
    secretId: str | None = None
    resourceAllocation: ScopedResourceRequirements | None = None


class SourcePutRequest(Schema):
    name: str
    configuration: dict[str, Any]
    resourceAllocation: ScopedResourceRequirements | None = None


class SourceResponse(Schema):
    sourceId: str
    name: str
    sourceType: str
    definitionId: str
    workspaceId: str
    configuration: dict[str, Any]
    createdAt: int


class SourcesResponse(Schema):
    previous: str = ""
    next: str = ""
    data: list[SourceResponse]


class DestinationCreateRequest(Schema):
    name: str
    workspaceId: UUID
    configuration: dict[str, Any]
    definitionId: UUID | None = None
    resourceAllocation: ScopedResourceRequirements | None = None


class DestinationPatchRequest(Schema):
    name: str | None = None
    configuration: dict[str, Any] | None = None
    resourceAllocation: ScopedResourceRequirements | None = None


class DestinationPutRequest(Schema):
    name: str
    configuration: dict[str, Any]
    resourceAllocation: ScopedResourceRequirements | None = None


class DestinationResponse(Schema):
    destinationId: str
    name: str
    destinationType: str
    definitionId: str
    workspaceId: str
    configuration: dict[str, Any]
    createdAt: int


class DestinationsResponse(Schema):
    previous: str = ""
    next: str = ""
    data: list[DestinationResponse]


# -- Streams ----------------------------------------------------------------------

ConnectionSyncModeEnum = Literal[
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


class StreamProperties(Schema):
    streamName: str
    # The spec's spelling, lowercase "n" included.
    streamnamespace: str | None = None
    syncModes: list[ConnectionSyncModeEnum] = Field(default_factory=list)
    defaultCursorField: list[str] = Field(default_factory=list)
    sourceDefinedCursorField: bool = False
    sourceDefinedPrimaryKey: list[list[str]] = Field(default_factory=list)
    propertyFields: list[list[str]] = Field(default_factory=list)
