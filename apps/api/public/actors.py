"""What the Public API's sources and destinations routers share.

Airbyte's spec gives each kind its own operations, ids and parameter names
(``listSources`` with ``sourceId``, ``listDestinations`` with ``destinationId``),
so each kind keeps its router for the document's sake; the work behind each
operation is the same and lives here, taking the kind's model.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Schema, Status

from apps.api.access import member_workspaces, membership_for, principal, scoped_get
from apps.api.connectors_io import (
    connector_create_from_api,
    connector_delete_from_api,
    connector_response,
    connector_update_from_api,
    requested_workspaces,
)
from apps.api.pagination import id_list, paginate
from apps.api.problems import bad_request
from apps.connectors.models import ConnectorConfig
from apps.core.roles import Role


def _rows(model: type[ConnectorConfig]) -> Any:
    return model.objects.select_related("definition", "workspace")


def _kind(model: type[ConnectorConfig]) -> str:
    return model._meta.model_name


def _refuse_secret_id(body: Schema) -> None:
    if getattr(body, "secretId", None):
        raise bad_request(
            "secretId (from Airbyte's OAuth flow) is not supported by this console: "
            "give the secrets in configuration.",
            {"errors": [{"path": "secretId", "message": "not supported"}]},
        )


def actor_list(
    request: HttpRequest,
    model: type[ConnectorConfig],
    *,
    workspace_ids: list[str] | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    """A page of the caller's (or ``workspace_ids``') sources or destinations."""
    workspaces = requested_workspaces(
        member_workspaces(request), id_list(workspace_ids)
    )
    rows = _rows(model).filter(workspace__in=workspaces).order_by("created_at", "pk")
    page = paginate(request, rows, limit=limit, offset=offset)
    return {**page, "data": [connector_response(obj) for obj in page["data"]]}


def actor_create(
    request: HttpRequest, model: type[ConnectorConfig], body: Schema
) -> dict[str, Any]:
    """A new source or destination (editors); no connection test, as in Airbyte."""
    _refuse_secret_id(body)
    membership = membership_for(request, body.workspaceId, Role.EDITOR)
    obj = connector_create_from_api(
        actor=principal(request).user,
        workspace=membership.workspace,
        kind=_kind(model),
        name=body.name,
        configuration=body.configuration,
        definition_id=body.definitionId,
    )
    return connector_response(obj)


def actor_get(
    request: HttpRequest, model: type[ConnectorConfig], public_id: str
) -> dict[str, Any]:
    """One source or destination, secrets masked."""
    obj, _ = scoped_get(request, _rows(model), public_id, resource_type=_kind(model))
    return connector_response(obj)


def actor_update(
    request: HttpRequest,
    model: type[ConnectorConfig],
    public_id: str,
    body: Schema,
    *,
    merge: bool,
) -> dict[str, Any]:
    """Change one by PATCH (``merge``) or PUT; masks sent back keep the secrets."""
    _refuse_secret_id(body)
    kind = _kind(model)
    obj, _ = scoped_get(
        request, _rows(model), public_id, Role.EDITOR, resource_type=kind
    )
    moved_to = getattr(body, "workspaceId", None)
    if moved_to is not None and moved_to != obj.workspace.public_id:
        raise bad_request(
            f"A {kind} cannot move to another workspace.",
            {"errors": [{"path": "workspaceId", "message": "cannot be changed"}]},
        )
    obj = connector_update_from_api(
        actor=principal(request).user,
        obj=obj,
        name=body.name,
        configuration=body.configuration,
        merge=merge,
    )
    return connector_response(obj)


def actor_delete(
    request: HttpRequest, model: type[ConnectorConfig], public_id: str
) -> Status[None]:
    """Delete (204); 409 while a connection uses it."""
    obj, _ = scoped_get(
        request, _rows(model), public_id, Role.EDITOR, resource_type=_kind(model)
    )
    connector_delete_from_api(actor=principal(request).user, obj=obj)
    return Status(204, None)
