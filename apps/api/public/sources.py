"""Public API: sources (``/api/public/v1/sources``).

Viewers read, editors create, change and delete; a source in a workspace the
caller is not a member of is a 404. Every write goes through the connectors'
services, which audit it and (on a workspace driven by an Airbyte server) push
it on. ``configuration`` is always masked: each secret reads ``**********``, and
the mask sent back on PUT or PATCH keeps the stored secret. A configuration that
fails the connector's spec is a 400 with one ``data.errors`` entry per JSON path.
Deleting a source a connection uses is refused (409, naming the connections)
where Airbyte would delete the connections with it. The work behind each
operation is shared with the other kind: ``apps.api.public.actors``.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from apps.api.pagination import DEFAULT_LIMIT
from apps.api.public.actors import (
    actor_create,
    actor_delete,
    actor_get,
    actor_list,
    actor_update,
)
from apps.api.public.schemas_connectors import (
    SourceCreateRequest,
    SourcePatchRequest,
    SourcePutRequest,
    SourceResponse,
    SourcesResponse,
)
from apps.connectors.models import Source

# ``workspaceIds`` repeated (``?workspaceIds=a&workspaceIds=b``) or comma-joined.
ID_LIST = Query(None)

router = Router(tags=["Sources"])


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
    return actor_list(
        request, Source, workspace_ids=workspaceIds, limit=limit, offset=offset
    )


@router.post(
    "sources",
    response=SourceResponse,
    operation_id="createSource",
    summary="Create a source",
)
def create_source(request: HttpRequest, body: SourceCreateRequest) -> dict[str, Any]:
    """A new source (editors); no connection test is run, as in Airbyte."""
    return actor_create(request, Source, body)


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
    return actor_get(request, Source, sourceId)


@router.patch(
    "sources/{sourceId}",
    response=SourceResponse,
    operation_id="patchSource",
    summary="Update a Source",
)
def patch_source(
    request: HttpRequest, sourceId: str, body: SourcePatchRequest
) -> dict[str, Any]:
    """Change a source's name and/or settings; configuration is merged in."""
    return actor_update(request, Source, sourceId, body, merge=True)


@router.put(
    "sources/{sourceId}",
    response=SourceResponse,
    operation_id="putSource",
    summary="Update a Source and fully overwrite it",
)
def put_source(
    request: HttpRequest, sourceId: str, body: SourcePutRequest
) -> dict[str, Any]:
    """Replace a source's name and settings (masks keep the stored secrets)."""
    return actor_update(request, Source, sourceId, body, merge=False)


@router.delete(
    "sources/{sourceId}",
    response={204: None},
    operation_id="deleteSource",
    summary="Delete a Source",
)
def delete_source(request: HttpRequest, sourceId: str) -> Status[None]:
    """Delete a source (204); 409 while a connection uses it."""
    return actor_delete(request, Source, sourceId)
