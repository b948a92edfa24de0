"""The workspace's Engine page (admins): which engine runs it, and its Airbyte server.

One page with five parts, each a named partial of ``airbyte/engine_settings.html``:
the engine switch, the server's settings, "Test connection" (the steps it took, the
failing one obvious), the Airbyte workspace to work in, and the import of what the
server already holds. Every POST goes through one service, which audits it.

Nothing here talks to the Airbyte server: the server is one a user named, so a
test, a listing, a choice of workspace and an import are requested as a probe
(``services.probe_request``), a worker runs it, and the part of the page that asked
polls ``engine:probe`` every two seconds until it is done.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET, require_POST

from apps.airbyte import services
from apps.airbyte.forms import AirbyteServerForm, EngineForm, RemoteWorkspaceForm
from apps.airbyte.models import AirbyteProbe, AirbyteServer
from apps.core.forms import apply_validation_error
from apps.core.htmx import redirect, render_page, wants_partial
from apps.core.roles import Role
from apps.workspaces.access import require_role
from apps.workspaces.models import Membership, Workspace

TEMPLATE = "airbyte/engine_settings.html"
STEPS = ("reach", "sign_in", "list")
# The partial each kind of probe refreshes.
PROBE_PARTS = {
    AirbyteProbe.Kind.TEST: "probe",
    AirbyteProbe.Kind.LIST: "remote",
    AirbyteProbe.Kind.CHOOSE: "remote",
    AirbyteProbe.Kind.IMPORT: "import",
}


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
    pending = _pending_probes(server)
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
        # Probes a worker has not finished yet: their parts poll.
        "test_probe": pending.get("probe"),
        "remote_probe": pending.get("remote"),
        "import_probe": pending.get("import"),
        "last_import": _last_import(server),
    }


def _pending_probes(server: AirbyteServer | None) -> dict[str, AirbyteProbe]:
    """The newest unfinished probe per part of the page (lost ones left out)."""
    if server is None:
        return {}
    pending: dict[str, AirbyteProbe] = {}
    for probe in server.probes.filter(status__in=AirbyteProbe.ACTIVE_STATUSES):
        part = PROBE_PARTS[AirbyteProbe.Kind(probe.kind)]
        if part not in pending and not services.probe_lost(probe):
            pending[part] = probe
    return pending


def _last_import(server: AirbyteServer | None) -> AirbyteProbe | None:
    if server is None:
        return None
    return server.probes.filter(
        kind=AirbyteProbe.Kind.IMPORT,
        status__in=(AirbyteProbe.Status.SUCCEEDED, AirbyteProbe.Status.FAILED),
    ).first()


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


def _requested(
    request: HttpRequest,
    membership: Membership,
    probe: AirbyteProbe,
    **context: Any,
) -> HttpResponse:
    """The part that asked, now polling its probe; a plain form goes to the page."""
    if not wants_partial(request):
        return redirect(
            request, "engine:settings", workspace_id=membership.workspace.public_id
        )
    part = PROBE_PARTS[AirbyteProbe.Kind(probe.kind)]
    page = _context(membership, **context)
    page[f"{'test' if part == 'probe' else part}_probe"] = probe
    return render_page(request, TEMPLATE, page, partial=part)


def _refused(
    request: HttpRequest, membership: Membership, part: str, exc: ValidationError
) -> HttpResponse:
    messages.error(request, " ".join(exc.messages))
    context = _context(membership)
    return render_page(request, TEMPLATE, context, partial=part, status=400)


@login_required
@require_POST
def server_test(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Ask a worker to test the saved settings step by step; the part polls."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    server = _server(membership.workspace)
    if server is None:
        messages.error(request, "Save the Airbyte server's settings first.")
        context = _context(membership)
        return render_page(request, TEMPLATE, context, partial="probe", status=400)
    try:
        probe = services.probe_request(
            actor=request.user, server=server, kind=AirbyteProbe.Kind.TEST
        )
    except ValidationError as exc:
        return _refused(request, membership, "probe", exc)
    return _requested(request, membership, probe)


@login_required
@require_POST
def remote_workspace_list(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Ask a worker to list the server's workspaces; the chooser polls for them."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    server = _server(membership.workspace)
    if server is None:
        context = _context(membership)
        context["chooser_note"] = "Save the Airbyte server's settings first."
        return render_page(request, TEMPLATE, context, partial="remote", status=400)
    try:
        probe = services.probe_request(
            actor=request.user, server=server, kind=AirbyteProbe.Kind.LIST
        )
    except ValidationError as exc:
        return _refused(request, membership, "remote", exc)
    return _requested(request, membership, probe)


@login_required
@require_POST
def remote_workspace_choose(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Work in one of the server's workspaces, or in a new one created there.

    What can be refused without the server is refused here, beside the field; the
    server's own answer comes back through the probe.
    """
    membership = require_role(request, workspace_id, Role.ADMIN)
    server = _server(membership.workspace)
    form = _remote_form(server, request.POST)
    if server is None:
        form.add_error(None, "Save the Airbyte server's settings first.")
    elif form.is_valid():
        try:
            remote_workspace_id, create_name = services.remote_workspace_validate(
                server=server, **form.cleaned_data
            )
            probe = services.probe_request(
                actor=request.user,
                server=server,
                kind=AirbyteProbe.Kind.CHOOSE,
                params={
                    "remote_workspace_id": remote_workspace_id,
                    "create_name": create_name,
                },
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            return _requested(request, membership, probe, remote_form=form)
    context = _context(membership, remote_form=form, listed=True)
    return render_page(request, TEMPLATE, context, partial="remote", status=400)


@login_required
@require_POST
def airbyte_import(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Ask a worker to bring the server's sources, destinations and connections in."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    server = _server(membership.workspace)
    try:
        if server is None or membership.workspace.engine != Workspace.Engine.AIRBYTE:
            raise ValidationError(
                "Switch this workspace to the Airbyte server engine before importing."
            )
        probe = services.probe_request(
            actor=request.user, server=server, kind=AirbyteProbe.Kind.IMPORT
        )
    except ValidationError as exc:
        if wants_partial(request):
            return _refused(request, membership, "import", exc)
        messages.error(request, " ".join(exc.messages))
        return redirect(request, "engine:settings", workspace_id=workspace_id)
    return _requested(request, membership, probe)


@login_required
@require_GET
def probe_status(
    request: HttpRequest, workspace_id: UUID, probe_id: UUID
) -> HttpResponse:
    """The part of the page a probe refreshes: still polling, or what it found."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    probe = (
        AirbyteProbe.objects.for_workspace(membership.workspace)
        .select_related("server")
        .filter(public_id=probe_id)
        .first()
    )
    if probe is None:
        raise Http404("No such request.")
    kind = AirbyteProbe.Kind(probe.kind)
    part = PROBE_PARTS[kind]
    lost = services.probe_lost(probe)
    if not probe.done and not lost:
        return _requested(request, membership, probe)
    server = probe.server
    context = _context(membership)
    message = services.PROBE_LOST_MESSAGE if lost else probe.message
    if kind == AirbyteProbe.Kind.TEST:
        found = services.probe_found(probe)
        if lost or not found.steps:
            found = services.ServerProbe(
                steps=(services.ProbeStep("reach", False, message),)
            )
        context.update(
            probe=found,
            probe_rows=_probe_rows(found),
            remote_form=_remote_form(server, workspaces=found.workspaces),
            listed=found.ok,
            # On success the chooser is refreshed out of band with the workspaces
            # the test just listed.
            chooser_oob=found.ok and wants_partial(request),
        )
    elif kind == AirbyteProbe.Kind.LIST:
        found = services.probe_found(probe)
        context.update(
            remote_form=_remote_form(server, workspaces=found.workspaces),
            listed=found.ok,
        )
        if not found.ok:
            context["chooser_note"] = message if lost else found.summary
    elif kind == AirbyteProbe.Kind.CHOOSE:
        workspaces = tuple((probe.result or {}).get("workspaces") or ())
        if probe.ok:
            messages.success(request, message)
            context["remote_form"] = _remote_form(server, workspaces=workspaces)
        else:
            form = _remote_form(server, probe.params, workspaces=workspaces)
            form.is_valid()
            errors = (probe.result or {}).get("errors") or {"": [message]}
            for field_name, texts in errors.items():
                for text in texts:
                    form.add_error(field_name or None, text)
            context.update(remote_form=form, listed=bool(workspaces))
    else:
        context["import_result"] = probe
        context["import_lost"] = lost
    return render_page(request, TEMPLATE, context, partial=part)
