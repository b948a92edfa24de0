"""Public API endpoints (``/api/public/v1``): one function per operation."""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from tests.airbyte_fake.core import (
    ApiError,
    Call,
    Reply,
    actor_or_404,
    bad_request,
    check_client,
    connection_or_404,
    definition_or_404,
    ensure_valid_config,
    issue_token,
    job_or_404,
    scripted,
    workspace_or_404,
)
from tests.airbyte_fake.shapes import (
    actor_json,
    connection_json,
    job_json,
    workspace_json,
)
from tests.airbyte_fake.state import (
    ACTIVE_JOB_STATUSES,
    PUBLIC_SYNC_MODES,
    Actor,
    ConfiguredStream,
    Connection,
    Definition,
    Job,
    JobScript,
    Workspace,
    deep_merge,
    job_ids,
    keep_masked_secrets,
    new_id,
)
from tests.airbyte_fake.versions import refuse_sync_modes


def paginate(call: Call, items: list[Any], resource: str) -> dict[str, Any]:
    """Public API pagination, including the links the real server gets wrong."""
    limit = call.int_arg("limit", 20)
    offset = call.int_arg("offset", 0)
    page = items[offset : offset + limit]
    # Links are built from AIRBYTE_API_HOST, which community installs leave at the
    # pod address http://localhost:8001/api/public: clients must not follow them.
    kept = {
        key: ",".join(values)
        for key, values in call.query.items()
        if key not in {"limit", "offset"}
    }

    def link(new_offset: int) -> str:
        query = urlencode({**kept, "limit": limit, "offset": new_offset}, safe=",|")
        return f"{call.fake.public_api_host}/v1/{resource}?{query}"

    has_next = bool(page) and (call.fake.next_on_last_page or len(page) == limit)
    return {
        "data": page,
        "next": link(offset + limit) if has_next else "",
        "previous": link(max(offset - limit, 0)) if offset else "",
    }


def public_health(call: Call) -> Reply:
    return Reply(body="Successful operation", content_type="text/plain")


def public_token(call: Call) -> Reply:
    check_client(call)
    token, lifetime = issue_token(call)
    return Reply(
        body={"access_token": token, "token_type": "Bearer", "expires_in": lifetime}
    )


def list_workspaces(call: Call) -> Reply:
    wanted = set(call.args("workspaceIds"))
    deleted = call.bool_arg("includeDeleted")
    items = [
        workspace_json(w)
        for w in call.state.workspaces.values()
        if (not wanted or w.id in wanted) and (deleted or not w.deleted)
    ]
    return Reply(body=paginate(call, items, "workspaces"))


def create_workspace(call: Call) -> Reply:
    workspace = Workspace(
        id=new_id(),
        name=call.field("name"),
        notifications=copy.deepcopy(call.field("notifications") or {}),
    )
    call.state.workspaces[workspace.id] = workspace
    return Reply(body=workspace_json(workspace))


def get_workspace(call: Call) -> Reply:
    return Reply(
        body=workspace_json(workspace_or_404(call, call.params["workspaceId"]))
    )


def patch_workspace(call: Call) -> Reply:
    workspace = workspace_or_404(call, call.params["workspaceId"])
    if call.field("name") is not None:
        workspace.name = call.field("name")
    for key, value in (call.field("notifications") or {}).items():
        workspace.notifications[key] = copy.deepcopy(value)
    return Reply(body=workspace_json(workspace))


def delete_workspace(call: Call) -> Reply:
    workspace_or_404(call, call.params["workspaceId"]).deleted = True
    return Reply(status=204)


def list_connector_definitions(call: Call) -> Reply:
    kind = call.arg("type")
    if call.arg("workspaceId"):
        workspace_or_404(call, call.arg("workspaceId"))
    data = [
        {
            "id": d.id,
            "name": d.name,
            "connectorDefinitionType": d.kind,
            "version": d.docker_image_tag,
        }
        for d in call.state.definitions.values()
        if d.kind == kind
    ]
    return Reply(body={"data": data})


def workspace_definitions(call: Call, kind: str) -> Reply:
    workspace = workspace_or_404(call, call.params["workspaceId"])
    data = [
        {
            "id": d.id,
            "name": d.name,
            "dockerRepository": d.docker_repository,
            "dockerImageTag": d.docker_image_tag,
            "documentationUrl": d.documentation_url,
        }
        for d in call.state.definitions.values()
        if d.kind == kind and d.visible_to(workspace.id)
    ]
    return Reply(body={"data": data})


def _actor_store(call: Call, kind: str) -> dict[str, Actor]:
    return call.state.sources if kind == "source" else call.state.destinations


def list_actors(call: Call, kind: str) -> Reply:
    wanted = set(call.args("workspaceIds"))
    deleted = call.bool_arg("includeDeleted")
    items = [
        actor_json(call, a)
        for a in _actor_store(call, kind).values()
        if (not wanted or a.workspace_id in wanted) and (deleted or not a.deleted)
    ]
    return Reply(body=paginate(call, items, f"{kind}s"))


def create_actor(call: Call, kind: str) -> Reply:
    workspace = workspace_or_404(call, call.field("workspaceId"))
    configuration = copy.deepcopy(call.field("configuration") or {})
    definition_id = call.field("definitionId")
    if definition_id:
        definition = definition_or_404(call, definition_id, kind)
    else:
        # Without a definitionId the server looks up configuration.<kind>Type.
        type_name = configuration.get(f"{kind}Type")
        if not type_name:
            raise ApiError(
                422,
                "unprocessable-entity",
                f"One of definitionId or configuration.{kind}Type must be provided.",
            )
        matches = [
            d
            for d in call.state.definitions.values()
            if d.kind == kind and d.type_name == type_name
        ]
        if not matches:
            raise ApiError(
                400,
                "value-not-found",
                f"The value {type_name} was not found.",
                data={"value": str(type_name)},
            )
        definition = matches[0]
    ensure_valid_config(configuration, definition)
    actor = Actor(
        id=new_id(),
        kind=kind,
        name=call.field("name"),
        definition_id=definition.id,
        workspace_id=workspace.id,
        configuration=configuration,
    )
    _actor_store(call, kind)[actor.id] = actor
    return Reply(body=actor_json(call, actor))


def _tombstone(call: Call, kind: str) -> Actor | None:
    """A deleted source or destination: the server keeps the row as a tombstone."""
    actor = _actor_store(call, kind).get(call.params["id"])
    return actor if actor is not None and actor.deleted else None


def tombstone_reply(call: Call, actor: Actor) -> Reply:
    """What the server answers for a deleted actor on GET, PUT and PATCH: 200, with
    its configuration (secrets included) emptied, never 404. A write changes
    nothing: the object stays deleted (``SourceHandler``/``SourceServiceJooqImpl``)."""
    return Reply(body={**actor_json(call, actor), "configuration": {}})


def get_actor(call: Call, kind: str) -> Reply:
    tombstone = _tombstone(call, kind)
    if tombstone is not None:
        return tombstone_reply(call, tombstone)
    return Reply(body=actor_json(call, actor_or_404(call, kind, call.params["id"])))


def update_actor(call: Call, kind: str) -> Reply:
    tombstone = _tombstone(call, kind)
    if tombstone is not None:
        return tombstone_reply(call, tombstone)
    actor = actor_or_404(call, kind, call.params["id"])
    definition = call.state.definitions[actor.definition_id]
    new_config = call.field("configuration")
    if call.method == "PUT":
        configuration = keep_masked_secrets(new_config or {}, actor.configuration)
    elif new_config is not None:
        # Like the real server's partial update, PATCH takes a value as it comes:
        # a mask sent back replaces the stored secret with the mask's text. (PUT
        # keeps the stored secret where the mask is sent; the console uses PUT.)
        configuration = deep_merge(actor.configuration, new_config)
    else:
        configuration = actor.configuration
    ensure_valid_config(configuration, definition)
    actor.configuration = configuration
    if call.field("name") is not None:
        actor.name = call.field("name")
    return Reply(body=actor_json(call, actor))


def delete_actor(call: Call, kind: str) -> Reply:
    actor = actor_or_404(call, kind, call.params["id"])
    actor.deleted = True
    # Deleting a source or destination soft-deletes every connection that uses it.
    for connection in call.state.connections.values():
        if actor.id in (connection.source_id, connection.destination_id):
            connection.status = "deprecated"
    return Reply(status=204)


_CRON_ONE_HOUR = (
    "The cron expression {expr} is not valid or is less than the one hour minimum. "
    "The seconds and minutes values cannot be `*`."
)


def parse_schedule(schedule: dict[str, Any] | None) -> tuple[str, str | None]:
    if not schedule or schedule.get("scheduleType") == "manual":
        return "manual", None
    expression = (schedule.get("cronExpression") or "").strip()
    if not expression:
        raise ApiError(
            400,
            "Cron data is missing",
            "If schedule type is cron, scheduleData.cron must be provided.",
            data={},
        )
    # Create and PATCH strip a trailing UTC, so a read-back value round-trips.
    expression = expression.removesuffix(" UTC").strip()
    fields = expression.split()
    numeric = re.compile(r"^\d+$")
    if (
        len(fields) not in (6, 7)
        or not numeric.match(fields[0])
        or (len(fields) == 7 and not numeric.match(fields[1]))
    ):
        raise bad_request(_CRON_ONE_HOUR.format(expr=expression))
    return "cron", expression


def build_streams(
    source: Definition, destination: Definition, configurations: Any
) -> list[ConfiguredStream]:
    """Validate the requested streams the way the server's catalog helper does."""
    discovered = {s.name: s for s in source.streams}
    requested = (configurations or {}).get("streams") or [
        {"name": name} for name in discovered
    ]
    streams: list[ConfiguredStream] = []
    seen: set[str] = set()
    for item in requested:
        name = item.get("name")
        stream = discovered.get(name)
        if stream is None:
            raise bad_request(
                f"Invalid stream found: {name}. The list of available streams is: "
                f"{', '.join(discovered)}."
            )
        if name in seen:
            raise bad_request(f"Duplicate stream found in configuration for: {name}.")
        seen.add(name)
        sync_mode = item.get("syncMode") or "full_refresh_overwrite"
        source_mode, destination_mode = PUBLIC_SYNC_MODES[sync_mode]
        if (
            source_mode not in stream.supported_sync_modes
            or destination_mode not in destination.supported_destination_sync_modes
        ):
            raise bad_request(
                f"Cannot set sync mode to {sync_mode} for stream {name}. Valid sync "
                f"modes are: {', '.join(valid_sync_modes(stream, destination))}."
            )
        properties = stream.json_schema.get("properties", {})
        cursor: list[str] = []
        if source_mode == "incremental":
            if stream.source_defined_cursor:
                cursor = list(stream.default_cursor_field)
            else:
                cursor = list(item.get("cursorField") or stream.default_cursor_field)
            if not cursor:
                raise bad_request(f"No default cursor field for stream {name}.")
            if cursor[0] not in properties:
                raise bad_request(
                    f"Invalid cursor field for stream {name}: {cursor}. The list of "
                    f"valid fields is: {', '.join(properties)}."
                )
        primary_key = copy.deepcopy(
            item.get("primaryKey") or stream.source_defined_primary_key
        )
        if destination_mode.endswith("dedup") and not primary_key:
            raise bad_request(f"No default primary key for stream {name}.")
        for key_path in primary_key:
            if not key_path or key_path[0] not in properties:
                raise bad_request(
                    f"Invalid primary key for stream {name}: {primary_key}. The list "
                    f"of valid fields is: {', '.join(properties)}."
                )
        streams.append(
            ConfiguredStream(
                name=name,
                sync_mode=sync_mode,
                cursor_field=cursor,
                primary_key=primary_key,
                namespace=item.get("namespace") or stream.namespace,
                selected_fields=copy.deepcopy(item.get("selectedFields")),
                mappers=copy.deepcopy(item.get("mappers") or []),
            )
        )
    return streams


def valid_sync_modes(stream: Any, destination: Definition) -> list[str]:
    return [
        public
        for public, (source_mode, destination_mode) in PUBLIC_SYNC_MODES.items()
        if source_mode in stream.supported_sync_modes
        and destination_mode in destination.supported_destination_sync_modes
    ]


def _apply_connection_fields(call: Call, connection: Connection) -> None:
    if call.field("name") is not None:
        connection.name = call.field("name")
    if call.field("schedule") is not None:
        connection.schedule_type, connection.cron_expression = parse_schedule(
            call.field("schedule")
        )
    for attribute, key in (
        ("status", "status"),
        ("namespace_definition", "namespaceDefinition"),
        ("namespace_format", "namespaceFormat"),
        ("prefix", "prefix"),
        ("non_breaking_behavior", "nonBreakingSchemaUpdatesBehavior"),
    ):
        if call.field(key) is not None:
            setattr(connection, attribute, call.field(key))
    if call.field("tags") is not None:
        connection.tags = copy.deepcopy(call.field("tags"))


def list_connections(call: Call) -> Reply:
    wanted = set(call.args("workspaceIds"))
    tags = set(call.args("tagIds"))
    deleted = call.bool_arg("includeDeleted")
    items = [
        connection_json(c)
        for c in call.state.connections.values()
        if (not wanted or c.workspace_id in wanted)
        and (deleted or c.status != "deprecated")
        and (not tags or tags & {t.get("tagId") for t in c.tags})
    ]
    return Reply(body=paginate(call, items, "connections"))


def create_connection(call: Call) -> Reply:
    source = actor_or_404(call, "source", call.field("sourceId"))
    destination = actor_or_404(call, "destination", call.field("destinationId"))
    if source.workspace_id != destination.workspace_id:
        raise bad_request("Source and destination must be in the same workspace.")
    refuse_sync_modes(call.fake.version, call.field("configurations"))  # #12 p. 8
    streams = build_streams(
        call.state.definitions[source.definition_id],
        call.state.definitions[destination.definition_id],
        call.field("configurations"),
    )
    connection = Connection(
        id=new_id(),
        name=f"{source.name} → {destination.name}",
        source_id=source.id,
        destination_id=destination.id,
        workspace_id=source.workspace_id,
        streams=streams,
    )
    _apply_connection_fields(call, connection)
    call.state.connections[connection.id] = connection
    return Reply(body=connection_json(connection))


def get_connection(call: Call) -> Reply:
    return Reply(body=connection_json(connection_or_404(call, call.params["id"])))


def patch_connection(call: Call) -> Reply:
    connection = connection_or_404(call, call.params["id"])
    if call.field("configurations") is not None:
        refuse_sync_modes(call.fake.version, call.field("configurations"))  # p. 8
        source = call.state.sources[connection.source_id]
        destination = call.state.destinations[connection.destination_id]
        connection.streams = build_streams(
            call.state.definitions[source.definition_id],
            call.state.definitions[destination.definition_id],
            call.field("configurations"),
        )
    _apply_connection_fields(call, connection)
    return Reply(body=connection_json(connection))


def delete_connection(call: Call) -> Reply:
    connection_or_404(call, call.params["id"]).status = "deprecated"
    return Reply(status=204)


def get_streams(call: Call) -> Reply:
    source = actor_or_404(call, "source", call.arg("sourceId"))
    destination = None
    if call.arg("destinationId"):
        destination = actor_or_404(call, "destination", call.arg("destinationId"))
    if call.fake.discover_failure:
        raise ApiError(
            500,
            "unexpected-problem",
            "Something went wrong in the connector. logs:" + call.fake.discover_failure,
        )
    definition = call.state.definitions[source.definition_id]
    items = []
    for stream in definition.streams:
        item: dict[str, Any] = {
            "streamName": stream.name,
            "defaultCursorField": list(stream.default_cursor_field),
            "sourceDefinedCursorField": stream.source_defined_cursor,
            "sourceDefinedPrimaryKey": copy.deepcopy(stream.source_defined_primary_key),
            "propertyFields": stream.property_fields,
        }
        # Note the lowercase "n": that is the spec's (and the server's) spelling.
        if stream.namespace:
            item["streamnamespace"] = stream.namespace
        if destination is not None:
            item["syncModes"] = valid_sync_modes(
                stream, call.state.definitions[destination.definition_id]
            )
        elif call.fake.null_sync_modes:
            # The server sends null here; the spec's `type: array` forbids it, so it
            # is opt-in and the response is tolerated (see AirbyteFake.null_sync_modes).
            item["syncModes"] = None
        items.append(item)
    return Reply(
        body=items,
        tolerate=(
            "null_sync_modes=True: the server sends null where the spec says array"
            if call.fake.null_sync_modes and destination is None
            else None
        ),
    )


def list_jobs(call: Call) -> Reply:
    connection_id = call.arg("connectionId")
    wanted = set(call.args("workspaceIds"))
    job_type = call.arg("jobType")
    status = call.arg("status")
    field_name, _, direction = (call.arg("orderBy") or "createdAt|ASC").partition("|")
    if field_name not in {"createdAt", "updatedAt"} or direction not in {"ASC", "DESC"}:
        raise bad_request(f"Invalid order by clause provided: {call.arg('orderBy')}")
    bounds = {}
    for name in ("createdAtStart", "createdAtEnd", "updatedAtStart", "updatedAtEnd"):
        if call.arg(name):
            try:
                bounds[name] = datetime.fromisoformat(call.arg(name)).timestamp()
            except ValueError:
                raise bad_request(f"{name} is not an ISO-8601 date-time") from None

    def wanted_job(job: Job) -> bool:
        if connection_id:
            if job.connection_id != connection_id:
                return False
        elif wanted and job.workspace_id not in wanted:
            return False
        if job_type:
            if job.job_type != job_type:
                return False
        elif job.job_type not in {"sync", "reset"}:
            return False  # without jobType the server lists syncs and resets only
        if status and job.status != status:
            return False
        for prefix, value in (
            ("createdAt", job.created_at),
            ("updatedAt", job.updated_at),
        ):
            if f"{prefix}Start" in bounds and value < bounds[f"{prefix}Start"]:
                return False
            if f"{prefix}End" in bounds and value > bounds[f"{prefix}End"]:
                return False
        return True

    attribute = "created_at" if field_name == "createdAt" else "updated_at"
    jobs = sorted(
        (j for j in call.state.jobs.values() if wanted_job(j)),
        key=lambda j: (getattr(j, attribute), j.id),
        reverse=direction == "DESC",
    )
    return Reply(
        body=paginate(call, [job_json(j) for j in jobs], "jobs"),
        tolerate=scripted(*jobs),
    )


def create_job(call: Call) -> Reply:
    connection = connection_or_404(call, call.field("connectionId"))
    job_type = call.field("jobType")
    if job_type == "refresh":
        raise ApiError(
            422,
            "unprocessable-entity",
            "Refreshes are not supported in the public API.",
        )
    if connection.status == "deprecated":
        raise ApiError(
            409, "state-conflict", f"Connection {connection.id} has been deleted."
        )
    if connection.status == "inactive" and job_type == "sync":
        # #12 point 9: JobsController refuses a sync of an inactive connection
        # with the generic state-conflict ("Could not fulfill request").
        raise ApiError(409, "state-conflict", "Could not fulfill request")
    if job_type in {"clear", "reset"}:  # #12 point 1: every stream, cancels a sync
        job = start_reset_job(call, connection, [s.name for s in connection.streams])
        return Reply(body=job_json(job), tolerate=scripted(job))
    if any(
        j.active for j in call.state.jobs.values() if j.connection_id == connection.id
    ):
        raise ApiError(
            409,
            "try-again-later",
            f"A sync is already running for: {connection.id}",
        )
    job = Job(
        id=next(job_ids),
        connection_id=connection.id,
        workspace_id=connection.workspace_id,
        job_type=job_type,
        script=call.state.next_script(connection.id),
        stream_names=[s.name for s in connection.streams],
    )
    call.state.jobs[job.id] = job
    return Reply(body=job_json(job), tolerate=scripted(job))


def start_reset_job(call: Call, connection: Connection, stream_names: list[str]) -> Job:
    """A clear as the real server makes it (``SchedulerHandler.resetConnection``):
    a running sync of the connection is cancelled, not answered 409, and the job is
    stored as ``RESET_CONNECTION``, so it reads and lists as ``jobType: reset``.
    ``stream_names`` are the streams whose destination data it deletes."""
    for other in call.state.jobs.values():
        if other.connection_id == connection.id and other.active:
            other.cancel()
    job = Job(
        id=next(job_ids),
        connection_id=connection.id,
        workspace_id=connection.workspace_id,
        job_type="reset",
        script=JobScript(rows=0),
        stream_names=list(stream_names),
    )
    call.state.jobs[job.id] = job
    return job


def get_job(call: Call) -> Reply:
    if call.state.jobs.get(_job_number(call.params["jobId"])) is None:
        # The server never says 404 for a job it does not know (JobsController).
        raise ApiError(409, "state-conflict", "Could not fulfill request")
    job = job_or_404(call, call.params["jobId"])
    job.observe()
    return Reply(body=job_json(job), tolerate=scripted(job))


def cancel_job(call: Call) -> Reply:
    job = job_or_404(call, call.params["jobId"])
    if job.status not in ACTIVE_JOB_STATUSES:
        raise ApiError(409, "state-conflict", "Job is not currently running")
    if call.fake.cancel_polls:  # #12 point 9: the job ends some polls later
        job.remaining[:] = ["running"] * call.fake.cancel_polls + ["cancelled"]
        return Reply(body=job_json(job), tolerate=scripted(job))
    job.cancel()
    return Reply(body=job_json(job), tolerate=scripted(job))


def _job_number(job_id: Any) -> int | None:
    try:
        return int(job_id)
    except (TypeError, ValueError):
        return None
