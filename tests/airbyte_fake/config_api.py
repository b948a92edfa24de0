"""Config API endpoints (``/api/v1``): the few RPCs a console needs."""

from __future__ import annotations

import copy
from typing import Any

from tests.airbyte_fake.core import (
    ApiError,
    Call,
    Reply,
    actor_or_404,
    check_client,
    connection_or_404,
    definition_or_404,
    ensure_valid_config,
    issue_token,
    job_or_404,
    not_found,
    scripted,
    workspace_or_404,
)
from tests.airbyte_fake.quirks import STRUCTURED_LOGS_TOLERANCE, structured_logs
from tests.airbyte_fake.shapes import (
    attempt_info,
    job_info,
    job_read,
    synchronous_job,
)
from tests.airbyte_fake.state import (
    ACTIVE_JOB_STATUSES,
    DEFAULT_ORGANIZATION_ID,
    DEFAULT_USER_ID,
    DEFAULT_WORKSPACE_ID,
    Definition,
    StreamDef,
    contains_value,
    keep_masked_secrets,
    new_id,
)


def config_health(call: Call) -> Reply:
    return Reply(body={"available": True})


def instance_configuration(call: Call) -> Reply:
    return Reply(
        body={
            "edition": "community",
            "version": call.fake.version,
            # Community servers leave licenseStatus null, but the spec requires one of
            # its values; "pro" is the one that means "nothing wrong with the licence".
            "licenseStatus": "pro",
            "auth": {"mode": call.fake.auth_mode},
            "airbyteUrl": "http://localhost:8000",
            "initialSetupComplete": True,
            "defaultUserId": DEFAULT_USER_ID,
            "defaultOrganizationId": DEFAULT_ORGANIZATION_ID,
            "defaultOrganizationEmail": "admin@example.com",
            "defaultWorkspaceId": DEFAULT_WORKSPACE_ID,
            "trackingStrategy": "logging",
        }
    )


def config_token(call: Call) -> Reply:
    check_client(call)
    token, _ = issue_token(call)
    return Reply(body={"access_token": token})


def _definition_read(definition: Definition) -> dict[str, Any]:
    kind = definition.kind
    out = {
        f"{kind}DefinitionId": definition.id,
        "name": definition.name,
        "dockerRepository": definition.docker_repository,
        "dockerImageTag": definition.docker_image_tag,
        "documentationUrl": definition.documentation_url,
        "protocolVersion": "0.2.0",
        "custom": False,
        "supportLevel": "certified",
        "releaseStage": "generally_available",
    }
    if kind == "source":
        out["sourceType"] = definition.source_type
    return out


def list_definitions(call: Call, kind: str) -> Reply:
    workspace = workspace_or_404(call, call.field("workspaceId"))
    definitions = [
        _definition_read(d)
        for d in call.state.definitions.values()
        if d.kind == kind and d.visible_to(workspace.id)
    ]
    return Reply(body={f"{kind}Definitions": definitions})


# --- connector builder projects and declarative sources ---------------------------


def _streams_of(manifest: dict[str, Any]) -> list[StreamDef]:
    """What discover answers for a declarative source: its manifest's streams."""
    found = []
    for stream in manifest.get("streams") or []:
        loader = stream.get("schema_loader") or {}
        schema = loader.get("schema") if isinstance(loader, dict) else None
        found.append(
            StreamDef(
                name=str(stream.get("name")),
                json_schema=schema or {"type": "object", "properties": {}},
                supported_sync_modes=["full_refresh"],
            )
        )
    return found


def create_builder_project(call: Call) -> Reply:
    workspace = workspace_or_404(call, call.field("workspaceId"))
    details = call.field("builderProject") or {}
    project_id = new_id()
    call.state.builder_projects[project_id] = {
        "workspaceId": workspace.id,
        "name": details.get("name"),
        "definitionId": None,
    }
    return Reply(
        status=201, body={"workspaceId": workspace.id, "builderProjectId": project_id}
    )


def publish_builder_project(call: Call) -> Reply:
    workspace = workspace_or_404(call, call.field("workspaceId"))
    project_id = call.field("builderProjectId")
    project = call.state.builder_projects.get(project_id or "")
    if project is None or project["workspaceId"] != workspace.id:
        raise not_found("connector_builder_project", project_id)
    declarative = call.field("initialDeclarativeManifest") or {}
    spec = declarative.get("spec") or {}
    definition = Definition(
        id=new_id(),
        kind="source",
        name=str(call.field("name")),
        docker_repository="airbyte/source-declarative-manifest",
        docker_image_tag="latest",
        documentation_url=str(spec.get("documentationUrl") or ""),
        connection_specification=copy.deepcopy(spec.get("connectionSpecification")),
        streams=_streams_of(declarative.get("manifest") or {}),
        workspace_id=workspace.id,
    )
    version = int(declarative.get("version") or 1)
    definition.manifests[version] = copy.deepcopy(declarative)
    definition.active_manifest = version
    call.state.definitions[definition.id] = definition
    project["definitionId"] = definition.id
    return Reply(body={"sourceDefinitionId": definition.id})


def create_declarative_manifest(call: Call) -> Reply:
    workspace = workspace_or_404(call, call.field("workspaceId"))
    definition = definition_or_404(call, call.field("sourceDefinitionId"), "source")
    if definition.workspace_id != workspace.id:
        raise ApiError(
            400,
            "bad-request",
            f"{definition.name} is not a declarative source of this workspace.",
        )
    declarative = call.field("declarativeManifest") or {}
    version = int(declarative.get("version") or 0)
    if version in definition.manifests:
        raise ApiError(
            409, "conflict", f"Version {version} already exists for {definition.id}."
        )
    definition.manifests[version] = copy.deepcopy(declarative)
    if call.field("setAsActiveManifest"):
        spec = declarative.get("spec") or {}
        definition.active_manifest = version
        definition.connection_specification = copy.deepcopy(
            spec.get("connectionSpecification")
        )
        definition.streams = _streams_of(declarative.get("manifest") or {})
    return Reply(status=201)


def _specification(definition: Definition) -> dict[str, Any]:
    out = {
        f"{definition.kind}DefinitionId": definition.id,
        "documentationUrl": definition.documentation_url,
        "connectionSpecification": copy.deepcopy(definition.connection_specification),
        "jobInfo": synchronous_job("get_spec", log_lines=["Fetched the spec"]),
    }
    if definition.kind == "destination":
        out["supportedDestinationSyncModes"] = list(
            definition.supported_destination_sync_modes
        )
    return out


def get_specification(call: Call, kind: str) -> Reply:
    workspace_or_404(call, call.field("workspaceId"))
    definition = definition_or_404(call, call.field(f"{kind}DefinitionId"), kind)
    return Reply(body=_specification(definition))


def get_specification_for_actor(call: Call, kind: str) -> Reply:
    actor = actor_or_404(call, kind, call.field(f"{kind}Id"))
    return Reply(body=_specification(call.state.definitions[actor.definition_id]))


def _check(call: Call, kind: str, configuration: Any, config_id: str | None) -> Reply:
    config_type = f"check_connection_{kind}"
    if contains_value(configuration, call.fake.bad_password):
        message = "Could not connect: password authentication failed"
        return Reply(
            body={
                "status": "failed",
                "message": message,
                "jobInfo": synchronous_job(
                    config_type,
                    config_id,
                    log_lines=["Checking connection...", message],
                ),
            }
        )
    return Reply(
        body={
            "status": "succeeded",
            "jobInfo": synchronous_job(
                config_type,
                config_id,
                log_lines=["Checking connection...", "Connection check succeeded"],
            ),
        }
    )


def scheduler_check(call: Call, kind: str) -> Reply:
    definition = definition_or_404(call, call.field(f"{kind}DefinitionId"), kind)
    workspace_or_404(call, call.field("workspaceId"))
    configuration = call.field("connectionConfiguration") or {}
    existing_id = call.field(f"{kind}Id")
    if existing_id:
        # A check before an update sends the masked config; the stored secrets fill it.
        actor = actor_or_404(call, kind, existing_id)
        configuration = keep_masked_secrets(configuration, actor.configuration)
    ensure_valid_config(configuration, definition)
    return _check(call, kind, configuration, existing_id)


def actor_check(call: Call, kind: str) -> Reply:
    actor = actor_or_404(call, kind, call.field(f"{kind}Id"))
    return _check(call, kind, actor.configuration, actor.id)


def discover_schema(call: Call) -> Reply:
    source = actor_or_404(call, "source", call.field("sourceId"))
    if call.fake.discover_failure:
        return Reply(
            body={
                "jobInfo": synchronous_job(
                    "discover_schema",
                    source.id,
                    succeeded=False,
                    log_lines=[call.fake.discover_failure],
                    failure=call.fake.discover_failure,
                )
            }
        )
    definition = call.state.definitions[source.definition_id]
    streams = []
    for stream in definition.streams:
        schema: dict[str, Any] = {
            "name": stream.name,
            "jsonSchema": copy.deepcopy(stream.json_schema),
            "supportedSyncModes": list(stream.supported_sync_modes),
            "sourceDefinedCursor": stream.source_defined_cursor,
            "defaultCursorField": list(stream.default_cursor_field),
            "sourceDefinedPrimaryKey": copy.deepcopy(stream.source_defined_primary_key),
            "isResumable": True,
        }
        if stream.namespace:
            schema["namespace"] = stream.namespace
        streams.append(
            {
                "stream": schema,
                "config": {
                    "syncMode": "full_refresh",
                    "destinationSyncMode": "overwrite",
                    "cursorField": list(stream.default_cursor_field),
                    "primaryKey": copy.deepcopy(stream.source_defined_primary_key),
                    "selected": True,
                    "suggested": True,
                },
            }
        )
    return Reply(
        body={
            "catalog": {"streams": streams},
            "catalogId": new_id(),
            "jobInfo": synchronous_job(
                "discover_schema", source.id, log_lines=["Discovered the schema"]
            ),
        }
    )


def _logs_tolerance(call: Call, with_logs: bool) -> str | None:
    """Structured logs carry ``logLines: []`` beside ``events`` (see quirks)."""
    if with_logs and structured_logs(call.fake.version):
        return STRUCTURED_LOGS_TOLERANCE
    return None


def _observed_job(call: Call, *, with_logs: bool) -> Reply:
    job = job_or_404(call, call.field("id"))
    job.observe()
    return Reply(
        body=job_info(job, with_logs=with_logs, version=call.fake.version),
        tolerate=scripted(job) or _logs_tolerance(call, with_logs),
    )


def config_get_job(call: Call) -> Reply:
    return _observed_job(call, with_logs=True)


def config_get_job_without_logs(call: Call) -> Reply:
    return _observed_job(call, with_logs=False)


def config_get_job_light(call: Call) -> Reply:
    job = job_or_404(call, call.field("id"))
    job.observe()
    return Reply(body={"job": job_read(job)}, tolerate=scripted(job))


def config_cancel_job(call: Call) -> Reply:
    job = job_or_404(call, call.field("id"))
    if job.status not in ACTIVE_JOB_STATUSES:
        raise ApiError(409, "state-conflict", "Job is not currently running")
    job.cancel()
    return Reply(
        body=job_info(job, with_logs=False),
        tolerate=scripted(job),
    )


def attempt_for_job(call: Call) -> Reply:
    job = job_or_404(call, call.field("jobId"))
    number = call.field("attemptNumber")
    if not isinstance(number, int) or not 0 <= number < len(job.attempts):
        raise not_found("attempt", f"{job.id}/{number}")
    return Reply(
        body=attempt_info(
            job, job.attempts[number], with_logs=True, version=call.fake.version
        ),
        tolerate=scripted(job) or _logs_tolerance(call, True),
    )


def clear_connection_streams(call: Call) -> Reply:
    """``connections/clear/stream``: empties only the streams named (#12 point 1).

    A job already running for the connection is answered 409 (a
    ``ValueConflictKnownException``), so a clear never cancels a sync here.
    """
    from tests.airbyte_fake.public_api import start_reset_job

    connection = connection_or_404(call, call.field("connectionId"))
    known = {s.name for s in connection.streams}
    names = [s.get("streamName") for s in call.field("streams") or []]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ApiError(
            422,
            "invalid-input",
            f"Streams not in the connection: {', '.join(map(str, unknown))}",
            config={"message": f"Streams not in the connection: {unknown}"},
        )
    if any(
        j.active for j in call.state.jobs.values() if j.connection_id == connection.id
    ):
        message = f"A job is already running for connection {connection.id}."
        raise ApiError(
            409,
            "state-conflict",
            message,
            config={
                "message": message,
                "exceptionClassName": "io.airbyte.commons.server.errors."
                "ValueConflictKnownException",
            },
        )
    job = start_reset_job(call, connection, names)
    return Reply(body=job_info(job, with_logs=False), tolerate=scripted(job))
