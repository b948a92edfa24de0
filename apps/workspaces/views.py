"""Workspace pages: my workspaces, create, overview, settings and members."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.audit.selectors import audit_event_list
from apps.core.forms import apply_validation_error
from apps.core.htmx import redirect, render_page
from apps.core.roles import ROLE_DESCRIPTIONS, Role
from apps.workspaces import selectors, services
from apps.workspaces.access import require_role
from apps.workspaces.dashboard import dashboard_context
from apps.workspaces.forms import MemberAddForm, MemberRoleForm, WorkspaceForm
from apps.workspaces.models import Membership

SESSION_WORKSPACE = "workspace_id"


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The user's workspaces."""
    memberships = selectors.workspace_list_for_user(user=request.user)
    return render(request, "workspaces/home.html", {"memberships": memberships})


@login_required
@require_http_methods(["GET", "POST"])
def workspace_create(request: HttpRequest) -> HttpResponse:
    """Create a workspace; the creator becomes its admin (403 when not allowed)."""
    if not services.workspace_create_allowed(request.user):
        raise PermissionDenied(services.WORKSPACE_CREATE_REFUSED)
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            workspace = services.workspace_create(
                actor=request.user, name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Workspace “{workspace.name}” created.")
            return redirect(
                request, "workspaces:detail", workspace_id=workspace.public_id
            )
    status = 400 if form.errors else 200
    return render_page(
        request, "workspaces/create.html", {"form": form}, partial="form", status=status
    )


@login_required
@require_GET
def workspace_detail(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """A workspace's overview; visiting it makes it the current workspace."""
    membership = require_role(request, workspace_id)
    request.session[SESSION_WORKSPACE] = str(workspace_id)
    workspace = membership.workspace
    context = {
        **dashboard_context(workspace),
        "workspace": workspace,
        "membership": membership,
        "members": selectors.membership_list(workspace=workspace)[:10],
        "recent_events": (
            audit_event_list(workspace=workspace)[:8] if membership.is_admin else []
        ),
    }
    return render(request, "workspaces/detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def workspace_settings(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Rename the workspace (admins)."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    workspace = membership.workspace
    form = WorkspaceForm(request.POST or None, initial={"name": workspace.name})
    if request.method == "POST" and form.is_valid():
        try:
            services.workspace_rename(
                actor=request.user, workspace=workspace, name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, "Workspace renamed.")
            return redirect(
                request, "workspaces:settings", workspace_id=workspace.public_id
            )
    status = 400 if form.errors else 200
    context = {"workspace": workspace, "membership": membership, "form": form}
    return render_page(
        request, "workspaces/settings.html", context, partial="form", status=status
    )


def _members_context(membership: Membership, add_form: MemberAddForm) -> dict:
    return {
        "workspace": membership.workspace,
        "membership": membership,
        "members": selectors.membership_list(workspace=membership.workspace),
        "add_form": add_form,
        "roles": Role.choices,
        "role_descriptions": [(Role(r).label, d) for r, d in ROLE_DESCRIPTIONS.items()],
    }


@login_required
@require_GET
def member_list(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Members and their roles; admins also see the forms to manage them."""
    membership = require_role(request, workspace_id)
    context = _members_context(membership, MemberAddForm())
    return render_page(request, "workspaces/members.html", context, partial="members")


@login_required
@require_POST
def member_add(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Invite someone by email (admins): their account is created if needed.

    The answer is the same whether or not the email has an account (a redirect
    to the members page with one message of the same words), so the form cannot
    be used to find out who has an account here.
    """
    membership = require_role(request, workspace_id, Role.ADMIN)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            invitation = services.member_invite(
                actor=request.user,
                workspace=membership.workspace,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                base_url=request.build_absolute_uri("/"),
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.info(request, services.member_invite_message(invitation))
            return redirect(request, "workspaces:members", workspace_id=workspace_id)
    context = _members_context(membership, form)
    return render_page(
        request, "workspaces/members.html", context, partial="members", status=400
    )


@login_required
@require_POST
def member_change_role(
    request: HttpRequest, workspace_id: UUID, membership_id: UUID
) -> HttpResponse:
    """Change a member's role (admins); the last admin stays admin."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    target = get_object_or_404(
        Membership.objects.select_related("user", "workspace"),
        public_id=membership_id,
        workspace=membership.workspace,
    )
    form = MemberRoleForm(request.POST)
    status = 200
    if not form.is_valid():
        messages.error(request, "Choose one of the roles.")
        status = 400
    else:
        try:
            services.member_change_role(
                actor=request.user, membership=target, role=form.cleaned_data["role"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            status = 400
        else:
            messages.success(request, f"{target.user.email} is now {target.role}.")
    return _members_response(request, membership, status)


@login_required
@require_POST
def member_remove(
    request: HttpRequest, workspace_id: UUID, membership_id: UUID
) -> HttpResponse:
    """Remove a member (admins); the last admin cannot be removed."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    target = get_object_or_404(
        Membership.objects.select_related("user", "workspace"),
        public_id=membership_id,
        workspace=membership.workspace,
    )
    status = 200
    try:
        services.member_remove(actor=request.user, membership=target)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        status = 400
    else:
        messages.success(request, f"{target.user.email} removed.")
        if target.pk == membership.pk:
            return redirect(request, "workspaces:home")
    return _members_response(request, membership, status)


def _members_response(
    request: HttpRequest, membership: Membership, status: int
) -> HttpResponse:
    if request.htmx:
        context = _members_context(membership, MemberAddForm())
        return render_page(
            request,
            "workspaces/members.html",
            context,
            partial="members",
            status=status,
        )
    return redirect(
        request, "workspaces:members", workspace_id=membership.workspace.public_id
    )
