"""The server and its connectors: ``instance_configuration``, definitions, specs.

What a client asks first (anonymous ``GET /api/v1/instance_configuration``: the
edition, version and auth mode), then which connectors a workspace may use and
each one's settings form.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.mail.message import sanitize_address
from django.http import HttpRequest
from ninja import Router, Schema

from apps.api.access import membership_for
from apps.api.config.shapes import definition_read, synchronous_job
from apps.api.connectors_io import definition_not_ready
from apps.api.problems import not_found, unprocessable
from apps.connectors.models import ConnectorDefinition
from apps.connectors.selectors import definition_choices
from apps.core.roles import Role
from apps.engines.base import EngineError
from apps.engines.registry import get_engine

router = Router(tags=["instance_configuration", "source_definition"])

# The Airbyte release whose Config API the console answers: clients pick their
# calls by it (the console's airbyte engine needs 1.x and reads sync modes by it).
AIRBYTE_VERSION = "1.8.0"
# Airbyte OSS's default organisation and user are the nil UUID. The console has no
# single default workspace, and this call is anonymous: it names none (the nil
# UUID too) rather than tell strangers a real workspace's id.
NIL_UUID = "00000000-0000-0000-0000-000000000000"


def _sender_address() -> str:
    """The console's own mail address (From: of its mail), without a display name."""
    try:
        address = sanitize_address(settings.DEFAULT_FROM_EMAIL, "utf-8")
    except (ValueError, TypeError):
        return "console@localhost"
    return address.rsplit("<", 1)[-1].rstrip(">") or "console@localhost"


@router.get(
    "instance_configuration",
    auth=None,
    response=dict,
    operation_id="getInstanceConfiguration",
    summary="Get instance configuration",
)
def instance_configuration(request: HttpRequest) -> dict[str, Any]:
    """What this server is: Airbyte 1.8 community edition with application sign-in."""
    return {
        "edition": "community",
        "version": AIRBYTE_VERSION,
        # Community servers leave licenseStatus null, which the spec does not
        # allow; "pro" is its value for "nothing wrong with the licence".
        "licenseStatus": "pro",
        "auth": {"mode": "simple"},
        "airbyteUrl": settings.CONSOLE_BASE_URL,
        "initialSetupComplete": True,
        "defaultUserId": NIL_UUID,
        "defaultOrganizationId": NIL_UUID,
        "defaultOrganizationEmail": _sender_address(),
        "defaultWorkspaceId": NIL_UUID,
        "trackingStrategy": "logging",
    }


class WorkspaceIdActorDefinitionRequestBody(Schema):
    workspaceId: UUID
    includeTombstone: bool = False
    filterByUsed: bool = False


def _definitions(request: HttpRequest, kind: str, workspace_id: UUID) -> dict:
    workspace = membership_for(request, workspace_id, Role.VIEWER).workspace
    rows = definition_choices(kind=kind, workspace=workspace)
    return {f"{kind}Definitions": [definition_read(d) for d in rows]}


@router.post(
    "source_definitions/list_for_workspace",
    response=dict,
    operation_id="listSourceDefinitionsForWorkspace",
    summary="List the source connectors a workspace can use",
)
def source_definitions(
    request: HttpRequest, body: WorkspaceIdActorDefinitionRequestBody
) -> dict[str, Any]:
    """``SourceDefinitionReadList``: the sources the workspace's engine runs."""
    return _definitions(request, "source", body.workspaceId)


@router.post(
    "destination_definitions/list_for_workspace",
    response=dict,
    operation_id="listDestinationDefinitionsForWorkspace",
    summary="List the destination connectors a workspace can use",
)
def destination_definitions(
    request: HttpRequest, body: WorkspaceIdActorDefinitionRequestBody
) -> dict[str, Any]:
    """``DestinationDefinitionReadList``."""
    return _definitions(request, "destination", body.workspaceId)


class SourceDefinitionIdWithWorkspaceId(Schema):
    sourceDefinitionId: UUID
    workspaceId: UUID


class DestinationDefinitionIdWithWorkspaceId(Schema):
    destinationDefinitionId: UUID
    workspaceId: UUID


def definition_in(
    workspace: Any, kind: str, definition_id: UUID
) -> ConnectorDefinition:
    """A definition the workspace may use, or 404 (as Airbyte answers an unknown id)."""
    found = (
        definition_choices(kind=kind, workspace=workspace)
        .filter(definition_id=definition_id)
        .first()
    )
    if found is None:
        raise not_found(
            f"No {kind} definition {definition_id} in this workspace.",
            resource_type=f"{kind}_definition",
            resource_id=str(definition_id),
        )
    return found


def _specification(
    request: HttpRequest, kind: str, definition_id: UUID, workspace_id: UUID
) -> dict[str, Any]:
    workspace = membership_for(request, workspace_id, Role.VIEWER).workspace
    definition = definition_in(workspace, kind, definition_id)
    # A connector never installed here would be installed to read its spec: that
    # is staff's call on the Catalog page, and too slow for a request.
    problem = definition_not_ready(definition, workspace)
    if problem is not None:
        raise unprocessable(problem.detail, problem.data)
    try:
        spec = get_engine(workspace).spec(definition.ref)
    except EngineError as exc:
        raise unprocessable(exc.message) from None
    out: dict[str, Any] = {
        f"{kind}DefinitionId": str(definition.definition_id),
        "documentationUrl": spec.documentation_url or definition.documentation_url,
        "connectionSpecification": spec.connection_specification,
        "jobInfo": synchronous_job("get_spec"),
    }
    if spec.advanced_auth:
        out["advancedAuth"] = spec.advanced_auth
    if kind == "destination":
        out["supportedDestinationSyncModes"] = list(
            spec.supported_destination_sync_modes or ("overwrite", "append")
        )
    return out


@router.post(
    "source_definition_specifications/get",
    response=dict,
    operation_id="getSourceDefinitionSpecification",
    summary="A source connector's settings form",
)
def source_specification(
    request: HttpRequest, body: SourceDefinitionIdWithWorkspaceId
) -> dict[str, Any]:
    """``SourceDefinitionSpecificationRead``: the connector's JSON Schema."""
    return _specification(request, "source", body.sourceDefinitionId, body.workspaceId)


@router.post(
    "destination_definition_specifications/get",
    response=dict,
    operation_id="getDestinationDefinitionSpecification",
    summary="A destination connector's settings form",
)
def destination_specification(
    request: HttpRequest, body: DestinationDefinitionIdWithWorkspaceId
) -> dict[str, Any]:
    """``DestinationDefinitionSpecificationRead``, with the sync modes it writes."""
    return _specification(
        request, "destination", body.destinationDefinitionId, body.workspaceId
    )
