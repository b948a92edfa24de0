"""Public API: sources (``/api/public/v1/sources``).

Viewers read, editors create, change and delete; a source in a workspace the
caller is not a member of is a 404. Every write goes through the connectors'
services, which audit it and (on a workspace driven by an Airbyte server) push
it on. ``configuration`` is always masked: each secret reads ``**********``, and
the mask sent back on PUT or PATCH keeps the stored secret. A configuration that
fails the connector's spec is a 400 with one ``data.errors`` entry per JSON path.
Deleting a source a connection uses is refused (409, naming the connections)
where Airbyte would delete the connections with it.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from apps.api.access import member_workspaces, membership_for, principal, scoped_get
from apps.api.connectors_io import (
    connector_create_from_api,
    connector_delete_from_api,
    connector_response,
    connector_update_from_api,
    requested_workspaces,
)
from apps.api.pagination import DEFAULT_LIMIT, id_list, paginate
from apps.api.problems import bad_request
from apps.api.public.schemas_connectors import (
    SourceCreateRequest,
    SourcePatchRequest,
    SourcePutRequest,
    SourceResponse,
    SourcesResponse,
)
from apps.connectors.models import Source
from apps.core.roles import Role

# ``workspaceIds`` repeated (``?workspaceIds=a&workspaceIds=b``) or comma-joined.
ID_LIST = Query(None)

router = Router(tags=["Sources"])

KIND = "source"


def _rows():
    return Source.objects.select_related("definition", "workspace")


def _refuse_secret_id(secret_id: str | None) -> None:
    if secret_id:
        raise bad_request(
            "secretId (from Airbyte's OAuth flow) is not supported by this console: "
            "give the secrets in configuration.",
            {"errors": [{"path": "secretId", "message": "not supported"}]},
        )


@router.get(
    "sources",
    response=SourcesResponse,
    operation_id="listSources",
    summary="List sources",
)
def list_sources(
    request: HttpRequest,
    workspaceIds: list[str] | None = ID_LIST,  # Airbyte's name
    includeDeleted: bool = False,  # deleted sources are gone here
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> dict[str, Any]:
    """Sources of the caller's workspaces (or of ``workspaceIds``), oldest first."""
    workspaces = requested_workspaces(member_workspaces(request), id_list(workspaceIds))
    rows = _rows().filter(workspace__in=workspaces).order_by("created_at", "pk")
    page = paginate(request, rows, limit=limit, offset=offset)
    return {**page, "data": [connector_response(s) for s in page["data"]]}


@router.post(
    "sources",
    response=SourceResponse,
    operation_id="createSource",
    summary="Create a source",
)
def create_source(request: HttpRequest, body: SourceCreateRequest) -> dict[str, Any]:
    """A new source (editors); no connection test is run, as in Airbyte."""
    _refuse_secret_id(body.secretId)
    membership = membership_for(request, body.workspaceId, Role.EDITOR)
    source = connector_create_from_api(
        actor=principal(request).user,
        workspace=membership.workspace,
        kind=KIND,
        name=body.name,
        configuration=body.configuration,
        definition_id=body.definitionId,
    )
    return connector_response(source)


@router.get(
    "sources/{sourceId}",
    response=SourceResponse,
    operation_id="getSource",
    summary="Get Source details",
)
def get_source(
    request: HttpRequest,
    sourceId: str,
    includeSecretCoordinates: bool = False,  # secrets stay masked
) -> dict[str, Any]:
    """One source, secrets masked."""
    source, _ = scoped_get(request, _rows(), sourceId, resource_type=KIND)
    return connector_response(source)


@router.patch(
    "sources/{sourceId}",
    response=SourceResponse,
    operation_id="patchSource",
    summary="Update a Source",
)
def patch_source(
    request: HttpRequest,
    sourceId: str,
    body: SourcePatchRequest,
) -> dict[str, Any]:
    """Change a source's name and/or settings; configuration is merged in."""
    _refuse_secret_id(body.secretId)
    source, _ = scoped_get(request, _rows(), sourceId, Role.EDITOR, resource_type=KIND)
    if body.workspaceId is not None and body.workspaceId != source.workspace.public_id:
        raise bad_request(
            "A source cannot move to another workspace.",
            {"errors": [{"path": "workspaceId", "message": "cannot be changed"}]},
        )
    source = connector_update_from_api(
        actor=principal(request).user,
        obj=source,
        name=body.name,
        configuration=body.configuration,
        merge=True,
    )
    return connector_response(source)


@router.put(
    "sources/{sourceId}",
    response=SourceResponse,
    operation_id="putSource",
    summary="Update a Source and fully overwrite it",
)
def put_source(
    request: HttpRequest,
    sourceId: str,
    body: SourcePutRequest,
) -> dict[str, Any]:
    """Replace a source's name and settings (masks keep the stored secrets)."""
    source, _ = scoped_get(request, _rows(), sourceId, Role.EDITOR, resource_type=KIND)
    source = connector_update_from_api(
        actor=principal(request).user,
        obj=source,
        name=body.name,
        configuration=body.configuration,
    )
    return connector_response(source)


@router.delete(
    "sources/{sourceId}",
    response={204: None},
    operation_id="deleteSource",
    summary="Delete a Source",
)
def delete_source(request: HttpRequest, sourceId: str) -> Status[None]:
    """Delete a source (204); 409 while a connection uses it."""
    source, _ = scoped_get(request, _rows(), sourceId, Role.EDITOR, resource_type=KIND)
    connector_delete_from_api(actor=principal(request).user, obj=source)
    return Status(204, None)
