"""Connections: create, sync now, and clear some streams (``connections/...``).

A connection's streams come from ``syncCatalog`` (the selected streams and their
modes), else every discovered stream with the mode a new connection starts with.
The console writes to one schema per connection: ``namespaceDefinition``
``customformat`` with a plain ``namespaceFormat`` names it, ``destination`` (or
nothing) keeps the default ``public``; ``source`` is refused, as the console
cannot follow the source's namespaces. Schedules are set on the connection's
schedule page (or the Public API); here only ``manual`` is taken.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Router, Schema

from apps.api.access import principal, scoped_get
from apps.api.config.shapes import connection_read, job_info
from apps.api.problems import (
    bad_request,
    conflict,
    problem_from_validation,
    try_again_later,
    unprocessable,
)
from apps.api.waiting import wait_for_discover
from apps.connections import services
from apps.connections.catalog import catalog_streams, default_choice
from apps.connections.forms import SCHEMA_NAME_PATTERN, TABLE_PREFIX_PATTERN
from apps.connections.models import Connection
from apps.connectors.models import Destination, Source
from apps.core.roles import Role
from apps.engines.registry import get_engine

router = Router(tags=["connection"])

# Airbyte's nonBreakingChangesPreference -> the console's schema change policy.
SCHEMA_POLICIES = {
    "ignore": Connection.SchemaChangePolicy.IGNORE,
    "disable": Connection.SchemaChangePolicy.DISABLE,
    "propagate_columns": Connection.SchemaChangePolicy.PROPAGATE_COLUMNS,
    "propagate_fully": Connection.SchemaChangePolicy.PROPAGATE_FULLY,
}
# The connection form's rules: the prefix starts table names.
_SCHEMA_NAME = re.compile(SCHEMA_NAME_PATTERN)
_PREFIX = re.compile(TABLE_PREFIX_PATTERN)


class StreamPart(Schema):
    name: str
    namespace: str | None = None


class SelectedField(Schema):
    fieldPath: list[str] = []


class StreamConfigPart(Schema):
    syncMode: str = "full_refresh"
    destinationSyncMode: str = "overwrite"
    cursorField: list[str] = []
    primaryKey: list[list[str]] = []
    selected: bool = True
    fieldSelectionEnabled: bool = False
    selectedFields: list[SelectedField] = []


class StreamAndConfiguration(Schema):
    stream: StreamPart
    config: StreamConfigPart | None = None


class CatalogPart(Schema):
    streams: list[StreamAndConfiguration]


class ConnectionCreate(Schema):
    sourceId: UUID
    destinationId: UUID
    status: Literal["active", "inactive", "deprecated"]
    name: str | None = None
    namespaceDefinition: Literal["source", "destination", "customformat"] | None = None
    namespaceFormat: str | None = None
    prefix: str = ""
    syncCatalog: CatalogPart | None = None
    scheduleType: Literal["manual", "basic", "cron"] | None = None
    nonBreakingChangesPreference: (
        Literal["ignore", "disable", "propagate_columns", "propagate_fully"] | None
    ) = None


def _namespace(body: ConnectionCreate) -> str:
    definition = body.namespaceDefinition or "destination"
    if definition == "destination" or (
        definition == "customformat" and not body.namespaceFormat
    ):
        return "public"
    if definition == "customformat" and _SCHEMA_NAME.match(body.namespaceFormat or ""):
        return str(body.namespaceFormat)
    raise unprocessable(
        "The console writes each connection to one schema: give "
        "namespaceDefinition customformat with namespaceFormat a plain schema name "
        "(letters, digits, underscores), or destination.",
        {"errors": [{"path": "namespaceFormat", "message": "a plain schema name"}]},
    )


def _check_paths(config: StreamConfigPart, path: str) -> None:
    """Refuse field paths the console cannot honour rather than widen or drop them."""
    if config.fieldSelectionEnabled and any(
        len(p.fieldPath) != 1 for p in config.selectedFields
    ):
        raise unprocessable(
            "The console selects top-level fields only: each selectedFields "
            "fieldPath names one field.",
            {
                "errors": [
                    {"path": f"{path}.config.selectedFields", "message": "one field"}
                ]
            },
        )
    # An empty key path (or an empty name in a key or cursor path) names no
    # field: a dedup on it would collapse every row into one. An empty cursorField
    # stays allowed: it means the source's own cursor, as in Airbyte.
    empty = [
        name
        for name, paths in (
            ("primaryKey", config.primaryKey),
            ("cursorField", [config.cursorField] if config.cursorField else []),
        )
        if any(not p or not all(part.strip() for part in p) for p in paths)
    ]
    if empty:
        raise bad_request(
            f"{empty[0]} holds an empty field path: name the field.",
            {
                "errors": [
                    {"path": f"{path}.config.{n}", "message": "empty"} for n in empty
                ]
            },
        )


def _check_request(body: ConnectionCreate) -> None:
    """Refuse what the console would otherwise store wrongly or fail on: a prefix
    that is not a plain table-name start, a stream listed twice, odd field paths."""
    if not _PREFIX.match(body.prefix):
        raise bad_request(
            "The prefix takes letters, digits and underscores only, at most 40.",
            {"errors": [{"path": "prefix", "message": "letters, digits, _"}]},
        )
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(body.syncCatalog.streams if body.syncCatalog else []):
        path = f"syncCatalog.streams[{index}]"
        key = (item.stream.name, item.stream.namespace or "")
        if key in seen:
            # The service would hit the (connection, name, namespace) constraint.
            raise bad_request(
                f"The stream {'.'.join(filter(None, key[::-1]))} is listed twice.",
                {"errors": [{"path": f"{path}.stream", "message": "listed twice"}]},
            )
        seen.add(key)
        _check_paths(item.config or StreamConfigPart(), path)


def _streams(body: ConnectionCreate, source: Source) -> list[dict[str, Any]]:
    """The streams the console's service takes, from ``syncCatalog`` or the catalog."""
    if body.syncCatalog is None:
        return [
            {"name": s["name"], "namespace": s.get("namespace") or ""}
            | {
                "sync_mode": (c := default_choice(s)).sync_mode,
                "destination_sync_mode": c.destination_sync_mode,
                "cursor_field": c.cursor_field,
                "primary_key": c.primary_key,
            }
            for s in catalog_streams(source.catalog).values()
        ]
    streams = []
    for item in body.syncCatalog.streams:
        config = item.config or StreamConfigPart()
        fields = (
            [p.fieldPath[0] for p in config.selectedFields]
            if config.fieldSelectionEnabled
            else []
        )
        streams.append(
            {
                "name": item.stream.name,
                "namespace": item.stream.namespace or "",
                "selected": config.selected,
                "sync_mode": config.syncMode,
                "destination_sync_mode": config.destinationSyncMode,
                "cursor_field": config.cursorField,
                "primary_key": config.primaryKey,
                "selected_fields": fields,
            }
        )
    return streams


@router.post(
    "connections/create",
    response=dict,
    operation_id="createConfigConnection",
    summary="Create a connection",
)
def connection_create(request: HttpRequest, body: ConnectionCreate) -> dict[str, Any]:
    """``ConnectionRead`` of the new connection (the source is discovered first
    when its streams are not known yet)."""
    source, membership = scoped_get(request, Source, body.sourceId, Role.EDITOR)
    destination, _ = scoped_get(request, Destination, body.destinationId, Role.EDITOR)
    if destination.workspace_id != source.workspace_id:
        raise unprocessable(
            "The source and the destination must be in the same workspace.",
            {"errors": [{"path": "destinationId", "message": "another workspace"}]},
        )
    if body.scheduleType not in (None, "manual"):
        raise unprocessable(
            "Only scheduleType manual is taken here: set a schedule on the "
            "connection's Schedule page or through the Public API.",
            {"errors": [{"path": "scheduleType", "message": "manual only"}]},
        )
    namespace = _namespace(body)
    _check_request(body)
    actor = principal(request).user
    if not source.catalog:
        source = wait_for_discover(actor=actor, source=source)
    name = body.name or f"{source.name} → {destination.name}"
    try:
        connection = services.connection_create(
            actor=actor,
            workspace=membership.workspace,
            name=name,
            source=source,
            destination=destination,
            streams=_streams(body, source),
            namespace=namespace,
            table_prefix=body.prefix,
            schema_change_policy=SCHEMA_POLICIES[
                body.nonBreakingChangesPreference or "ignore"
            ],
        )
        if body.status != "active":
            connection = services.connection_set_status(
                actor=actor, connection=connection, status=Connection.Status.PAUSED
            )
    except ValidationError as exc:
        raise problem_from_validation(exc) from None
    return connection_read(connection)


class ConnectionIdRequestBody(Schema):
    connectionId: UUID


@router.post(
    "connections/sync",
    response=dict,
    operation_id="syncConnection",
    summary="Start a sync now",
)
def connection_sync(request: HttpRequest, body: ConnectionIdRequestBody) -> dict:
    """``JobInfoRead`` of the new job (pending; a worker starts it).

    A sync already running answers 409 "A sync is already running for: <id>", as
    Airbyte's; a paused connection 409 with the reason.
    """
    connection, _ = scoped_get(
        request, Connection, body.connectionId, Role.RUNNER, resource_type="connection"
    )
    try:
        job = services.sync_request(
            connection=connection, trigger="api", actor=principal(request).user
        )
    except services.SyncAlreadyRunning:
        raise try_again_later(
            f"A sync is already running for: {connection.public_id}"
        ) from None
    except services.ConnectionNotActive as exc:
        raise conflict(str(exc)) from None
    return job_info(job, with_logs=False)


class ConnectionStreamPart(Schema):
    streamName: str
    streamNamespace: str | None = None


class ConnectionStreamRequestBody(Schema):
    connectionId: UUID
    streams: list[ConnectionStreamPart]


@router.post(
    "connections/clear/stream",
    response=dict,
    operation_id="clearConnectionStream",
    summary="Empty some streams of a connection (their tables and state)",
)
def connection_clear_streams(
    request: HttpRequest, body: ConnectionStreamRequestBody
) -> dict[str, Any]:
    """``JobInfoRead`` of the clear job: the named streams' destination tables and
    saved state are emptied, the next sync starts them over.

    Only where the workspace's engine runs a reset as a job (the airbyte engine):
    the embedded engine empties tables on a worker without a job to follow, so
    there the call is refused (reset from the connection's page instead).
    """
    connection, _ = scoped_get(
        request, Connection, body.connectionId, Role.EDITOR, resource_type="connection"
    )
    # A stream is its name within its namespace: two namespaces may each hold a
    # "users", and clearing one must never empty the other.
    known = {(s.name, s.namespace) for s in connection.streams.all()}
    keys = [(s.streamName, s.streamNamespace or "") for s in body.streams]
    unknown = [
        ".".join(filter(None, (ns, n))) for n, ns in keys if (n, ns) not in known
    ]
    if unknown or not keys:
        raise unprocessable(
            "Streams not in the connection: " + (", ".join(unknown) or "none named"),
            {"errors": [{"path": "streams", "message": n} for n in unknown]},
        )
    if not get_engine(connection.workspace).resets_as_jobs:
        raise unprocessable(
            "This workspace's engine empties tables without a job to follow: reset "
            "the streams from the connection's Reset page.",
            {"errors": [{"path": "connectionId", "message": "no clear jobs here"}]},
        )
    if connection.jobs.active().exists():
        raise conflict(
            f"A job is already running for connection {connection.public_id}."
        )
    try:
        services.connection_reset(
            actor=principal(request).user,
            connection=connection,
            stream_keys=keys,
            drop_tables=True,
        )
    except ValidationError as exc:
        raise problem_from_validation(exc) from None
    job = connection.jobs.order_by("-created_at", "-id").first()
    return job_info(job, with_logs=False)
