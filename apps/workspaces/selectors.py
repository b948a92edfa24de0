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


def workspace_find_for_user(*, user: AbstractBaseUser, wanted: str) -> list[Membership]:
    """The user's memberships whose workspace has this id, name (any case) or slug.

    Only the user's own workspaces are looked at: names are not unique across the
    console, and another team's name is none of the caller's business. An id
    match wins; more than one name match means the name is ambiguous for them.
    """
    wanted = wanted.strip()
    memberships = list(workspace_list_for_user(user=user))
    by_id = [m for m in memberships if str(m.workspace.public_id) == wanted.lower()]
    if by_id:
        return by_id
    by_name = [m for m in memberships if m.workspace.name.lower() == wanted.lower()]
    if by_name:
        return by_name
    return [m for m in memberships if m.workspace.slug == wanted.lower()]


def workspace_get_by_name(*, user: AbstractBaseUser, name: str) -> Workspace | None:
    """One of the user's workspaces by id, name (any case) or slug, if exactly one."""
    found = workspace_find_for_user(user=user, wanted=name)
    return found[0].workspace if len(found) == 1 else None
