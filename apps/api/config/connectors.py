"""Sources and destinations: list and create, check and discover.

Checks and discovers run the connector on a worker (``apps.api.waiting``), as the
console's own pages do; the request waits for the outcome, bounded by
``API_WAIT_SECONDS``, because Airbyte's Config API answers them synchronously.
Configurations are masked on the way out and split (a mask keeps the stored
secret) on the way in (``apps.api.connectors_io``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest
from ninja import Query, Router, Schema

from apps.api.access import membership_for, principal, scoped_get
from apps.api.config.definitions import definition_in
from apps.api.config.shapes import actor_read, discovered_catalog, synchronous_job
from apps.api.connectors_io import (
    definition_not_ready,
    masked_configuration,
    split_configuration,
)
from apps.api.problems import (
    ApiProblem,
    bad_request,
    problem_from_validation,
    unprocessable,
)
from apps.api.waiting import wait_for_check, wait_for_discover
from apps.connectors import services
from apps.connectors.models import ConnectorConfig, Destination, Source
from apps.connectors.selectors import connector_list
from apps.core.roles import Role
from apps.engines.base import CheckResult

router = Router(tags=["source", "destination", "scheduler"])

MODELS: dict[str, type[Source] | type[Destination]] = {
    "source": Source,
    "destination": Destination,
}


# -- list -----------------------------------------------------------------------------
class ActorListRequestBody(Schema):
    workspaceId: UUID
    pageSize: int | None = None
    # The last id of the previous page (Airbyte's cursor is an actor id).
    cursor: UUID | None = None


class WorkspaceQuery(Schema):
    workspaceId: UUID
    pageSize: int | None = None
    cursor: UUID | None = None


# Airbyte answers the whole workspace when pageSize is absent; the console bounds
# every list, so a workspace of 10,000 sources answers in pages.
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def _list(
    request: HttpRequest,
    kind: str,
    workspace_id: UUID,
    page_size: int | None = None,
    cursor: UUID | None = None,
) -> dict[str, Any]:
    workspace = membership_for(request, workspace_id, Role.VIEWER).workspace
    size = DEFAULT_PAGE_SIZE if page_size is None else page_size
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise bad_request(
            f"pageSize must be between 1 and {MAX_PAGE_SIZE}; it was {size}.",
            {"errors": [{"path": "pageSize", "message": f"1 to {MAX_PAGE_SIZE}"}]},
        )
    rows = (
        connector_list(workspace=workspace, kind=kind)
        .select_related("workspace")
        .order_by("name", "pk")
    )
    if cursor is not None:
        last = rows.filter(public_id=cursor).values("name", "pk").first()
        if last is None:
            raise bad_request(
                f"cursor {cursor} is not a {kind} of this workspace.",
                {"errors": [{"path": "cursor", "message": f"not a {kind} here"}]},
            )
        rows = rows.filter(
            Q(name__gt=last["name"]) | Q(name=last["name"], pk__gt=last["pk"])
        )
    return {
        f"{kind}s": [actor_read(obj, masked_configuration(obj)) for obj in rows[:size]]
    }


@router.post(
    "sources/list",
    response=dict,
    operation_id="listSourcesForWorkspace",
    summary="A workspace's sources",
)
def source_list(request: HttpRequest, body: ActorListRequestBody) -> dict[str, Any]:
    """``SourceReadList`` by name, ``pageSize`` at a time after ``cursor``; masked."""
    return _list(request, "source", body.workspaceId, body.pageSize, body.cursor)


@router.get(
    "sources/list",
    response=dict,
    operation_id="listSourcesForWorkspaceGet",
    summary="A workspace's sources (the console's GET form)",
)
def source_list_get(request: HttpRequest, query: Query[WorkspaceQuery]) -> dict:
    """``GET /api/v1/sources/list?workspaceId=``: the same answer as the POST."""
    return _list(request, "source", query.workspaceId, query.pageSize, query.cursor)


@router.post(
    "destinations/list",
    response=dict,
    operation_id="listDestinationsForWorkspace",
    summary="A workspace's destinations",
)
def destination_list(
    request: HttpRequest, body: ActorListRequestBody
) -> dict[str, Any]:
    """``DestinationReadList`` by name, a page after ``cursor``; masked."""
    return _list(request, "destination", body.workspaceId, body.pageSize, body.cursor)


@router.get(
    "destinations/list",
    response=dict,
    operation_id="listDestinationsForWorkspaceGet",
    summary="A workspace's destinations (the console's GET form)",
)
def destination_list_get(request: HttpRequest, query: Query[WorkspaceQuery]) -> dict:
    """``GET /api/v1/destinations/list?workspaceId=``: the same answer as the POST."""
    return _list(
        request, "destination", query.workspaceId, query.pageSize, query.cursor
    )


# -- create ---------------------------------------------------------------------------
class SourceCreate(Schema):
    workspaceId: UUID
    name: str
    sourceDefinitionId: UUID
    connectionConfiguration: dict[str, Any]


class DestinationCreate(Schema):
    workspaceId: UUID
    name: str
    destinationDefinitionId: UUID
    connectionConfiguration: dict[str, Any]


def _create(
    request: HttpRequest,
    kind: str,
    *,
    workspace_id: UUID,
    definition_id: UUID,
    name: str,
    configuration: dict[str, Any],
) -> dict[str, Any]:
    workspace = membership_for(request, workspace_id, Role.EDITOR).workspace
    definition = definition_in(workspace, kind, definition_id)
    problem = definition_not_ready(definition, workspace)
    if problem is not None:
        raise problem
    split = split_configuration(
        workspace=workspace, definition=definition, configuration=configuration
    )
    try:
        # Like Airbyte's create, no check is run: the row has no test result yet.
        obj = services.connector_create(
            actor=principal(request).user,
            workspace=workspace,
            kind=kind,
            name=name,
            definition=definition,
            config=split.config,
            secrets=split.secrets,
        )
    except ValidationError as exc:
        raise problem_from_validation(exc) from None
    return actor_read(obj, masked_configuration(obj))


@router.post(
    "sources/create",
    response=dict,
    operation_id="createConfigSource",
    summary="Create a source",
)
def source_create(request: HttpRequest, body: SourceCreate) -> dict[str, Any]:
    """``SourceRead`` of the new source; its configuration checked against the spec."""
    return _create(
        request,
        "source",
        workspace_id=body.workspaceId,
        definition_id=body.sourceDefinitionId,
        name=body.name,
        configuration=body.connectionConfiguration,
    )


@router.post(
    "destinations/create",
    response=dict,
    operation_id="createConfigDestination",
    summary="Create a destination",
)
def destination_create(request: HttpRequest, body: DestinationCreate) -> dict:
    """``DestinationRead`` of the new destination."""
    return _create(
        request,
        "destination",
        workspace_id=body.workspaceId,
        definition_id=body.destinationDefinitionId,
        name=body.name,
        configuration=body.connectionConfiguration,
    )


# -- check ----------------------------------------------------------------------------
def _check_read(
    kind: str, result: CheckResult, *, started: int, config_id: str = ""
) -> dict[str, Any]:
    """``CheckConnectionRead``: the check ran, and said yes or no."""
    status = "succeeded" if result.ok else "failed"
    message = result.message or (
        "Connection succeeded." if result.ok else "The connector refused the settings."
    )
    return {
        "status": status,
        "message": message,
        "jobInfo": synchronous_job(
            f"check_connection_{kind}",
            config_id=config_id,
            log_lines=list(result.logs) or [message],
            started=started,
        ),
    }


class SourceCoreConfig(Schema):
    sourceId: UUID | None = None
    sourceDefinitionId: UUID
    connectionConfiguration: dict[str, Any]
    workspaceId: UUID


class DestinationCoreConfig(Schema):
    destinationId: UUID | None = None
    destinationDefinitionId: UUID
    connectionConfiguration: dict[str, Any]
    workspaceId: UUID


def _scheduler_check(
    request: HttpRequest,
    kind: str,
    *,
    workspace_id: UUID,
    definition_id: UUID,
    configuration: dict[str, Any],
    existing_id: UUID | None,
) -> dict[str, Any]:
    started = int(time.time())
    workspace = membership_for(request, workspace_id, Role.EDITOR).workspace
    definition = definition_in(workspace, kind, definition_id)
    problem = definition_not_ready(definition, workspace)
    if problem is not None:
        raise problem
    target = None
    if existing_id is not None:
        # The settings of a saved one (masks keep its stored secrets).
        target, _ = scoped_get(
            request, MODELS[kind], existing_id, Role.EDITOR, resource_type=kind
        )
        # Its stored secrets go only to its own connector in its own workspace:
        # another definition (or workspace) would receive them otherwise.
        if target.workspace_id != workspace.pk:
            raise unprocessable(
                f"The {kind} {existing_id} is not in workspace {workspace_id}.",
                {"errors": [{"path": f"{kind}Id", "message": "another workspace"}]},
            )
        if target.definition_id != definition.pk:
            raise unprocessable(
                f"The {kind} {existing_id} uses another connector than "
                f"{definition_id}: check it with its own definition.",
                {"errors": [{"path": f"{kind}Id", "message": "another connector"}]},
            )
    result = wait_for_check(
        actor=principal(request).user,
        workspace=workspace,
        kind=kind,
        definition=definition,
        config=configuration,
        target=target,
    )
    return _check_read(kind, result, started=started, config_id=str(existing_id or ""))


@router.post(
    "scheduler/sources/check_connection",
    response=dict,
    operation_id="executeSourceCheckConnection",
    summary="Test a source's settings before it is saved",
)
def scheduler_source_check(request: HttpRequest, body: SourceCoreConfig) -> dict:
    """``CheckConnectionRead``: the connector's check, run on a worker."""
    return _scheduler_check(
        request,
        "source",
        workspace_id=body.workspaceId,
        definition_id=body.sourceDefinitionId,
        configuration=body.connectionConfiguration,
        existing_id=body.sourceId,
    )


@router.post(
    "scheduler/destinations/check_connection",
    response=dict,
    operation_id="executeDestinationCheckConnection",
    summary="Test a destination's settings before it is saved",
)
def scheduler_destination_check(
    request: HttpRequest, body: DestinationCoreConfig
) -> dict[str, Any]:
    """``CheckConnectionRead``."""
    return _scheduler_check(
        request,
        "destination",
        workspace_id=body.workspaceId,
        definition_id=body.destinationDefinitionId,
        configuration=body.connectionConfiguration,
        existing_id=body.destinationId,
    )


class SourceUpdate(Schema):
    sourceId: UUID
    connectionConfiguration: dict[str, Any]
    name: str


class DestinationUpdate(Schema):
    destinationId: UUID
    connectionConfiguration: dict[str, Any]
    name: str


def _check_for_update(
    request: HttpRequest, kind: str, object_id: UUID, configuration: dict[str, Any]
) -> dict[str, Any]:
    started = int(time.time())
    obj, membership = scoped_get(
        request, MODELS[kind], object_id, Role.EDITOR, resource_type=kind
    )
    result = wait_for_check(
        actor=principal(request).user,
        workspace=membership.workspace,
        kind=kind,
        definition=obj.definition,
        config=configuration,
        target=obj,
    )
    return _check_read(kind, result, started=started, config_id=str(obj.public_id))


@router.post(
    "sources/check_connection_for_update",
    response=dict,
    operation_id="checkConnectionToSourceForUpdate",
    summary="Test changed settings of a saved source",
)
def source_check_for_update(request: HttpRequest, body: SourceUpdate) -> dict:
    """``CheckConnectionRead``; a mask keeps the stored secret. Nothing is saved."""
    return _check_for_update(
        request, "source", body.sourceId, body.connectionConfiguration
    )


@router.post(
    "destinations/check_connection_for_update",
    response=dict,
    operation_id="checkConnectionToDestinationForUpdate",
    summary="Test changed settings of a saved destination",
)
def destination_check_for_update(
    request: HttpRequest, body: DestinationUpdate
) -> dict[str, Any]:
    """``CheckConnectionRead``; a mask keeps the stored secret. Nothing is saved."""
    return _check_for_update(
        request, "destination", body.destinationId, body.connectionConfiguration
    )


# -- discover -------------------------------------------------------------------------
class SourceDiscoverSchemaRequestBody(Schema):
    sourceId: UUID
    connectionId: UUID | None = None
    disable_cache: bool = False


@router.post(
    "sources/discover_schema",
    response=dict,
    operation_id="discoverSchemaForSource",
    summary="Discover a source's streams",
)
def source_discover(
    request: HttpRequest, body: SourceDiscoverSchemaRequestBody
) -> dict[str, Any]:
    """``SourceDiscoverSchemaRead``: the catalog, each stream with the configuration
    a new connection starts with.

    The source's cached catalog answers unless ``disable_cache`` is set or it has
    none; a discover runs on a worker otherwise. A failed discover answers 200
    with ``jobInfo.succeeded`` false and no catalog, as Airbyte's does.
    """
    started = int(time.time())
    source, _ = scoped_get(request, Source, body.sourceId, Role.EDITOR)
    source_id = str(source.public_id)
    if body.disable_cache or not source.catalog:
        try:
            source = wait_for_discover(actor=principal(request).user, source=source)
        except ApiProblem as problem:
            if problem.status != 400:
                raise
            message = (
                source.name
                + ": "
                + str((problem.data or {}).get("connectorMessage") or problem.detail)
            )
            return {
                "jobInfo": synchronous_job(
                    "discover_schema",
                    config_id=source_id,
                    succeeded=False,
                    log_lines=[message],
                    failure=message,
                    started=started,
                )
            }
    streams = (source.catalog or {}).get("streams", [])
    return {
        "catalog": discovered_catalog(source.catalog),
        "catalogId": _catalog_id(source),
        "jobInfo": synchronous_job(
            "discover_schema",
            config_id=source_id,
            log_lines=[f"{len(streams)} streams found."],
            started=started,
        ),
    }


def _catalog_id(source: ConnectorConfig) -> str:
    """A stable id for the catalog as discovered at that moment."""
    stamp = getattr(source, "catalog_discovered_at", None)
    return str(uuid.uuid5(source.public_id, stamp.isoformat() if stamp else "none"))
