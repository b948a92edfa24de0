"""Public API: workspaces (``/api/public/v1/workspaces``).

A caller sees the workspaces they are a member of; any other id is a 404.
Creating one follows ``CONSOLE_WORKSPACE_CREATORS`` like the page does, and the
creator becomes its admin; renaming needs the admin role.

Deleting a workspace is refused here (403, one of the statuses the spec lists
for the call): it removes every pipeline and its history, and the console asks
an admin to type the workspace's name on its settings page to confirm. The
answer says where that page is.

``notifications`` are accepted and not stored (the console notifies through its
webhooks and in-app notifications, set up on their own pages); answers show
every kind disabled, and ``dataResidency`` is ``auto``.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.urls import reverse
from ninja import Query, Router

from apps.api.access import member_workspaces, membership_for, principal
from apps.api.connectors_io import requested_workspaces
from apps.api.pagination import DEFAULT_LIMIT, id_list, paginate
from apps.api.problems import forbidden, problem_from_validation
from apps.api.public.schemas_connectors import (
    WorkspaceCreateRequest,
    WorkspaceResponse,
    WorkspacesResponse,
    WorkspaceUpdateRequest,
)
from apps.core.roles import Role
from apps.workspaces import services
from apps.workspaces.models import Workspace

# ``workspaceIds`` repeated (``?workspaceIds=a&workspaceIds=b``) or comma-joined.
ID_LIST = Query(None)

router = Router(tags=["Workspaces"])

_NOTIFICATION_KINDS = (
    "failure",
    "success",
    "connectionUpdate",
    "connectionUpdateActionRequired",
    "syncDisabled",
    "syncDisabledWarning",
)


def workspace_response(workspace: Workspace) -> dict[str, Any]:
    """A ``WorkspaceResponse``."""
    return {
        "workspaceId": str(workspace.public_id),
        "name": workspace.name,
        "dataResidency": "auto",
        "notifications": {
            kind: {"email": {"enabled": False}, "webhook": {"enabled": False}}
            for kind in _NOTIFICATION_KINDS
        },
    }


@router.get(
    "workspaces",
    response=WorkspacesResponse,
    operation_id="listWorkspaces",
    summary="List workspaces",
)
def list_workspaces(
    request: HttpRequest,
    workspaceIds: list[str] | None = ID_LIST,  # Airbyte's name
    includeDeleted: bool = False,  # nothing is soft-deleted here
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> dict[str, Any]:
    """The caller's workspaces, oldest first; an id that is not theirs is a 404."""
    rows = requested_workspaces(
        member_workspaces(request), id_list(workspaceIds)
    ).order_by("created_at", "pk")
    page = paginate(request, rows, limit=limit, offset=offset)
    return {**page, "data": [workspace_response(w) for w in page["data"]]}


@router.post(
    "workspaces",
    response=WorkspaceResponse,
    operation_id="createWorkspace",
    summary="Create a workspace",
)
def create_workspace(
    request: HttpRequest, body: WorkspaceCreateRequest
) -> dict[str, Any]:
    """A new workspace, with the caller as its admin (200, as Airbyte answers)."""
    try:
        workspace = services.workspace_create(
            actor=principal(request).user, name=body.name
        )
    except PermissionDenied as exc:
        raise forbidden(str(exc)) from None
    except ValidationError as exc:
        raise problem_from_validation(exc) from None
    return workspace_response(workspace)


@router.get(
    "workspaces/{workspaceId}",
    response=WorkspaceResponse,
    operation_id="getWorkspace",
    summary="Get Workspace details",
)
def get_workspace(request: HttpRequest, workspaceId: str) -> dict[str, Any]:
    """One of the caller's workspaces."""
    return workspace_response(membership_for(request, workspaceId).workspace)


@router.patch(
    "workspaces/{workspaceId}",
    response=WorkspaceResponse,
    operation_id="updateWorkspace",
    summary="Update a workspace",
)
def update_workspace(
    request: HttpRequest,
    workspaceId: str,
    body: WorkspaceUpdateRequest,
) -> dict[str, Any]:
    """Rename a workspace (admins)."""
    membership = membership_for(request, workspaceId, Role.ADMIN)
    workspace = membership.workspace
    if body.name is not None:
        try:
            workspace = services.workspace_rename(
                actor=principal(request).user, workspace=workspace, name=body.name
            )
        except ValidationError as exc:
            raise problem_from_validation(exc) from None
    return workspace_response(workspace)


@router.delete(
    "workspaces/{workspaceId}",
    response={204: None},
    operation_id="deleteWorkspace",
    summary="Delete a Workspace",
)
def delete_workspace(request: HttpRequest, workspaceId: str) -> NoReturn:
    """Refused: a workspace is deleted on its settings page, with a typed check."""
    workspace = membership_for(request, workspaceId, Role.ADMIN).workspace
    page = request.build_absolute_uri(
        reverse("workspaces:settings", kwargs={"workspace_id": workspace.public_id})
    )
    raise forbidden(
        "The API does not delete workspaces: deleting one removes every source, "
        "destination, connection and their history, so an admin confirms it by "
        f"typing the workspace's name on its settings page: {page}"
    )
