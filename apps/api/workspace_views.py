"""The "Workspace as code" page: download the workspace file, upload one, see the
plan, apply it.

Any member downloads (no secret is in the file). Planning and applying need the
admin role: a file can add members and change roles, and a plan tells whether each
secret it is given matches the stored one. A plan with no problem waits in the
session, encrypted (the text, the values typed for its ``${env:NAME}`` references
and the prune choice), between the plan and "Apply"; the plan is computed again on
apply, and refused unless it is the plan shown with that Apply button: its digest
covers the workspace, the text, the values and prune, so a plan shown since in
another tab is never applied by the first tab's button. Typed values are never
sent back in the page.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from cryptography.fernet import InvalidToken
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET, require_POST

from apps.api.workspace_code import (
    ImportRefused,
    workspace_export,
    workspace_import,
    workspace_plan,
)
from apps.api.workspace_code.document import valid_env_name
from apps.core.htmx import redirect, render_page
from apps.core.roles import Role
from apps.credentials.encryption import multi_fernet
from apps.workspaces.access import require_role
from apps.workspaces.models import Membership

TEMPLATE = "api/workspace_code.html"
MAX_FILE_BYTES = 2 * 1024 * 1024


def _session_key(workspace_id: UUID) -> str:
    return f"workspace_code:{workspace_id}"


def _seal(pending: dict[str, Any]) -> str:
    """The pending import, encrypted like a credential (it may hold secrets)."""
    return multi_fernet().encrypt(json.dumps(pending).encode()).decode()


def _unseal(sealed: Any) -> dict[str, Any] | None:
    if not isinstance(sealed, str):
        return None
    try:
        return json.loads(multi_fernet().decrypt(sealed.encode()))
    except (InvalidToken, ValueError):
        return None


def _forget_env(form: WorkspaceFileForm) -> None:
    """Render the form without the typed values: they are secrets."""
    data = form.data.copy()
    data["env"] = ""
    form.data = data


class WorkspaceFileForm(forms.Form):
    """A workspace file (uploaded or pasted) and the values of its references."""

    file = forms.FileField(label="Workspace file (YAML)", required=False)
    # The browser keeps a pasted file under the limit too: a body over Django's
    # DATA_UPLOAD_MAX_MEMORY_SIZE is refused before this view runs.
    text = forms.CharField(
        label="…or paste it",
        required=False,
        max_length=MAX_FILE_BYTES,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
    )
    env = forms.CharField(
        label="Values for ${env:NAME} references",
        required=False,
        help_text="One NAME=value per line. Kept encrypted until you apply or leave.",
        widget=forms.Textarea(
            attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off"}
        ),
    )
    prune = forms.BooleanField(
        label="Delete what the workspace has and the file does not",
        required=False,
    )

    def clean_env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["env"].splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, sep, value = line.partition("=")
            name = name.strip()
            if not sep or not valid_env_name(name):
                raise forms.ValidationError(
                    f"Line {number} is not NAME=value (a name of letters, digits "
                    "and _)."
                )
            values[name] = value
        return values

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        upload = data.get("file")
        if upload is not None:
            if upload.size > MAX_FILE_BYTES:
                raise forms.ValidationError("The file is larger than 2 MB.")
            try:
                data["text"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise forms.ValidationError("The file is not UTF-8 text.") from None
        if not (data.get("text") or "").strip():
            raise forms.ValidationError("Choose a workspace file or paste one.")
        return data


def _context(membership: Membership, **extra: Any) -> dict[str, Any]:
    return {
        "workspace": membership.workspace,
        "membership": membership,
        "form": extra.pop("form", None) or WorkspaceFileForm(),
        **extra,
    }


@login_required
@require_GET
def workspace_code(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """The page: download, and (admins) upload a file to see its plan."""
    membership = require_role(request, workspace_id)
    return render_page(request, TEMPLATE, _context(membership))


@login_required
@require_GET
def workspace_code_download(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """The workspace file, as an attachment."""
    membership = require_role(request, workspace_id)
    workspace = membership.workspace
    response = HttpResponse(
        workspace_export(workspace), content_type="application/yaml; charset=utf-8"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="workspace-{workspace.slug}.yaml"'
    )
    return response


@login_required
@require_POST
def workspace_code_plan(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Show what importing the uploaded file would do; change nothing."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    form = WorkspaceFileForm(request.POST, request.FILES)
    valid = form.is_valid()
    _forget_env(form)
    if not valid:
        return render_page(
            request,
            TEMPLATE,
            _context(membership, form=form),
            partial="plan",
            status=400,
        )
    data = form.cleaned_data
    plan = workspace_plan(
        workspace=membership.workspace,
        text=data["text"],
        environ=data["env"],
        prune=data["prune"],
        actor=request.user,
    )
    if plan.ok:
        request.session[_session_key(workspace_id)] = _seal(
            {"text": data["text"], "env": data["env"], "prune": data["prune"]}
        )
    return render_page(
        request,
        TEMPLATE,
        _context(membership, form=form, plan=plan),
        partial="plan",
        status=200 if plan.ok else 400,
    )


@login_required
@require_POST
def workspace_code_apply(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Apply the planned file, if the workspace is still as the plan saw it."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    pending = _unseal(request.session.get(_session_key(workspace_id)))
    if not pending:
        messages.error(request, "Upload the file again: its plan has expired.")
        return redirect(request, "workspace_code:page", workspace_id=workspace_id)
    try:
        plan = workspace_import(
            actor=request.user,
            workspace=membership.workspace,
            text=pending["text"],
            environ=pending["env"],
            prune=bool(pending.get("prune")),
            digest=request.POST.get("digest", ""),
        )
    except ImportRefused as exc:
        context = _context(membership, plan=exc.plan, refused=exc.problems)
        return render_page(request, TEMPLATE, context, partial="plan", status=409)
    del request.session[_session_key(workspace_id)]
    messages.success(
        request,
        f"Imported: {plan.summary()}" if plan.has_changes else "Nothing to change.",
    )
    return redirect(request, "workspace_code:page", workspace_id=workspace_id)
