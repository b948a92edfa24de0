"""Resolving the caller's membership: outsiders get 404, a role too low gets 403."""

from __future__ import annotations

from uuid import UUID

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from apps.core.roles import Role
from apps.workspaces.models import Membership


def require_role(
    request: HttpRequest, workspace_id: UUID, role: str = Role.VIEWER
) -> Membership:
    """The request user's membership in the workspace, if it allows ``role``.

    A workspace the user does not belong to is reported as missing, so its existence
    does not leak; a member whose role is too low is refused with 403.
    """
    membership = (
        Membership.objects.select_related("workspace", "user")
        .filter(workspace__public_id=workspace_id, user_id=request.user.pk)
        .first()
    )
    if membership is None:
        raise Http404("No such workspace.")
    if not membership.allows(role):
        raise PermissionDenied(
            f"This needs the {Role(role).label.lower()} role in {membership.workspace}."
        )
    request.workspace = membership.workspace
    request.membership = membership
    return membership
