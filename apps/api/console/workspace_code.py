"""Workspace export and import over the API (``/api/console/v1/workspaces/{id}``).

``GET .../export`` answers the workspace file as YAML, or as JSON with
``?format=json``; any member may read it (no secret is ever in it). ``POST
.../import`` takes the file as text and answers the plan; ``dry_run`` stops
there. Import needs the admin role, the dry run too: a plan says whether each
secret it is given matches the stored one, which must not become a way for a
member to test guesses. ``${env:NAME}`` references are read from the call's
``env`` object, never from the console's own environment (which holds its keys).
"""

from __future__ import annotations

from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema

from apps.api.access import membership_for, principal
from apps.api.problems import conflict, unprocessable
from apps.api.workspace_code import (
    ImportRefused,
    workspace_export,
    workspace_import,
    workspace_plan,
)
from apps.api.workspace_code.apply import STALE
from apps.core.roles import Role

router = Router(tags=["Workspaces as code"])


class FieldChangeOut(Schema):
    field: str
    text: str
    secret: bool
    old: Any = None
    new: Any = None


class ChangeOut(Schema):
    action: Literal["create", "update", "delete", "unchanged", "kept", "skipped"]
    kind: str
    name: str
    changes: list[FieldChangeOut]
    note: str = ""


class PlanOut(Schema):
    applied: bool = Field(description="True when the import changed the workspace.")
    ok: bool
    problems: list[str]
    warnings: list[str]
    changes: list[ChangeOut]
    summary: dict[str, int]
    digest: str = Field(
        description="What this plan was made from: the workspace's state, the "
        "document, the env values it uses and prune. Send it back with the import "
        "to apply exactly this plan: anything else answers 409."
    )
    prune: bool


class ProblemOut(Schema):
    """An error, as every answer of the console's API gives one (RFC 9457)."""

    status: int
    type: str
    title: str
    detail: str
    data: dict[str, Any] | None = None


_PROBLEMS: dict[int, type[Schema]] = {
    400: ProblemOut,
    401: ProblemOut,
    403: ProblemOut,
    404: ProblemOut,
}


class ImportIn(Schema):
    document: str = Field(description="The workspace file (YAML or JSON text).")
    dry_run: bool = False
    prune: bool = Field(
        False, description="Delete what the workspace has and the file does not."
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Values of the ${env:NAME} references."
    )
    digest: str | None = None


_EXPORT_CONTENT = {
    # OpenAPI 3.1 describes a body that is not JSON by its media type alone.
    "application/yaml": {"schema": {"description": "The workspace file, YAML."}},
    "application/json": {"schema": {"type": "object"}},
}


@router.get(
    "workspaces/{workspace_id}/export",
    response=_PROBLEMS,
    summary="Export a workspace as a file",
    openapi_extra={
        "responses": {
            200: {"description": "The workspace file.", "content": _EXPORT_CONTENT}
        }
    },
)
def export_workspace(
    request: HttpRequest, workspace_id: str, format: Literal["yaml", "json"] = "yaml"
) -> HttpResponse:
    membership = membership_for(request, workspace_id, Role.VIEWER)
    text = workspace_export(membership.workspace, format=format)
    if format == "json":
        return HttpResponse(text, content_type="application/json")
    response = HttpResponse(text, content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = (
        f'inline; filename="workspace-{membership.workspace.slug}.yaml"'
    )
    return response


def _refused(problems: list[str]) -> Any:
    errors = [{"path": "", "message": problem} for problem in problems]
    return unprocessable(
        f"Nothing was changed: {len(problems)} problem"
        f"{'' if len(problems) == 1 else 's'} (listed in data.errors).",
        {"errors": errors},
    )


@router.post(
    "workspaces/{workspace_id}/import",
    response={200: PlanOut, 409: ProblemOut, 422: ProblemOut, **_PROBLEMS},
    summary="Plan, or apply, a workspace file",
)
def import_workspace(
    request: HttpRequest, workspace_id: str, payload: ImportIn
) -> dict[str, Any]:
    membership = membership_for(request, workspace_id, Role.ADMIN)
    arguments = {
        "workspace": membership.workspace,
        "text": payload.document,
        "environ": dict(payload.env),
        "prune": payload.prune,
        "actor": principal(request).user,
    }
    if payload.dry_run:
        plan = workspace_plan(**arguments)
        if not plan.ok:
            raise _refused(plan.problems)
        return {**plan.as_dict(), "applied": False}
    try:
        plan = workspace_import(**arguments, digest=payload.digest)
    except ImportRefused as exc:
        if exc.problems == [STALE]:
            raise conflict(STALE) from None
        raise _refused(exc.problems) from None
    return {**plan.as_dict(), "applied": plan.has_changes}
