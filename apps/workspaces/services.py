"""Every write to workspaces and memberships, each with its audit event."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.text import slugify

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.core.invitations import invitation_token_generator, join_token_generator
from apps.core.roles import Role
from apps.core.tasks import mail_delivers, send_email_task
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


@dataclass(frozen=True)
class Invitation:
    """What ``member_invite`` did, as far as the admin who invited may know."""

    email: str
    role: str
    # The one-time link to pass on; it reaches the person by mail as well.
    link: str
    mailed: bool


def member_invite_message(invitation: Invitation) -> str:
    """What "invite" says: the same words whether or not the email had an account."""
    role = Role(invitation.role).label.lower()
    if invitation.mailed:
        return (
            f"An invitation is on its way to {invitation.email}, who is now a "
            f"member with the {role} role."
        )
    if not invitation.link:
        return (
            f"{invitation.email} is invited with the {role} role. This console sends "
            "no email: a console administrator passes the invitation on (it is in "
            "the console's mail folder), or sets up SMTP so invitations are mailed."
        )
    days = settings.PASSWORD_RESET_TIMEOUT // 86400 or 1
    return (
        f"{invitation.email} is invited with the {role} role. This console sends no "
        f"email, so pass them this link yourself (it works once, for {days} "
        f"day{'s' if days != 1 else ''}): {invitation.link}"
    )


_USERNAME = re.compile(r"^[\w.@+-]+\Z")


def _invitee(email: str) -> tuple[AbstractBaseUser, bool]:
    """The account with ``email`` (any case), or a new one without a password."""
    User = get_user_model()
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    if user is not None:
        return user, False
    # People sign in by email; the username only has to be free. A username
    # taken by someone else must not show up as an error that names them.
    # An email Django's username rules refuse (o'brien@..., over 150 characters)
    # gets a made-up one: an error here would tell the admin the email is new.
    username = email if _USERNAME.match(email) and len(email) <= 150 else ""
    while not username or User.objects.filter(username__iexact=username).exists():
        username = f"invited-{secrets.token_hex(8)}"
    user = User(username=username, email=email)
    # No password until they follow the invitation: nobody can sign in as them.
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    return user, True


def _may_set_first_password(
    user: AbstractBaseUser, workspace: Workspace, created: bool
) -> bool:
    """Whether this invitation's link may choose the account's first password.

    Only for an account made by an invitation into this workspace alone: the
    link may reach the inviting admin (no mail), and an account that also
    belongs elsewhere, or that has a password, is not theirs to take.
    """
    if created:
        return True
    return (
        user.is_active
        and not user.has_usable_password()
        and not (user.is_staff or user.is_superuser)
        and not Membership.objects.filter(user=user)
        .exclude(workspace=workspace)
        .exists()
    )


def _invitation_link(user: AbstractBaseUser, base_url: str, *, first: bool) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    generator = invitation_token_generator if first else join_token_generator
    token = generator.make_token(user)
    path = reverse("accounts:invitation", args=[uid, token])
    return base_url.rstrip("/") + path


@transaction.atomic
def member_invite(
    *,
    actor: AbstractBaseUser,
    workspace: Workspace,
    email: str,
    role: str,
    base_url: str | None = None,
) -> Invitation:
    """Make ``email`` a member, creating its account if needed, and send a link.

    The link goes by mail (after commit); it lets a new account choose its first
    password and tells an existing one to sign in as usual. The admin gets the
    same kind of link and the same words either way, so the invitation does not
    tell them whether the email had an account here. An account that was
    switched off gains no membership; that miss is audited console-wide.
    """
    User = get_user_model()
    email = User.objects.normalize_email(email.strip())
    base_url = base_url or settings.CONSOLE_BASE_URL
    role = Role(role)
    user, created = _invitee(email)
    if created:
        audit_record(
            actor=actor,
            action="user.invited",
            target=user,
            changes={"email": [None, email], "workspace": str(workspace.public_id)},
        )
    existing = Membership.objects.filter(workspace=workspace, user=user).first()
    if existing is not None and user.has_usable_password():
        raise ValidationError({"email": f"{email} is already a member."})
    if not user.is_active:
        audit_record(
            actor=actor,
            action="membership.invite_inactive_account",
            target_label=email,
            changes={"workspace": str(workspace.public_id), "role": role},
            outcome=AuditEvent.Outcome.FAILURE,
        )
    elif existing is not None:
        # Invited before and never signed in: the same membership, a fresh link.
        audit_record(
            actor=actor,
            action="membership.invitation_resent",
            workspace=workspace,
            target=existing,
            target_label=email,
            changes={"role": [existing.role, existing.role]},
        )
    else:
        membership = Membership(workspace=workspace, user=user, role=role)
        membership.full_clean()
        membership.save()
        audit_record(
            actor=actor,
            action="membership.invited",
            workspace=workspace,
            target=membership,
            target_label=email,
            changes={"role": [None, role]},
        )
    first = _may_set_first_password(user, workspace, created)
    link = _invitation_link(user, base_url, first=first)
    if user.is_active:
        context = {
            "workspace": workspace,
            "inviter": actor,
            "link": link,
            "has_account": not first,
            "role": role.label.lower(),
            "days": settings.PASSWORD_RESET_TIMEOUT // 86400 or 1,
        }
        send_email_task.delay_on_commit(
            [user.email],
            render_to_string("workspaces/email/invitation_subject.txt", context),
            render_to_string("workspaces/email/invitation.txt", context),
        )
    mailed = mail_delivers()
    # Without mail the link would reach the inviting admin, who could choose the
    # password of an email that is not theirs: only console staff see it then.
    shown = link if mailed or actor.is_staff or actor.is_superuser else ""
    # A fresh link keeps the membership it had; the message names that role.
    kept = Role(existing.role) if existing is not None else role
    return Invitation(email=email, role=kept, link=shown, mailed=mailed)


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
