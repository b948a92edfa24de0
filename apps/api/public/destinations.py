"""Public API: destinations (``/api/public/v1/destinations``).

Viewers read, editors create, change and delete; a destination in a workspace the
caller is not a member of is a 404. Every write goes through the connectors'
services, which audit it and (on a workspace driven by an Airbyte server) push
it on. ``configuration`` is always masked: each secret reads ``**********``, and
the mask sent back on PUT or PATCH keeps the stored secret. A configuration that
fails the connector's spec is a 400 with one ``data.errors`` entry per JSON path.
Deleting a destination a connection uses is refused (409, naming the connections)
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
from apps.api.public.schemas_connectors import (
    DestinationCreateRequest,
    DestinationPatchRequest,
    DestinationPutRequest,
    DestinationResponse,
    DestinationsResponse,
)
from apps.connectors.models import Destination
from apps.core.roles import Role

# ``workspaceIds`` repeated (``?workspaceIds=a&workspaceIds=b``) or comma-joined.
ID_LIST = Query(None)

router = Router(tags=["Destinations"])

KIND = "destination"


def _rows():
    return Destination.objects.select_related("definition", "workspace")


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
    workspaces = requested_workspaces(member_workspaces(request), id_list(workspaceIds))
    rows = _rows().filter(workspace__in=workspaces).order_by("created_at", "pk")
    page = paginate(request, rows, limit=limit, offset=offset)
    return {**page, "data": [connector_response(s) for s in page["data"]]}


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
    membership = membership_for(request, body.workspaceId, Role.EDITOR)
    destination = connector_create_from_api(
        actor=principal(request).user,
        workspace=membership.workspace,
        kind=KIND,
        name=body.name,
        configuration=body.configuration,
        definition_id=body.definitionId,
    )
    return connector_response(destination)


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
    destination, _ = scoped_get(request, _rows(), destinationId, resource_type=KIND)
    return connector_response(destination)


@router.patch(
    "destinations/{destinationId}",
    response=DestinationResponse,
    operation_id="patchDestination",
    summary="Update a Destination",
)
def patch_destination(
    request: HttpRequest,
    destinationId: str,
    body: DestinationPatchRequest,
) -> dict[str, Any]:
    """Change a destination's name and/or settings; configuration is merged in."""
    destination, _ = scoped_get(
        request, _rows(), destinationId, Role.EDITOR, resource_type=KIND
    )
    destination = connector_update_from_api(
        actor=principal(request).user,
        obj=destination,
        name=body.name,
        configuration=body.configuration,
        merge=True,
    )
    return connector_response(destination)


@router.put(
    "destinations/{destinationId}",
    response=DestinationResponse,
    operation_id="putDestination",
    summary="Update a Destination and fully overwrite it",
)
def put_destination(
    request: HttpRequest,
    destinationId: str,
    body: DestinationPutRequest,
) -> dict[str, Any]:
    """Replace a destination's name and settings (masks keep the stored secrets)."""
    destination, _ = scoped_get(
        request, _rows(), destinationId, Role.EDITOR, resource_type=KIND
    )
    destination = connector_update_from_api(
        actor=principal(request).user,
        obj=destination,
        name=body.name,
        configuration=body.configuration,
    )
    return connector_response(destination)


@router.delete(
    "destinations/{destinationId}",
    response={204: None},
    operation_id="deleteDestination",
    summary="Delete a Destination",
)
def delete_destination(request: HttpRequest, destinationId: str) -> Status[None]:
    """Delete a destination (204); 409 while a connection uses it."""
    destination, _ = scoped_get(
        request, _rows(), destinationId, Role.EDITOR, resource_type=KIND
    )
    connector_delete_from_api(actor=principal(request).user, obj=destination)
    return Status(204, None)
