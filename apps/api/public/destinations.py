"""Public API: destinations (``/api/public/v1/destinations``).

Viewers read, editors create, change and delete; a destination in a workspace the
caller is not a member of is a 404. Every write goes through the connectors'
services, which audit it and (on a workspace driven by an Airbyte server) push
it on. ``configuration`` is always masked: each secret reads ``**********``, and
the mask sent back on PUT or PATCH keeps the stored secret. A configuration that
fails the connector's spec is a 400 with one ``data.errors`` entry per JSON path.
Deleting a destination a connection uses is refused (409, naming the connections)
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
    DestinationCreateRequest,
    DestinationPatchRequest,
    DestinationPutRequest,
    DestinationResponse,
    DestinationsResponse,
)
from apps.connectors.models import Destination

# ``workspaceIds`` repeated (``?workspaceIds=a&workspaceIds=b``) or comma-joined.
ID_LIST = Query(None)

router = Router(tags=["Destinations"])


@router.get(
    "destinations",
    response=DestinationsResponse,
    operation_id="listDestinations",
    summary="List destinations",
)
def list_destinations(
    request: HttpRequest,
    workspaceIds: list[str] | None = ID_LIST,  # Airbyte's name
    includeDeleted: bool = False,  # deleted destinations are gone here
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> dict[str, Any]:
    """Destinations of the caller's workspaces (or ``workspaceIds``), oldest first."""
    return actor_list(
        request, Destination, workspace_ids=workspaceIds, limit=limit, offset=offset
    )


@router.post(
    "destinations",
    response=DestinationResponse,
    operation_id="createDestination",
    summary="Create a destination",
)
def create_destination(
    request: HttpRequest, body: DestinationCreateRequest
) -> dict[str, Any]:
    """A new destination (editors); no connection test is run, as in Airbyte."""
    return actor_create(request, Destination, body)


@router.get(
    "destinations/{destinationId}",
    response=DestinationResponse,
    operation_id="getDestination",
    summary="Get Destination details",
)
def get_destination(
    request: HttpRequest,
    destinationId: str,
    includeSecretCoordinates: bool = False,  # secrets stay masked
) -> dict[str, Any]:
    """One destination, secrets masked."""
    return actor_get(request, Destination, destinationId)


@router.patch(
    "destinations/{destinationId}",
    response=DestinationResponse,
    operation_id="patchDestination",
    summary="Update a Destination",
)
def patch_destination(
    request: HttpRequest, destinationId: str, body: DestinationPatchRequest
) -> dict[str, Any]:
    """Change a destination's name and/or settings; configuration is merged in."""
    return actor_update(request, Destination, destinationId, body, merge=True)


@router.put(
    "destinations/{destinationId}",
    response=DestinationResponse,
    operation_id="putDestination",
    summary="Update a Destination and fully overwrite it",
)
def put_destination(
    request: HttpRequest, destinationId: str, body: DestinationPutRequest
) -> dict[str, Any]:
    """Replace a destination's name and settings (masks keep the stored secrets)."""
    return actor_update(request, Destination, destinationId, body, merge=False)


@router.delete(
    "destinations/{destinationId}",
    response={204: None},
    operation_id="deleteDestination",
    summary="Delete a Destination",
)
def delete_destination(request: HttpRequest, destinationId: str) -> Status[None]:
    """Delete a destination (204); 409 while a connection uses it."""
    return actor_delete(request, Destination, destinationId)
