"""Every write to workspaces and memberships, each with its audit event."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.text import slugify

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.roles import Role
from apps.workspaces.models import Membership, Workspace

WORKSPACE_CREATE_REFUSED = (
    "On this console only staff create workspaces. Ask a console administrator "
    "to create one and add you to it."
)


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValidationError({"name": "Give the workspace a name."})
    return cleaned


def _own_workspaces(user: AbstractBaseUser) -> QuerySet[Workspace]:
    """The workspaces ``user`` belongs to: the only names a check may look at."""
    return Workspace.objects.filter(memberships__user_id=user.pk)


def _check_name_free(
    name: str, *, user: AbstractBaseUser, exclude: Workspace | None = None
) -> None:
    # Unique among the acting user's own workspaces only: a console-wide check
    # would tell anyone which names other teams use.
    taken = _own_workspaces(user).filter(name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise ValidationError(
            {
                "name": f"A workspace named “{name}” already exists among your "
                "workspaces; pick another name."
            }
        )


def _unique_slug(
    name: str, *, user: AbstractBaseUser, exclude: Workspace | None = None
) -> str:
    # Like the name, the slug is unique among the user's own workspaces only, so
    # a "-2" never hints at a workspace elsewhere.
    base = slugify(name)[:100] or "workspace"
    slug, n = base, 2
    others = _own_workspaces(user)
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    while others.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def workspace_create_allowed(user: AbstractBaseUser | None) -> bool:
    """Whether ``user`` may create workspaces (``CONSOLE_WORKSPACE_CREATORS``)."""
    if user is None or not user.is_authenticated:
        return False
    if settings.CONSOLE_WORKSPACE_CREATORS == "staff":
        return bool(user.is_staff or user.is_superuser)
    return True


@transaction.atomic
def workspace_create(*, actor: AbstractBaseUser, name: str) -> Workspace:
    """Create a workspace; its creator becomes its first admin.

    Refused with PermissionDenied when the console lets only staff create
    workspaces and ``actor`` is not staff.
    """
    if not workspace_create_allowed(actor):
        raise PermissionDenied(WORKSPACE_CREATE_REFUSED)
    name = _clean_name(name)
    _check_name_free(name, user=actor)
    workspace = Workspace(name=name, slug=_unique_slug(name, user=actor))
    workspace.full_clean()
    workspace.save()
    Membership.objects.create(user=actor, workspace=workspace, role=Role.ADMIN)
    audit_record(
        actor=actor,
        action="workspace.created",
        workspace=workspace,
        target=workspace,
        changes={"name": [None, name], "engine": [None, workspace.engine]},
    )
    return workspace


@transaction.atomic
def workspace_rename(
    *, actor: AbstractBaseUser, workspace: Workspace, name: str
) -> Workspace:
    """Give a workspace a new name (its URL, which carries the public id, stays)."""
    name = _clean_name(name)
    if name == workspace.name:
        return workspace
    _check_name_free(name, user=actor, exclude=workspace)
    before = workspace.name
    workspace.name = name
    workspace.slug = _unique_slug(name, user=actor, exclude=workspace)
    workspace.full_clean()
    workspace.save(update_fields=["name", "slug", "updated_at"])
    audit_record(
        actor=actor,
        action="workspace.renamed",
        workspace=workspace,
        target=workspace,
        changes={"name": [before, name]},
    )
    return workspace


def member_added_message(*, email: str, role: str) -> str:
    """What "add member" says, the same whether or not ``email`` has an account.

    A different answer for an unknown email would let any workspace admin (and
    anyone may create a workspace) test which emails have accounts here.
    """
    return (
        f"If {email} has an account on this console, they are now a member with "
        f"the {Role(role).label.lower()} role. Nobody is sent an email: tell them "
        "yourself. Someone without an account needs a console administrator to "
        "create one first."
    )


@transaction.atomic
def member_add(
    *, actor: AbstractBaseUser, workspace: Workspace, email: str, role: str
) -> Membership | None:
    """Add an existing user, found by email, to a workspace with a role.

    Returns None, changing nothing in the workspace, when no active account has
    that email; callers answer both cases alike (``member_added_message``). That
    case is audited console-wide (no workspace), so only staff see it.
    """
    email = email.strip()
    user = (
        get_user_model()
        .objects.filter(email__iexact=email, is_active=True)
        .order_by("pk")
        .first()
    )
    if user is None:
        audit_record(
            actor=actor,
            action="membership.add_unknown_email",
            target_label=email,
            changes={"workspace": str(workspace.public_id), "role": role},
            outcome=AuditEvent.Outcome.FAILURE,
        )
        return None
    if Membership.objects.filter(workspace=workspace, user=user).exists():
        raise ValidationError({"email": f"{email} is already a member."})
    membership = Membership(workspace=workspace, user=user, role=Role(role))
    membership.full_clean()
    membership.save()
    audit_record(
        actor=actor,
        action="membership.added",
        workspace=workspace,
        target=membership,
        target_label=user.email,
        changes={"role": [None, membership.role]},
    )
    return membership


def _lock_admins(workspace: Workspace) -> list[int]:
    # Locking the admin rows serialises concurrent demotions, so two admins cannot
    # demote each other at once and leave the workspace with none.
    return list(
        Membership.objects.select_for_update()
        .filter(workspace=workspace, role=Role.ADMIN)
        .values_list("pk", flat=True)
    )


@transaction.atomic
def member_change_role(
    *, actor: AbstractBaseUser, membership: Membership, role: str
) -> Membership:
    """Change a member's role; the last admin cannot be demoted."""
    role = Role(role)
    if role == membership.role:
        return membership
    admins = _lock_admins(membership.workspace)
    if membership.role == Role.ADMIN and admins == [membership.pk]:
        raise ValidationError(
            {
                "role": "The last admin cannot be demoted. "
                "Make another member admin first."
            }
        )
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    audit_record(
        actor=actor,
        action="membership.role_changed",
        workspace=membership.workspace,
        target=membership,
        target_label=membership.user.email,
        changes={"role": [before, role]},
    )
    return membership


@transaction.atomic
def member_remove(*, actor: AbstractBaseUser, membership: Membership) -> None:
    """Remove a member; the last admin cannot be removed."""
    admins = _lock_admins(membership.workspace)
    if membership.role == Role.ADMIN and admins == [membership.pk]:
        raise ValidationError(
            "The last admin cannot be removed. Make another member admin first."
        )
    audit_record(
        actor=actor,
        action="membership.removed",
        workspace=membership.workspace,
        target=membership,
        target_label=membership.user.email,
        changes={"role": [membership.role, None]},
    )
    membership.delete()
