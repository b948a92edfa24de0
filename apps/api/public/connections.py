"""Public API: connections (``/connections``), served from the console's own.

Every write goes through ``apps.connections.services`` and
``apps.schedules.services`` with the token's user as the actor, so each change
has its audit row; a call that needs several services runs them in one
transaction, so a refusal half-way (a bad cron, a taken name) changes nothing.

How Airbyte's fields map onto the console's:

* ``configurations.streams``: the streams listed are synced, every other stream
  of the source's catalog is kept unselected (as the console's own form keeps
  them). ``syncMode`` is the console's pair of modes: ``full_refresh_overwrite``,
  ``full_refresh_append``, ``incremental_append`` and
  ``incremental_deduped_history``; the console has no writer for the others
  (``*_update``, ``*_soft_delete``, ``full_refresh_overwrite_deduped``), so they
  are refused like a mode a destination does not support. A stream without
  ``syncMode``, and every stream when no ``streams`` are given, gets the best mode
  it supports (``catalog.default_choice``; Airbyte would use
  ``full_refresh_overwrite``). ``selectedFields`` are top-level fields only.
  The source's catalog is the one discover cached; a source never discovered is
  discovered first (the call waits for it, as Airbyte's does).
* ``schedule``: ``manual`` is no schedule; ``cron`` takes Airbyte's Quartz form
  (``sec min hour day-of-month month day-of-week [year]``, e.g.
  ``0 0 12 * * ?``) and becomes the console's 5-field cron when the seconds are
  0 (the console runs schedules to the minute; other seconds are a 400). A
  trailing time zone (``0 0 12 * * ? UTC``, the form Airbyte reads back) is taken
  as the schedule's zone. Read back, a cron schedule is Quartz again with its zone
  appended, as Airbyte sends it; an interval schedule made in the console reads
  as ``basic`` (``Every 6 HOURS``).
* ``status``: ``active`` is active; ``inactive`` pauses (a broken connection reads
  as ``inactive`` too, with ``statusReason`` saying why, as Airbyte 2.1 and later
  send it). ``deprecated`` cannot be set: DELETE removes a
  connection, and since the console keeps no deleted connections,
  ``includeDeleted`` lists nothing more.
* Namespaces: the console writes all of a connection's streams into one schema
  (``Connection.namespace``) with ``Connection.table_prefix`` (``prefix``) before
  each table name.
  - ``destination`` (the default): the destination's own ``schema`` setting,
    or ``public`` when it has none.
  - ``source``: the namespace the synced streams come from; streams from
    several namespaces cannot share one schema, so that is a 400 (name one with
    ``custom_format``); streams without a namespace go to the destination's.
  - ``custom_format``: ``namespaceFormat`` is the schema, with
    ``${SOURCE_NAMESPACE}`` replaced as for ``source``; blank means the
    destination's.
  Read back, a connection whose schema is the destination's says
  ``destination``; any other says ``custom_format`` with the schema as
  ``namespaceFormat``.
* ``nonBreakingSchemaUpdatesBehavior`` is ``Connection.schema_change_policy``
  (the same four words). The console has no connection tags: ``tags`` read back
  empty, and asking to set some is a 400.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Status

from apps.api.access import member_workspaces, principal, scoped_get
from apps.api.connectors_io import requested_workspaces
from apps.api.pagination import MAX_OFFSET, id_list, paginate
from apps.api.problems import (
    ApiProblem,
    bad_request,
    conflict,
    validation_errors,
)
from apps.api.public.schemas_connections import (
    ConnectionCreateRequest,
    ConnectionPatchRequest,
    ConnectionResponse,
    ConnectionSchedule,
    ConnectionsResponse,
    StreamConfigurations,
)
from apps.api.waiting import wait_for_discover
from apps.connections.catalog import (
    StreamChoice,
    catalog_streams,
    default_choice,
    validate_choices,
)
from apps.connections.forms import SCHEMA_NAME_PATTERN, TABLE_PREFIX_PATTERN
from apps.connections.models import (
    Connection,
    ConnectionStream,
    DestinationSyncMode,
    SyncMode,
)
from apps.connections.services import (
    connection_create,
    connection_delete,
    connection_set_status,
    connection_update,
    stream_choices_for,
)
from apps.connectors.models import Destination, Source
from apps.core.roles import Role
from apps.schedules import timing
from apps.schedules.models import Schedule
from apps.schedules.services import schedule_create, schedule_delete, schedule_update
from apps.workspaces.models import Workspace

router = Router(tags=["Connections"])

# Airbyte's sync mode words the console can run, and its (source, destination) pair.
SYNC_MODES: dict[str, tuple[str, str]] = {
    "full_refresh_overwrite": (SyncMode.FULL_REFRESH, DestinationSyncMode.OVERWRITE),
    "full_refresh_append": (SyncMode.FULL_REFRESH, DestinationSyncMode.APPEND),
    "incremental_append": (SyncMode.INCREMENTAL, DestinationSyncMode.APPEND),
    "incremental_deduped_history": (
        SyncMode.INCREMENTAL,
        DestinationSyncMode.APPEND_DEDUP,
    ),
}
_MODE_WORDS = {pair: word for word, pair in SYNC_MODES.items()}

SOURCE_NAMESPACE = "${SOURCE_NAMESPACE}"
# What the console's connection form accepts for a schema and a table prefix.
_SCHEMA_NAME = re.compile(SCHEMA_NAME_PATTERN)
_PREFIX = re.compile(TABLE_PREFIX_PATTERN)

# The services' field names as the API calls them, for the paths in a problem.
_API_FIELDS = {
    "streams": "configurations.streams",
    "namespace": "namespaceFormat",
    "table_prefix": "prefix",
    "schema_change_policy": "nonBreakingSchemaUpdatesBehavior",
    "cron_expression": "schedule.cronExpression",
    "interval_minutes": "schedule",
    "timezone": "schedule.cronExpression",
}


def invalid(exc: ValidationError) -> ApiProblem:
    """A service's ValidationError as a 400 naming the API's fields."""
    errors = [
        {"path": _API_FIELDS.get(e["path"], e["path"]), "message": e["message"]}
        for e in validation_errors(exc)
    ]
    detail = "; ".join(
        f"{e['path']}: {e['message']}" if e["path"] else e["message"] for e in errors
    )
    return bad_request(detail or "The request is not valid.", {"errors": errors})


def _field_problem(path: str, message: str) -> ApiProblem:
    return bad_request(message, {"errors": [{"path": path, "message": message}]})


# --- cron: Airbyte's Quartz form <-> the console's 5 fields ---------------------------

# The schedule keeps its 5-field expression in 120 characters; a Quartz one with
# its seconds and a time zone a little more.
MAX_CRON_LENGTH = 160
_QUARTZ_FIELDS = ("seconds", "minutes", "hours", "day-of-month", "month", "day-of-week")
# Highest value of each 5-field cron field, for Quartz's "start/step" form.
_CRON_MAX = (59, 23, 31, 12, 6)


@dataclass(frozen=True)
class CronSchedule:
    """A schedule asked for through the API: 5-field cron and its time zone."""

    expression: str
    timezone: str


def _quartz_dow(part: str) -> str:
    """One Quartz day-of-week part (1 = Sunday) as cron's (0 = Sunday): the days
    are renumbered, a step (``/2``) or an nth (``#3``) is not."""
    base, slash, step = part.partition("/")
    base, hash_mark, nth = base.partition("#")

    def day(value: str) -> str:
        match = re.fullmatch(r"([0-9]{1,2})(L?)", value)
        if match is None:
            return value  # a name (MON), * or something cron will refuse
        number = int(match.group(1))
        if not 1 <= number <= 7:
            raise _field_problem(
                "schedule.cronExpression",
                f"The day-of-week value {value} is not a Quartz day: they go from 1 "
                "(Sunday) to 7 (Saturday), or SUN to SAT.",
            )
        return f"{number - 1}{match.group(2)}"

    base = "-".join(day(side) for side in base.split("-"))
    return f"{base}{hash_mark}{nth}{slash}{step}"


def _quartz_part(index: int, part: str) -> str:
    """One comma-separated part of a Quartz field as 5-field cron."""
    if index == 4:
        part = _quartz_dow(part)
    base, slash, step = part.partition("/")
    if slash and base not in ("*", "") and "-" not in base:
        # Quartz "5/15" means from 5 every 15; cron says "5-59/15".
        base = f"{base}-{_CRON_MAX[index]}"
    return f"{base}{slash}{step}"


def quartz_to_cron(raw: str) -> CronSchedule:
    """Airbyte's Quartz expression (optionally ending in a time zone) as 5-field cron.

    Raises a 400 problem that says what to change; the result is checked again
    by the schedule itself (``timing.parse_cron``, the minimum gap).
    """
    if len(raw) > MAX_CRON_LENGTH:
        raise _field_problem(
            "schedule.cronExpression",
            f"The cron expression is {len(raw)} characters long; the console keeps "
            f"at most {MAX_CRON_LENGTH}.",
        )
    tokens = raw.split()
    zone_name = "UTC"
    # A 7th or 8th field with a letter is a time zone: a year never has one.
    if len(tokens) in (7, 8) and re.search(r"[A-Za-z]", tokens[-1]):
        zone_name = tokens.pop()
        try:
            timing.zone(zone_name)
        except ValidationError as exc:
            raise _field_problem("schedule.cronExpression", exc.messages[0]) from None
    if len(tokens) == 7:
        if tokens[6] != "*":
            raise _field_problem(
                "schedule.cronExpression",
                f"The cron expression {raw} names a year ({tokens[6]}); the console's "
                "schedules repeat every year: leave the year out or use *.",
            )
        tokens = tokens[:6]
    if len(tokens) != 6:
        raise _field_problem(
            "schedule.cronExpression",
            f"The cron expression {raw} is not a Quartz expression: it has "
            f"{len(tokens)} fields, and Airbyte's have 6 or 7 (seconds minutes hours "
            "day-of-month month day-of-week [year]), e.g. 0 0 12 * * ?.",
        )
    if not re.fullmatch(r"0+", tokens[0]):
        raise _field_problem(
            "schedule.cronExpression",
            f"The cron expression {raw} runs at second {tokens[0]}; the console "
            "runs schedules to the minute, so the seconds field must be 0 "
            "(e.g. 0 0 12 * * ?).",
        )
    fields = []
    for index, value in enumerate(tokens[1:]):
        if "W" in value.upper().replace("WED", ""):
            raise _field_problem(
                "schedule.cronExpression",
                f"The {_QUARTZ_FIELDS[index + 1]} field {value} asks for the nearest "
                "weekday (W), which the console's cron cannot express.",
            )
        value = "*" if value == "?" else value
        fields.append(",".join(_quartz_part(index, p) for p in value.split(",")))
    expression = " ".join(fields)
    try:
        expression = timing.parse_cron(expression)
    except ValidationError as exc:
        raise _field_problem(
            "schedule.cronExpression",
            f"The cron expression {raw} is not valid: {exc.messages[0]}",
        ) from None
    return CronSchedule(expression=expression, timezone=zone_name)


def _cron_dow(part: str) -> str:
    """One part of cron's day-of-week (0 or 7 = Sunday) as Quartz's (1 = Sunday)."""

    def day(value: str) -> str:
        return str(int(value) % 7 + 1) if value.isdigit() else value

    base, slash, step = part.partition("/")
    first, dash, last = base.partition("-")
    if dash:
        if first.isdigit() and last == "7":
            if first == "0":
                return f"1-7{slash}{step}"
            # Ends on Sunday: Quartz's week ends on Saturday, so Sunday joins apart.
            return f"{int(first) + 1}-7{slash}{step},1"
        return f"{day(first)}-{day(last)}{slash}{step}"
    suffix = ""
    match = re.fullmatch(r"(\d+)([L#].*)", base)
    if match:
        first, suffix = match.group(1), match.group(2)
    return f"{day(first)}{suffix}{slash}{step}"


def cron_to_quartz(expression: str) -> str:
    """The console's 5-field cron in Airbyte's Quartz form (``0 0 12 * * ?``)."""
    minute, hour, dom, month, dow = expression.split()
    if dow == "*":
        dow = "?"
    else:
        dow = ",".join(_cron_dow(p) for p in dow.split(","))
        if dom == "*":
            dom = "?"
    return f"0 {minute} {hour} {dom} {month} {dow}"


def schedule_json(schedule: Schedule | None) -> dict[str, Any]:
    """A connection's schedule as ``ConnectionScheduleResponse``."""
    if schedule is None or schedule.kind == Schedule.Kind.MANUAL:
        return {"scheduleType": "manual"}
    if schedule.kind == Schedule.Kind.CRON:
        quartz = cron_to_quartz(schedule.cron_expression)
        return {
            "scheduleType": "cron",
            "cronExpression": f"{quartz} {schedule.timezone}",
        }
    minutes = schedule.interval_minutes or 0
    for size, unit in ((1440, "DAYS"), (60, "HOURS"), (1, "MINUTES")):
        if minutes % size == 0:
            return {
                "scheduleType": "basic",
                "basicTiming": f"Every {minutes // size} {unit}",
            }
    return {"scheduleType": "basic"}  # pragma: no cover - every size divides by 1


def _schedule_wanted(schedule: ConnectionSchedule) -> CronSchedule | None:
    """The cron a request asks for; None for ``manual``."""
    if schedule.scheduleType == "manual":
        return None
    if not (schedule.cronExpression or "").strip():
        raise _field_problem(
            "schedule.cronExpression",
            "A cron schedule needs cronExpression, e.g. 0 0 12 * * ? (noon UTC).",
        )
    return quartz_to_cron(schedule.cronExpression)


def _schedule_name(connection: Connection) -> str:
    """A free schedule name for the connection (names are unique in a workspace)."""
    base = connection.name[:90]
    taken = set(
        Schedule.objects.for_workspace(connection.workspace)
        .filter(name__istartswith=base)
        .values_list("name", flat=True)
    )
    taken = {name.lower() for name in taken}
    name, number = base, 2
    while name.lower() in taken:
        name, number = f"{base} ({number})", number + 1
    return name


def apply_schedule(
    *, actor: Any, connection: Connection, wanted: CronSchedule | None
) -> None:
    """Make the connection's schedule what was asked (inside the caller's atomic)."""
    existing = Schedule.objects.filter(connection=connection).first()
    if wanted is None:
        if existing is not None:
            schedule_delete(actor=actor, schedule=existing)
        return
    if existing is not None:
        schedule_update(
            actor=actor,
            schedule=existing,
            name=existing.name,
            kind=Schedule.Kind.CRON,
            cron_expression=wanted.expression,
            timezone_name=wanted.timezone,
        )
        return
    schedule_create(
        actor=actor,
        workspace=connection.workspace,
        connection=connection,
        name=_schedule_name(connection),
        kind=Schedule.Kind.CRON,
        cron_expression=wanted.expression,
        timezone_name=wanted.timezone,
    )


# --- streams -----------------------------------------------------------------------


def _valid_modes(stream: dict[str, Any]) -> list[str]:
    supported = stream.get("supported_sync_modes") or [SyncMode.FULL_REFRESH]
    return [word for word, (mode, _) in SYNC_MODES.items() if mode in supported]


def _find_stream(
    streams: dict[tuple[str, str], dict[str, Any]], name: str, namespace: str | None
) -> dict[str, Any]:
    if namespace is not None:
        found = streams.get((namespace, name))
        matches = [found] if found else []
    else:
        matches = [s for (_, n), s in streams.items() if n == name]
    if not matches:
        listed = ", ".join(sorted({n for _, n in streams}))
        raise _field_problem(
            "configurations.streams",
            f"Invalid stream found: {name}. The list of available streams is: "
            f"{listed}.",
        )
    if len(matches) > 1:
        raise _field_problem(
            "configurations.streams",
            f"The source has several streams named {name}: give its namespace.",
        )
    return matches[0]


def stream_choices(
    catalog: dict[str, Any] | None, configurations: StreamConfigurations | None
) -> list[dict[str, Any]]:
    """The services' stream choices for a request's ``configurations``.

    Streams the request lists are selected with their modes; the catalog's other
    streams are kept unselected. No list means every stream, in its best mode.
    The services check the result against the catalog again (cursor, key).
    """
    streams = catalog_streams(catalog)
    requested = (configurations.streams if configurations else None) or []
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    for item in requested:
        stream = _find_stream(streams, item.name, item.namespace)
        key = (stream.get("namespace") or "", stream["name"])
        label = f"{key[0]}.{key[1]}" if key[0] else key[1]
        if key in chosen:
            raise _field_problem(
                "configurations.streams",
                f"Duplicate stream found in configuration for: {label}.",
            )
        chosen[key] = _choice(stream, item, label)
    choices = []
    for key, stream in streams.items():
        if key in chosen:
            choices.append(chosen[key])
            continue
        default = default_choice(stream)
        choices.append(
            {
                "name": default.name,
                "namespace": default.namespace,
                "selected": not requested,
                "sync_mode": default.sync_mode,
                "destination_sync_mode": default.destination_sync_mode,
                "cursor_field": default.cursor_field,
                "primary_key": default.primary_key,
            }
        )
    return choices


def _choice(stream: dict[str, Any], item: Any, label: str) -> dict[str, Any]:
    default = default_choice(stream)
    if item.mappers:
        raise _field_problem(
            "configurations.streams.mappers",
            f"Stream {label}: the console has no stream mappers; send none.",
        )
    if item.includeFiles:
        raise _field_problem(
            "configurations.streams.includeFiles",
            f"Stream {label}: the console's destinations do not move raw files.",
        )
    if item.destinationObjectName:
        raise _field_problem(
            "configurations.streams.destinationObjectName",
            f"Stream {label}: the console's destinations take no object name.",
        )
    if item.syncMode is None:
        sync_mode, destination_mode = default.sync_mode, default.destination_sync_mode
    else:
        pair = SYNC_MODES.get(item.syncMode)
        if pair is None or item.syncMode not in _valid_modes(stream):
            raise _field_problem(
                "configurations.streams.syncMode",
                f"Cannot set sync mode to {item.syncMode} for stream {label}. Valid "
                f"sync modes are: {', '.join(_valid_modes(stream))}.",
            )
        sync_mode, destination_mode = pair
    properties = (stream.get("json_schema") or {}).get("properties") or {}
    fields: list[str] = []
    for info in item.selectedFields or []:
        path = info.fieldPath or []
        if len(path) != 1:
            raise _field_problem(
                "configurations.streams.selectedFields",
                f"Stream {label}: the console selects top-level fields only; "
                f"{'.'.join(path) or 'an empty path'} is not one.",
            )
        if path[0] not in properties:
            raise _field_problem(
                "configurations.streams.selectedFields",
                f"Stream {label}: the field {path[0]} is not in the stream's schema.",
            )
        fields.append(path[0])
    return {
        "name": stream["name"],
        "namespace": stream.get("namespace") or "",
        "selected": True,
        "sync_mode": sync_mode,
        "destination_sync_mode": destination_mode,
        "cursor_field": list(item.cursorField or default.cursor_field),
        "primary_key": [list(p) for p in item.primaryKey or default.primary_key],
        "selected_fields": fields,
    }


def stream_json(row: ConnectionStream) -> dict[str, Any]:
    """One synced stream as ``StreamConfiguration``."""
    word = _MODE_WORDS.get((row.sync_mode, row.destination_sync_mode))
    if row.remote_sync_mode and row.remote_sync_mode in _KEPT_WORDS:
        # Imported from an Airbyte server with a mode the console cannot run:
        # its nearest relative runs here, the server's word is what it reads as.
        word = row.remote_sync_mode
    out: dict[str, Any] = {
        "name": row.name,
        "syncMode": word or "full_refresh_overwrite",
        "mappers": [],
    }
    if row.namespace:
        out["namespace"] = row.namespace
    if row.sync_mode == SyncMode.INCREMENTAL and row.cursor_field:
        out["cursorField"] = list(row.cursor_field)
    if row.primary_key:
        out["primaryKey"] = [list(path) for path in row.primary_key]
    if row.selected_fields:
        out["selectedFields"] = [{"fieldPath": [name]} for name in row.selected_fields]
    return out


_KEPT_WORDS = frozenset(
    {
        "full_refresh_overwrite_deduped",
        "full_refresh_update",
        "full_refresh_soft_delete",
        "incremental_update",
        "incremental_soft_delete",
    }
)


# --- namespaces ----------------------------------------------------------------------


def destination_schema(destination: Destination) -> str:
    """Where ``namespaceDefinition: destination`` puts tables: its own schema."""
    value = (destination.config or {}).get("schema")
    if isinstance(value, str) and _SCHEMA_NAME.match(value):
        return value
    return "public"


def resolve_namespace(
    *,
    definition: str,
    namespace_format: str | None,
    destination: Destination,
    source_namespaces: set[str],
) -> str:
    """The console schema for Airbyte's namespace settings (see the module doc)."""
    default = destination_schema(destination)
    if definition == "destination":
        return default
    text = SOURCE_NAMESPACE if definition == "source" else (namespace_format or "")
    if not text.strip():
        return default
    if SOURCE_NAMESPACE in text:
        names = sorted(n for n in source_namespaces if n)
        if len(names) > 1:
            raise _field_problem(
                "namespaceDefinition",
                "The synced streams come from several namespaces "
                f"({', '.join(names)}); the console writes a connection into one "
                "schema: choose one with namespaceDefinition custom_format.",
            )
        if not names and text.strip() == SOURCE_NAMESPACE:
            return default
        text = text.replace(SOURCE_NAMESPACE, names[0] if names else "")
    if not _SCHEMA_NAME.match(text):
        raise _field_problem(
            "namespaceFormat",
            f"The schema name {text!r} is not one the console can use: letters, "
            "digits and underscores, starting with a letter or an underscore, at "
            "most 63 characters.",
        )
    return text


def _selected_namespaces(choices: list[dict[str, Any]]) -> set[str]:
    return {c["namespace"] for c in choices if c["selected"] and c["namespace"]}


def _prefix(value: str | None) -> str | None:
    if value is not None and not _PREFIX.match(value):
        raise _field_problem(
            "prefix",
            "The prefix takes letters, digits and underscores only, at most 40.",
        )
    return value


def _name(value: str | None) -> str | None:
    """The name asked for; None when blank (create then names it after its ends)."""
    if value is None or not value.strip():
        return None
    if "\x00" in value:
        # PostgreSQL cannot store it; the console's forms refuse it too.
        raise _field_problem("name", "The name contains a NUL character.")
    return value


def _refuse_tags(tags: list[Any] | None) -> None:
    if tags:
        raise _field_problem(
            "tags", "The console has no connection tags; send none (or [])."
        )


# --- reading -----------------------------------------------------------------------


def connections_queryset() -> QuerySet[Connection]:
    """Connections with what their answer shows, in a fixed order for paging."""
    return (
        Connection.objects.select_related(
            "workspace", "source", "destination", "schedule"
        )
        .prefetch_related("streams")
        .order_by("created_at", "pk")
    )


def _schedule_of(connection: Connection) -> Schedule | None:
    try:
        return connection.schedule
    except Schedule.DoesNotExist:
        return None


def connection_json(connection: Connection) -> dict[str, Any]:
    """A connection as ``ConnectionResponse``."""
    out: dict[str, Any] = {
        "connectionId": connection.public_id,
        "name": connection.name,
        "sourceId": connection.source.public_id,
        "destinationId": connection.destination.public_id,
        "workspaceId": connection.workspace.public_id,
        "status": "active"
        if connection.status == Connection.Status.ACTIVE
        else "inactive",
        "schedule": schedule_json(_schedule_of(connection)),
        "nonBreakingSchemaUpdatesBehavior": connection.schema_change_policy,
        "prefix": connection.table_prefix,
        "configurations": {
            "streams": [stream_json(s) for s in connection.streams.all() if s.selected]
        },
        "createdAt": int(connection.created_at.timestamp()),
        "tags": [],
    }
    if connection.status != Connection.Status.ACTIVE and connection.status_reason:
        out["statusReason"] = connection.status_reason
    if connection.namespace == destination_schema(connection.destination):
        out["namespaceDefinition"] = "destination"
    else:
        out["namespaceDefinition"] = "custom_format"
        out["namespaceFormat"] = connection.namespace
    return out


def _reloaded(connection: Connection) -> Connection:
    return connections_queryset().get(pk=connection.pk)


def _with_catalog(request: HttpRequest, source: Source) -> Source:
    """The source with a discovered catalog: discovered now when it has none."""
    if source.catalog:
        return source
    return wait_for_discover(actor=principal(request).user, source=source)


# --- endpoints -----------------------------------------------------------------------


@router.get(
    "connections",
    response=ConnectionsResponse,
    operation_id="listConnections",
    summary="List connections",
    exclude_none=True,
)
def list_connections(
    request: HttpRequest,
    workspaceIds: Query[list[str] | None] = None,
    tagIds: Query[list[str] | None] = None,
    includeDeleted: bool = False,
    limit: int = 20,
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """The caller's connections, oldest first; ``workspaceIds`` narrows them."""
    rows = connections_queryset().filter(
        workspace__in=requested_workspaces(
            member_workspaces(request), id_list(workspaceIds)
        )
    )
    if id_list(tagIds):
        rows = rows.none()  # the console's connections have no tags
    page = paginate(request, rows, limit=limit, offset=offset)
    page["data"] = [connection_json(c) for c in page["data"]]
    return page


@router.post(
    "connections",
    response=ConnectionResponse,
    operation_id="createConnection",
    summary="Create a connection",
    exclude_none=True,
)
def create_connection(
    request: HttpRequest, payload: ConnectionCreateRequest
) -> dict[str, Any]:
    """Create a connection (editor); the source is discovered first if it never was."""
    user = principal(request).user
    source, _ = scoped_get(
        request, Source, payload.sourceId, Role.EDITOR, resource_type="source"
    )
    destination, _ = scoped_get(
        request,
        Destination,
        payload.destinationId,
        Role.EDITOR,
        resource_type="destination",
    )
    if destination.workspace_id != source.workspace_id:
        raise _field_problem(
            "destinationId", "The source and destination must be in one workspace."
        )
    _refuse_tags(payload.tags)
    if payload.status == "deprecated":
        raise _field_problem(
            "status", "A new connection is active or inactive, not deprecated."
        )
    wanted_schedule = _schedule_wanted(payload.schedule) if payload.schedule else None
    prefix = _prefix(payload.prefix) or ""
    source = _with_catalog(request, source)
    choices = stream_choices(source.catalog, payload.configurations)
    definition = payload.namespaceDefinition or (
        "custom_format" if payload.namespaceFormat else "destination"
    )
    namespace = resolve_namespace(
        definition=definition,
        namespace_format=payload.namespaceFormat,
        destination=destination,
        source_namespaces=_selected_namespaces(choices),
    )
    name = _name(payload.name)
    if name is None:
        name = _free_name(source.workspace, f"{source.name} → {destination.name}")
    try:
        with transaction.atomic():
            connection = connection_create(
                actor=user,
                workspace=source.workspace,
                name=name,
                source=source,
                destination=destination,
                streams=choices,
                namespace=namespace,
                table_prefix=prefix,
                schema_change_policy=payload.nonBreakingSchemaUpdatesBehavior
                or Connection.SchemaChangePolicy.IGNORE,
            )
            if payload.status == "inactive":
                connection_set_status(
                    actor=user, connection=connection, status=Connection.Status.PAUSED
                )
            if wanted_schedule is not None:
                apply_schedule(
                    actor=user, connection=connection, wanted=wanted_schedule
                )
    except ValidationError as exc:
        raise invalid(exc) from None
    return connection_json(_reloaded(connection))


def _free_name(workspace: Workspace, base: str) -> str:
    """``base``, numbered when a connection of the workspace already has it."""
    base = " ".join(base.split())[:190]
    taken = {
        n.lower()
        for n in Connection.objects.for_workspace(workspace)
        .filter(name__istartswith=base)
        .values_list("name", flat=True)
    }
    name, number = base, 2
    while name.lower() in taken:
        name, number = f"{base} ({number})", number + 1
    return name


@router.get(
    "connections/{connectionId}",
    response=ConnectionResponse,
    operation_id="getConnection",
    summary="Get Connection details",
    exclude_none=True,
)
def get_connection(request: HttpRequest, connectionId: str) -> dict[str, Any]:
    connection, _ = scoped_get(
        request, connections_queryset(), connectionId, Role.VIEWER
    )
    return connection_json(connection)


@router.patch(
    "connections/{connectionId}",
    response=ConnectionResponse,
    operation_id="patchConnection",
    summary="Update Connection details",
    exclude_none=True,
)
def patch_connection(
    request: HttpRequest,
    connectionId: str,
    payload: ConnectionPatchRequest,
) -> dict[str, Any]:
    """Change what the request sends (editor); ``configurations`` replaces the
    stream selection."""
    user = principal(request).user
    connection, _ = scoped_get(
        request, connections_queryset(), connectionId, Role.EDITOR
    )
    _refuse_tags(payload.tags)
    if payload.status == "deprecated":
        raise _field_problem(
            "status", "Delete the connection (DELETE) rather than deprecate it."
        )
    wanted_schedule = _schedule_wanted(payload.schedule) if payload.schedule else None
    prefix = _prefix(payload.prefix)
    choices = None
    if payload.configurations is not None:
        source = _with_catalog(request, connection.source)
        choices = stream_choices(source.catalog, payload.configurations)
    namespace = None
    if payload.namespaceDefinition is not None or payload.namespaceFormat is not None:
        definition = payload.namespaceDefinition or "custom_format"
        if definition != "custom_format" or payload.namespaceFormat is not None:
            namespaces = (
                _selected_namespaces(choices)
                if choices is not None
                else {s.namespace for s in connection.streams.all() if s.selected}
            )
            namespace = resolve_namespace(
                definition=definition,
                namespace_format=payload.namespaceFormat,
                destination=connection.destination,
                source_namespaces=namespaces,
            )
    name = _name(payload.name)
    changes = {
        "name": name,
        "streams": choices,
        "namespace": namespace,
        "table_prefix": prefix,
        "schema_change_policy": payload.nonBreakingSchemaUpdatesBehavior,
    }
    try:
        with transaction.atomic():
            if _changes_anything(connection, changes):
                connection = connection_update(
                    actor=user, connection=connection, **changes
                )
            if payload.schedule is not None:
                apply_schedule(
                    actor=user, connection=connection, wanted=wanted_schedule
                )
            if payload.status is not None:
                _apply_status(user, connection, payload.status)
    except ValidationError as exc:
        raise invalid(exc) from None
    return connection_json(_reloaded(connection))


def _changes_anything(connection: Connection, changes: dict[str, Any]) -> bool:
    """Whether a PATCH would change the connection's settings or streams.

    Airbyte's clients send the whole connection again on every change (the
    console's own airbyte engine does before each sync): the same settings again
    write no ``connection.updated`` row.
    """
    current = {
        "name": connection.name,
        "namespace": connection.namespace,
        "table_prefix": connection.table_prefix,
        "schema_change_policy": connection.schema_change_policy,
    }
    for key, value in current.items():
        if changes[key] is not None and changes[key] != value:
            return True
    if changes["streams"] is None:
        return False
    wanted = [StreamChoice.from_dict(c) for c in changes["streams"]]
    if validate_choices(connection.source.catalog, wanted):
        return True  # let the service refuse it with every reason
    return _by_stream([asdict(c) for c in wanted]) != _by_stream(
        stream_choices_for(connection)
    )


def _by_stream(choices: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    return {(c["namespace"], c["name"]): c for c in choices}


def _apply_status(actor: Any, connection: Connection, status: str) -> None:
    current = Connection.objects.get(pk=connection.pk)
    if status == "active" and current.status != Connection.Status.ACTIVE:
        connection_set_status(
            actor=actor, connection=current, status=Connection.Status.ACTIVE
        )
    elif status == "inactive" and current.status == Connection.Status.ACTIVE:
        connection_set_status(
            actor=actor, connection=current, status=Connection.Status.PAUSED
        )


@router.delete(
    "connections/{connectionId}",
    response={204: None},
    operation_id="deleteConnection",
    summary="Delete a Connection",
)
def delete_connection(request: HttpRequest, connectionId: str) -> Status[None]:
    """Delete a connection and its history (editor); refused while a sync runs."""
    connection, _ = scoped_get(request, Connection, connectionId, Role.EDITOR)
    try:
        connection_delete(actor=principal(request).user, connection=connection)
    except ValidationError as exc:
        raise conflict(" ".join(exc.messages)) from None
    return Status(204, None)
