"""Credential pages: list, create, detail, edit, delete, and the form's fragments.

No page or fragment ever carries a stored secret: secret inputs show the mask, and
posting the mask back keeps the stored value.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from apps.core.forms import apply_validation_error
from apps.core.htmx import render_page
from apps.core.roles import Role
from apps.credentials import selectors, services
from apps.credentials.forms import CredentialForm, PairRow
from apps.credentials.models import Credential
from apps.credentials.types import CREDENTIAL_TYPES, TypeSpec
from apps.workspaces.access import require_role

FORM_TEMPLATE = "credentials/credential_form.html"


def _spec_from(value: str | None) -> TypeSpec:
    return CREDENTIAL_TYPES.get(value or "", CREDENTIAL_TYPES[Credential.Type.API_KEY])


@login_required
@require_GET
def credential_list(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """The workspace's credentials with their hints and how often they are used."""
    membership = require_role(request, workspace_id)
    search = request.GET.get("q", "").strip()
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "credentials": selectors.credential_list(
            workspace=membership.workspace, search=search
        ),
        "search": search,
    }
    return render_page(
        request, "credentials/credential_list.html", context, partial="rows"
    )


@login_required
@require_http_methods(["GET", "POST"])
def credential_create(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """A new credential: the form's fields follow the chosen type."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    workspace = membership.workspace
    source = request.POST if request.method == "POST" else request.GET
    spec = _spec_from(source.get("type"))
    form = CredentialForm(
        request.POST or None,
        spec=spec,
        creating=True,
        initial={"type": spec.value},
    )
    if request.method == "POST" and form.is_valid():
        try:
            credential = services.credential_create(
                actor=request.user,
                workspace=workspace,
                name=form.cleaned_data["name"],
                type=spec.value,
                fields=form.payload_input,
                allowed_hosts=form.cleaned_data["allowed_hosts"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Credential “{credential.name}” saved.")
            return _to_detail(request, credential)
    context = {
        "workspace": workspace,
        "membership": membership,
        "form": form,
        "spec": spec,
        "types": CREDENTIAL_TYPES.values(),
        "creating": True,
    }
    return render_page(
        request,
        FORM_TEMPLATE,
        context,
        partial="form",
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def credential_type_fields(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """The fields of one type, swapped into the create form when the type changes."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    spec = _spec_from(request.GET.get("type"))
    form = CredentialForm(spec=spec, creating=True, initial={"type": spec.value})
    context = {"workspace": membership.workspace, "form": form, "spec": spec}
    # Always the fragment: only htmx asks for it; without JavaScript the create
    # page takes the type from its query string instead.
    return render(request, f"{FORM_TEMPLATE}#fields", context)


@login_required
@require_GET
def credential_pair_row(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """One empty key/value row, appended by the form's "Add row" button."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    context = {"workspace": membership.workspace, "row": PairRow("", False)}
    return render(request, f"{FORM_TEMPLATE}#pair_row", context)


@login_required
@require_GET
def credential_detail(
    request: HttpRequest, workspace_id: UUID, credential_id: UUID
) -> HttpResponse:
    """One credential: its non-secret fields, secrets masked, and who uses it."""
    membership = require_role(request, workspace_id)
    credential = selectors.credential_get(
        workspace=membership.workspace, credential_id=credential_id
    )
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "credential": credential,
        "shown_fields": selectors.credential_masked_fields(credential=credential),
        "usages": selectors.credential_usages(credential=credential),
    }
    return render_page(request, "credentials/credential_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def credential_edit(
    request: HttpRequest, workspace_id: UUID, credential_id: UUID
) -> HttpResponse:
    """Change a credential; secrets left as the mask keep their stored values."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    credential = selectors.credential_get(
        workspace=membership.workspace, credential_id=credential_id
    )
    spec = CREDENTIAL_TYPES[credential.type]
    stored = credential.get_payload()
    # Initial values are the non-secret fields only: a secret's input shows the mask.
    initial = {
        "name": credential.name,
        "allowed_hosts": "\n".join(credential.allowed_hosts or []),
    }
    initial.update({k: v for k, v in stored.items() if not spec.is_secret(k)})
    # Where a secret may be sent is an admin's call: an editor who never saw it
    # must not be able to send it to a host of their own.
    can_set_hosts = membership.allows(Role.ADMIN)
    form = CredentialForm(
        request.POST or None,
        spec=spec,
        stored=stored,
        creating=False,
        initial=initial,
        can_set_hosts=can_set_hosts,
    )
    if request.method == "POST" and form.is_valid():
        try:
            credential = services.credential_update(
                actor=request.user,
                credential=credential,
                name=form.cleaned_data["name"],
                fields=form.payload_input,
                allowed_hosts=(
                    form.cleaned_data["allowed_hosts"] if can_set_hosts else None
                ),
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Credential “{credential.name}” saved.")
            return _to_detail(request, credential)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "form": form,
        "spec": spec,
        "credential": credential,
        "creating": False,
    }
    return render_page(
        request,
        FORM_TEMPLATE,
        context,
        partial="form",
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def credential_delete(
    request: HttpRequest, workspace_id: UUID, credential_id: UUID
) -> HttpResponse:
    """Confirm, then delete; refused while a source or destination uses it."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    credential = selectors.credential_get(
        workspace=membership.workspace, credential_id=credential_id
    )
    error = ""
    if request.method == "POST":
        try:
            services.credential_delete(actor=request.user, credential=credential)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, f"Credential “{credential.name}” deleted.")
            url = reverse("credentials:list", args=[workspace_id])
            if request.htmx:
                response = HttpResponse(status=204)
                response["HX-Redirect"] = url
                return response
            return redirect(url)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "credential": credential,
        "usages": selectors.credential_usages(credential=credential),
        "error": error,
    }
    return render_page(
        request,
        "credentials/credential_confirm_delete.html",
        context,
        partial="confirm",
        status=400 if error else 200,
    )


def _to_detail(request: HttpRequest, credential: Credential) -> HttpResponse:
    url = reverse(
        "credentials:detail",
        args=[credential.workspace.public_id, credential.public_id],
    )
    if request.htmx:
        # The form swaps itself; a saved credential is a new page, so htmx follows.
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)
