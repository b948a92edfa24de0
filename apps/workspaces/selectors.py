"""Reading workspaces and memberships."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, QuerySet

from apps.workspaces.models import Membership, Workspace


def workspace_list_for_user(*, user: AbstractBaseUser) -> QuerySet[Membership]:
    """The user's memberships with their workspaces and member counts, by name."""
    return (
        Membership.objects.filter(user_id=user.pk)
        .select_related("workspace")
        .annotate(member_count=Count("workspace__memberships"))
        .order_by("workspace__name")
    )


def membership_list(*, workspace: Workspace) -> QuerySet[Membership]:
    """A workspace's members, by email."""
    return (
        Membership.objects.filter(workspace=workspace)
        .select_related("user")
        .order_by("user__email", "user__username")
    )


def workspace_get_by_name(*, user: AbstractBaseUser, name: str) -> Workspace | None:
    """One of the user's workspaces by name (any case) or slug."""
    memberships = workspace_list_for_user(user=user)
    for membership in memberships:
        workspace = membership.workspace
        if name.lower() in (workspace.name.lower(), workspace.slug):
            return workspace
    return None
