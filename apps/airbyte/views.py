"""The workspace's Engine page (admins): which engine runs it, and its Airbyte server.

One page with five parts, each a named partial of ``airbyte/engine_settings.html``:
the engine switch, the server's settings, "Test connection" (the steps it took, the
failing one obvious), the Airbyte workspace to work in, and the import of what the
server already holds. Every POST goes through one service, which audits it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET, require_POST

from apps.airbyte import services
from apps.airbyte.client import AirbyteError
from apps.airbyte.forms import AirbyteServerForm, EngineForm, RemoteWorkspaceForm
from apps.airbyte.models import AirbyteServer
from apps.core.forms import apply_validation_error
from apps.core.htmx import redirect, render_page, wants_partial
from apps.core.roles import Role
from apps.engines.base import EngineError
from apps.workspaces.access import require_role
from apps.workspaces.models import Membership, Workspace

TEMPLATE = "airbyte/engine_settings.html"
STEPS = ("reach", "sign_in", "list")


def _server(workspace: Workspace) -> AirbyteServer | None:
    return AirbyteServer.objects.filter(workspace=workspace).first()


def _remote_form(
    server: AirbyteServer | None,
    data: Any = None,
    workspaces: tuple[dict[str, str], ...] = (),
) -> RemoteWorkspaceForm:
    current = (
        (server.remote_workspace_id, server.remote_workspace_name) if server else None
    )
    return RemoteWorkspaceForm(data, workspaces=workspaces, current=current)


def _probe_rows(probe: services.ServerProbe) -> list[dict[str, Any]]:
    """The three steps in order, each done (✓/✗), not needed, or not tried."""
    done = {step.name: step for step in probe.steps}
    failed = False
    rows = []
    for name in STEPS:
        step = done.get(name)
        if step is not None:
            state = "ok" if step.ok else "failed"
            detail = step.detail
        elif failed:
            state, detail = "skipped", "Not tried: an earlier step failed."
        else:
            state, detail = "not_needed", "Not needed with this authentication."
        failed = failed or state == "failed"
        rows.append(
            {
                "name": name,
                "label": services.STEP_LABELS[name],
                "state": state,
                "detail": detail,
            }
        )
    return rows


def _context(
    membership: Membership,
    *,
    engine_form: EngineForm | None = None,
    server_form: AirbyteServerForm | None = None,
    remote_form: RemoteWorkspaceForm | None = None,
    probe: services.ServerProbe | None = None,
    listed: bool = False,
) -> dict[str, Any]:
    workspace = membership.workspace
    server = _server(workspace)
    return {
        "workspace": workspace,
        "membership": membership,
        "server": server,
        "engine_form": engine_form or EngineForm(initial={"engine": workspace.engine}),
        "server_form": server_form or AirbyteServerForm(server=server),
        "remote_form": remote_form or _remote_form(server),
        "probe": probe,
        "probe_rows": _probe_rows(probe) if probe else [],
        # The workspace chooser was filled from a fresh listing.
        "listed": listed,
        "on_airbyte": workspace.engine == Workspace.Engine.AIRBYTE,
    }


@login_required
@require_GET
def engine_settings(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """The Engine page."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    return render_page(request, TEMPLATE, _context(membership))


@login_required
@require_POST
def engine_switch(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Switch the engine; the service says what is missing first."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    form = EngineForm(request.POST)
    if form.is_valid():
        try:
            workspace = services.workspace_engine_set(
                actor=request.user,
                workspace=membership.workspace,
                engine=form.cleaned_data["engine"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(
                request, f"This workspace now runs on {workspace.get_engine_display()}."
            )
            return redirect(request, "engine:settings", workspace_id=workspace_id)
    context = _context(membership, engine_form=form)
    return render_page(request, TEMPLATE, context, partial="engine", status=400)


@login_required
@require_POST
def server_save(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Save the server's address and sign-in; secrets left blank stay as stored."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    server = _server(membership.workspace)
    form = AirbyteServerForm(request.POST, server=server)
    if form.is_valid():
        try:
            services.server_save(
                actor=request.user, workspace=membership.workspace, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, "Airbyte server settings saved; test them next.")
            return redirect(request, "engine:settings", workspace_id=workspace_id)
    context = _context(membership, server_form=form)
    return render_page(request, TEMPLATE, context, partial="server", status=400)


@login_required
@require_POST
def server_test(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Test the saved settings step by step; a fresh listing fills the chooser."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    server = _server(membership.workspace)
    if server is None:
        messages.error(request, "Save the Airbyte server's settings first.")
        context = _context(membership)
        return render_page(request, TEMPLATE, context, partial="probe", status=400)
    probe = services.server_test(actor=request.user, server=server)
    context = _context(
        membership,
        probe=probe,
        remote_form=_remote_form(server, workspaces=probe.workspaces),
        listed=probe.ok,
    )
    # The htmx answer is the probe's fragment; on success it also refreshes the
    # workspace chooser out of band with the workspaces the test just listed.
    context["chooser_oob"] = probe.ok and wants_partial(request)
    return render_page(request, TEMPLATE, context, partial="probe")


@login_required
@require_GET
def remote_workspace_list(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """The workspace chooser, filled with the workspaces the server lists now."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    server = _server(membership.workspace)
    if server is None:
        context = _context(membership)
        context["chooser_note"] = "Save the Airbyte server's settings first."
        return render_page(request, TEMPLATE, context, partial="remote")
    probe = services.server_probe(server)
    context = _context(
        membership,
        remote_form=_remote_form(server, workspaces=probe.workspaces),
        listed=probe.ok,
    )
    if not probe.ok:
        context["chooser_note"] = probe.summary
    return render_page(request, TEMPLATE, context, partial="remote")


@login_required
@require_POST
def remote_workspace_choose(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Work in one of the server's workspaces, or in a new one created there."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    server = _server(membership.workspace)
    form = _remote_form(server, request.POST)
    if server is None:
        form.add_error(None, "Save the Airbyte server's settings first.")
    elif form.is_valid():
        try:
            server = services.remote_workspace_choose(
                actor=request.user, server=server, **form.cleaned_data
            )
        except ValidationError as exc:
            # List the server's workspaces again, so the choice can be made at once.
            probe = services.server_probe(server)
            form = _remote_form(server, request.POST, workspaces=probe.workspaces)
            form.is_valid()
            apply_validation_error(form, exc)
        else:
            messages.success(
                request,
                f"Working in the Airbyte workspace “{server.remote_workspace_name}”.",
            )
            return redirect(request, "engine:settings", workspace_id=workspace_id)
    context = _context(membership, remote_form=form, listed=True)
    return render_page(request, TEMPLATE, context, partial="remote", status=400)


@login_required
@require_POST
def airbyte_import(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Bring the server's sources, destinations and connections in; safe to repeat."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    # Imported lazily: the importer pulls in the connectors and connections apps.
    from apps.airbyte.importer import airbyte_import as run_import

    try:
        result = run_import(actor=request.user, workspace=membership.workspace)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except (AirbyteError, EngineError) as exc:
        messages.error(request, f"Import from Airbyte failed: {exc}")
    else:
        messages.success(request, import_summary(result))
        for line in result.messages:
            messages.info(request, line)
    return redirect(request, "engine:settings", workspace_id=workspace_id)


def import_summary(result: Any) -> str:
    """One sentence: what the import created and updated, per kind."""
    parts = []
    for kind, label in (
        ("sources", "source"),
        ("destinations", "destination"),
        ("connections", "connection"),
    ):
        created = getattr(result, f"{kind}_created")
        updated = getattr(result, f"{kind}_updated")
        parts.append(
            f"{created} new and {updated} updated {label}"
            f"{'' if created + updated == 1 else 's'}"
        )
    return "Imported from Airbyte: " + ", ".join(parts) + "."
