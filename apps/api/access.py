"""Who is calling the API, and which workspaces and objects they may reach.

A token acts as its owner: in each workspace it may do what the owner's role
there allows, no more, and only while the owner is a member. An outsider (or an
unknown id) gets the same 404, so the API never tells which ids exist elsewhere;
a member below the role an action needs gets 403.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from django.db.models import Model, QuerySet

from apps.api.problems import forbidden, not_found
from apps.core.roles import Role
from apps.workspaces.models import Membership, Workspace

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.http import HttpRequest

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class ApiPrincipal:
    """The caller behind a request: the user, and the token (if any) they used."""

    user: AbstractBaseUser
    kind: str  # "application", "pat" or "session"
    token_id: int | None = None
    label: str = ""


def principal(request: HttpRequest) -> ApiPrincipal:
    """The authenticated caller (the API's auth has already refused anonymous calls)."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiPrincipal):
        return auth
    raise RuntimeError("principal() called on an endpoint without authentication")


def _uuid(value: Any) -> UUID | None:
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except (TypeError, ValueError):
        return None


def _require(membership: Membership, role: str, what: str) -> Membership:
    if not membership.allows(role):
        raise forbidden(
            f"Your role in workspace {membership.workspace.name} is "
            f"{membership.role}; {what} needs the {Role(role).label.lower()} role "
            "or above."
        )
    return membership


def membership_for(
    request: HttpRequest, workspace_id: Any, role: str = Role.VIEWER
) -> Membership:
    """The caller's membership of a workspace: 404 to outsiders, 403 below role."""
    user = principal(request).user
    wanted = _uuid(workspace_id)
    membership = (
        Membership.objects.select_related("workspace")
        .filter(user=user, workspace__public_id=wanted)
        .first()
        if wanted
        else None
    )
    if membership is None:
        raise not_found(
            f"Workspace {workspace_id} not found.",
            resource_type="workspace",
            resource_id=str(workspace_id),
        )
    return _require(membership, role, "this action")


def member_workspaces(request: HttpRequest) -> QuerySet[Workspace]:
    """The workspaces the caller belongs to."""
    return Workspace.objects.filter(memberships__user=principal(request).user)


def scoped_get(
    request: HttpRequest,
    queryset: QuerySet[M] | type[M],
    public_id: Any,
    role: str = Role.VIEWER,
    *,
    resource_type: str = "",
) -> tuple[M, Membership]:
    """A workspace-scoped object by public id, and the caller's membership there.

    Unknown ids and objects in a workspace the caller is not a member of give the
    same 404; a member below ``role`` gets 403.
    """
    rows = queryset if isinstance(queryset, QuerySet) else queryset._default_manager
    model = rows.model
    what = resource_type or model._meta.model_name
    wanted = _uuid(public_id)
    obj = (
        rows.filter(public_id=wanted).select_related("workspace").first()
        if wanted
        else None
    )
    membership = None
    if obj is not None:
        membership = (
            Membership.objects.select_related("workspace")
            .filter(user=principal(request).user, workspace_id=obj.workspace_id)
            .first()
        )
    if obj is None or membership is None:
        raise not_found(
            f"{what.capitalize()} {public_id} not found.",
            resource_type=what,
            resource_id=str(public_id),
        )
    return obj, _require(membership, role, f"this {what} action")
