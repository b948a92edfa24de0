"""Transforms pages: dbt projects, their models and lineage, runs with live logs, docs.

Every page reads what workers recorded (the project's graph, RunNode rows, the
run's log and output); every button asks a worker for a run and the page polls
until the run says what happened. Nothing here starts dbt.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.http import (
    content_disposition_header,
    url_has_allowed_host_and_scheme,
)
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.connections import selectors as connection_selectors
from apps.core.forms import apply_validation_error
from apps.core.htmx import redirect, render_page, wants_partial
from apps.core.roles import Role
from apps.transforms import lineage, profiles, selectors
from apps.transforms.dbt.install import ADAPTERS
from apps.transforms.forms import (
    RUN_COMMANDS,
    FileForm,
    GenerateForm,
    GitForm,
    RunForm,
    ScheduleForm,
    SettingsForm,
    TriggerForm,
    UploadForm,
)
from apps.transforms.models import DbtInstall, DbtProject, TransformRun
from apps.transforms.services import installs, projects, runs
from apps.workspaces.access import require_role
from apps.workspaces.models import Membership, Workspace

LIST_TEMPLATE = "transforms/project_list.html"
DETAIL_TEMPLATE = "transforms/project_detail.html"
ADAPTER_TITLES = {"postgres": "PostgreSQL", "duckdb": "DuckDB"}
# The docs site runs dbt's own JavaScript. ``sandbox`` gives it an opaque origin:
# it runs, but cannot read the console's cookies or act as the user. This policy
# replaces the console's usual one for that response only (the middleware sets
# its own only on responses that have none).
DOCS_POLICY = "sandbox allow-scripts"
LOG_TAIL_LINES = 1000
RUNS_PER_PAGE = 50
# dbt's words for a failure or a warning; not its summary ("ERROR=0", "WARN=0").
_ERROR_WORD = re.compile(r"\b(ERROR|Error|FAIL|error)\b(?!=)")
_WARN_WORD = re.compile(r"\b(WARN|WARNING|Warning)\b(?!=)")
# Lower case only: "LINE N:" is a database's count in the statement dbt sent.
_LINE = re.compile(r"\bline (\d+)\b")


def _project(
    request: HttpRequest, workspace_id: UUID, project_id: UUID, role: str
) -> tuple[Membership, DbtProject]:
    membership = require_role(request, workspace_id, role)
    project = selectors.project_get(
        workspace=membership.workspace, public_id=project_id
    )
    return membership, project


def _already_active(request: HttpRequest, exc: runs.RunAlreadyActive) -> None:
    messages.warning(request, " ".join(exc.messages))


def _to_project(
    request: HttpRequest, membership: Membership, project: DbtProject
) -> HttpResponse:
    return redirect(
        request,
        "transforms:detail",
        workspace_id=membership.workspace.public_id,
        project_id=project.public_id,
    )


# --- The list and dbt itself ----------------------------------------------------------


def _install_rows() -> list[dict[str, Any]]:
    found = selectors.installs()
    return [
        {
            "adapter": adapter,
            "title": ADAPTER_TITLES.get(adapter, adapter),
            "install": found.get(adapter),
        }
        for adapter in ADAPTERS
    ]


def _projects_with_counts(workspace: Workspace) -> list[DbtProject]:
    """The list's projects, each with how many models its last parse found."""
    found = list(selectors.project_list(workspace=workspace))
    for project in found:
        project.model_count = sum(
            1
            for node in selectors.graph_nodes(project)
            if node.get("resource_type") in selectors.BUILT_TYPES
        )
    return found


def _list_context(membership: Membership) -> dict[str, Any]:
    rows = _install_rows()
    return {
        "workspace": membership.workspace,
        "membership": membership,
        "projects": _projects_with_counts(membership.workspace),
        "installs": rows,
        "installing": any(
            r["install"] is not None
            and r["install"].status
            in (DbtInstall.Status.PENDING, DbtInstall.Status.INSTALLING)
            for r in rows
        ),
    }


@login_required
@require_GET
def project_list(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """The workspace's dbt projects, their destination and last run; dbt installs."""
    membership = require_role(request, workspace_id)
    return render_page(request, LIST_TEMPLATE, _list_context(membership))


@login_required
@require_GET
def install_status(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """The installs card alone, polled while an install is under way."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    return render(request, f"{LIST_TEMPLATE}#installs", _list_context(membership))


@login_required
@require_POST
def install(request: HttpRequest, workspace_id: UUID, adapter: str) -> HttpResponse:
    """Install dbt-core with one adapter on the workers (admins)."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    if adapter not in ADAPTERS:
        raise Http404("No such dbt adapter.")
    try:
        installs.dbt_install_request(adapter=adapter, actor=request.user)
    except ValidationError as exc:
        messages.warning(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"Installing dbt for {ADAPTER_TITLES.get(adapter, adapter)}: a worker "
            "picks it up; progress shows here.",
        )
    if wants_partial(request):
        return render(request, f"{LIST_TEMPLATE}#installs", _list_context(membership))
    return redirect(request, "transforms:list", workspace_id=workspace_id)


# --- New project ----------------------------------------------------------------------


def _create_forms(
    request: HttpRequest, membership: Membership, kind: str
) -> dict[str, Any]:
    workspace = membership.workspace
    posted = request.method == "POST"

    def bound(form_kind: str) -> bool:
        return posted and kind == form_kind

    return {
        "generated": GenerateForm(
            request.POST if bound("generated") else None,
            workspace=workspace,
            initial={"connection": request.GET.get("connection")},
        ),
        "git": GitForm(request.POST if bound("git") else None, workspace=workspace),
        "upload": UploadForm(
            request.POST if bound("upload") else None,
            request.FILES if bound("upload") else None,
            workspace=workspace,
        ),
    }


def _create(
    request: HttpRequest, membership: Membership, kind: str, form: Any
) -> DbtProject:
    data = form.cleaned_data
    if kind == "generated":
        return projects.project_create_generated(
            connection=data["connection"], actor=request.user, name=data["name"]
        )
    if kind == "git":
        return projects.project_create_git(
            workspace=membership.workspace,
            actor=request.user,
            name=data["name"],
            destination=data["destination"],
            git_url=data["git_url"].strip(),
            git_branch=data["git_branch"].strip() or "main",
            git_credential=data["git_credential"],
        )
    archive = data["archive"]
    return projects.project_create_upload(
        workspace=membership.workspace,
        actor=request.user,
        name=data["name"],
        destination=data["destination"],
        fileobj=archive,
        filename=archive.name,
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """A new project: generated from a connection, from git, or from an archive."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    kind = request.POST.get("kind", "") if request.method == "POST" else ""
    if request.method == "POST" and kind not in ("generated", "git", "upload"):
        kind = "generated"
    forms = _create_forms(request, membership, kind)
    if request.method == "POST":
        form = forms[kind]
        if form.is_valid():
            try:
                project = _create(request, membership, kind, form)
            except ValidationError as exc:
                apply_validation_error(form, exc)
            else:
                messages.success(
                    request,
                    f"Project “{project.name}” created; a worker reads its models now.",
                )
                return _to_project(request, membership, project)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "forms": forms,
        "kind": kind or request.GET.get("kind", "generated"),
    }
    status = 400 if request.method == "POST" else 200
    return render_page(
        request, "transforms/project_create.html", context, status=status
    )


# --- The project page ----------------------------------------------------------------


def _profile_problem(project: DbtProject) -> tuple[str, str]:
    """(adapter, "") when the console can build a dbt target, else ("", why)."""
    if project.destination is None:
        return "", "Choose a destination in the settings: dbt needs one to build in."
    try:
        return profiles.adapter_for(project), ""
    except profiles.ProfileError as exc:
        return "", exc.message


def _detail_context(membership: Membership, project: DbtProject) -> dict[str, Any]:
    last = selectors.last_nodes(project=project)
    statuses = {uid: node.status for uid, node in last.items()}
    recent = selectors.run_list(project=project)
    active = next((run for run in recent if run.is_active), None)
    adapter, problem = _profile_problem(project)
    install_row = selectors.installs().get(adapter) if adapter else None
    can_edit = membership.can_edit
    return {
        "workspace": membership.workspace,
        "membership": membership,
        "project": project,
        "models": selectors.model_rows(project, last),
        "lineage": lineage.layout(project.graph or {}, statuses),
        "runs": recent,
        "active_run": active,
        "triggers": selectors.triggers_for_project(project=project),
        "adapter": adapter,
        "adapter_title": ADAPTER_TITLES.get(adapter, adapter),
        "profile_problem": problem,
        # A run that succeeded had dbt; the install row exists only for installs
        # asked from the page or the CLI.
        "dbt_installed": (
            install_row is not None
            and install_row.status == DbtInstall.Status.INSTALLED
        )
        or any(run.status == TransformRun.Status.SUCCEEDED for run in recent),
        "files": list(selectors.project_files(project=project))
        if project.editable
        else [],
        "docs": selectors.docs_artifact_meta(project=project),
        "run_form": RunForm() if can_edit else None,
        "schedule_form": ScheduleForm(
            initial={
                "cron_expression": project.cron_expression,
                "schedule_timezone": project.schedule_timezone or "UTC",
                "schedule_selector": project.schedule_selector,
            }
        )
        if can_edit
        else None,
        "trigger_form": TriggerForm(
            workspace=membership.workspace, initial={"project": project.public_id}
        )
        if can_edit
        else None,
    }


@login_required
@require_GET
def project_detail(
    request: HttpRequest, workspace_id: UUID, project_id: UUID
) -> HttpResponse:
    """Models with their last status, the lineage, runs (live), schedule, triggers."""
    membership, project = _project(request, workspace_id, project_id, Role.VIEWER)
    return render_page(
        request, DETAIL_TEMPLATE, _detail_context(membership, project), partial="live"
    )


@login_required
@require_POST
def project_run(
    request: HttpRequest, workspace_id: UUID, project_id: UUID
) -> HttpResponse:
    """Start build, run, test, seed or snapshot with an optional selector."""
    membership, project = _project(request, workspace_id, project_id, Role.EDITOR)
    form = RunForm(request.POST)
    status = 200
    if not form.is_valid():
        messages.error(request, "Choose what to run.")
        status = 400
    else:
        try:
            run = runs.transform_run_request(
                project=project,
                actor=request.user,
                command=form.cleaned_data["command"],
                selector=form.cleaned_data["selector"].strip(),
                trigger=TransformRun.Trigger.MANUAL,
            )
        except runs.RunAlreadyActive as exc:
            _already_active(request, exc)
            status = 409
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            status = 400
        else:
            messages.success(request, f"Run #{run.number} ({run.command}) started.")
    if wants_partial(request):
        project = selectors.project_get(
            workspace=membership.workspace, public_id=project.public_id
        )
        return render_page(
            request,
            DETAIL_TEMPLATE,
            _detail_context(membership, project),
            partial="live",
            status=status,
        )
    return _to_project(request, membership, project)


@login_required
@require_POST
def project_schedule(
    request: HttpRequest, workspace_id: UUID, project_id: UUID
) -> HttpResponse:
    """Set or clear the project's own cron schedule."""
    membership, project = _project(request, workspace_id, project_id, Role.EDITOR)
    form = ScheduleForm(request.POST)
    if form.is_valid():
        try:
            projects.project_update(
                project=project,
                actor=request.user,
                cron_expression=form.cleaned_data["cron_expression"].strip(),
                schedule_timezone=form.cleaned_data["schedule_timezone"],
                schedule_selector=form.cleaned_data["schedule_selector"].strip(),
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(
                request,
                "Schedule saved."
                if form.cleaned_data["cron_expression"].strip()
                else "Schedule removed: the project runs after syncs and by hand.",
            )
            return _to_project(request, membership, project)
    context = _detail_context(membership, project)
    context["schedule_form"] = form
    return render_page(
        request, DETAIL_TEMPLATE, context, partial="schedule", status=400
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(
    request: HttpRequest, workspace_id: UUID, project_id: UUID
) -> HttpResponse:
    """A project's name and destination; a git project's repository."""
    membership, project = _project(request, workspace_id, project_id, Role.EDITOR)
    posted = request.method == "POST"
    form = SettingsForm(
        request.POST if posted else None,
        workspace=membership.workspace,
        project=project,
    )
    if posted and form.is_valid():
        data = form.cleaned_data
        changes: dict[str, Any] = {
            "name": data["name"],
            "destination": data["destination"],
        }
        if project.kind == DbtProject.Kind.GIT:
            changes.update(
                git_url=data["git_url"].strip(),
                git_branch=data["git_branch"].strip() or "main",
                git_credential=data["git_credential"],
            )
        try:
            projects.project_update(project=project, actor=request.user, **changes)
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, "Settings saved.")
            return _to_project(request, membership, project)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "project": project,
        "form": form,
    }
    return render_page(
        request,
        "transforms/project_settings.html",
        context,
        partial="form",
        status=400 if posted else 200,
    )


@login_required
@require_POST
def project_delete(
    request: HttpRequest, workspace_id: UUID, project_id: UUID
) -> HttpResponse:
    """Delete a project, its files and runs; the tables dbt built stay."""
    membership, project = _project(request, workspace_id, project_id, Role.EDITOR)
    try:
        projects.project_delete(project=project, actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _to_project(request, membership, project)
    messages.success(request, f"Project “{project.name}” deleted.")
    return redirect(request, "transforms:list", workspace_id=workspace_id)


# --- After-sync triggers --------------------------------------------------------------


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    """Back to the page the form was on (the connection or the project page)."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = fallback
    return redirect(request, target or fallback)


@login_required
@require_POST
def trigger_add(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Run a project after each successful sync of a connection."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    form = TriggerForm(request.POST, workspace=membership.workspace)
    fallback = reverse("transforms:list", args=[workspace_id])
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, " ".join(errors))
        return _back(request, fallback)
    data = form.cleaned_data
    try:
        projects.trigger_set(
            connection=data["connection"],
            project=data["project"],
            actor=request.user,
            selector=data["selector"].strip(),
            command=data["command"],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"“{data['project'].name}” now runs after each successful sync of "
            f"“{data['connection'].name}”.",
        )
    return _back(
        request,
        reverse("transforms:detail", args=[workspace_id, data["project"].public_id]),
    )


@login_required
@require_POST
def trigger_delete(
    request: HttpRequest, workspace_id: UUID, trigger_id: UUID
) -> HttpResponse:
    """Stop running a project after a connection's syncs."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    trigger = selectors.trigger_get(
        workspace=membership.workspace, public_id=trigger_id
    )
    project, connection = trigger.project, trigger.connection
    projects.trigger_delete(trigger=trigger, actor=request.user)
    messages.success(
        request,
        f"“{project.name}” no longer runs after syncs of “{connection.name}”.",
    )
    return _back(
        request, reverse("transforms:detail", args=[workspace_id, project.public_id])
    )


# --- Runs -----------------------------------------------------------------------------


def _log_lines(run: TransformRun, search: str) -> tuple[list[dict], int, int]:
    """The log's last lines (matching ``search``), each with a level for colour."""
    needle = search.lower()
    lines = []
    total = 0
    for number, text in enumerate(run.log.splitlines(), start=1):
        total += 1
        if needle and needle not in text.lower():
            continue
        level = (
            "error"
            if _ERROR_WORD.search(text)
            else "warn"
            if _WARN_WORD.search(text)
            else "info"
        )
        lines.append({"number": number, "text": text, "level": level})
    return lines[-LOG_TAIL_LINES:], len(lines), total


@login_required
@require_GET
def run_detail(request: HttpRequest, workspace_id: UUID, run_id: UUID) -> HttpResponse:
    """One run: its status, what each node did, and the log (live while it runs)."""
    membership = require_role(request, workspace_id)
    run = selectors.run_get(workspace=membership.workspace, public_id=run_id)
    if request.GET.get("download"):
        response = HttpResponse(run.log, content_type="text/plain; charset=utf-8")
        # Not the project's name: free text does not belong in a header.
        response["Content-Disposition"] = content_disposition_header(
            True, f"transform-run-{run.project.public_id}-{run.number}.log"
        )
        return response
    search = request.GET.get("q", "").strip()[:200]
    lines, matched, total = _log_lines(run, search)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "project": run.project,
        "run": run,
        "nodes": list(run.nodes.all()),
        "lines": lines,
        "matched": matched,
        "total": total,
        "search": search,
        "rerunnable": [command for command, _ in RUN_COMMANDS],
    }
    return render_page(request, "transforms/run_detail.html", context, partial="live")


@login_required
@require_GET
def run_list(
    request: HttpRequest, workspace_id: UUID, project_id: UUID
) -> HttpResponse:
    """Every run of a project, newest first, a page at a time."""
    membership, project = _project(request, workspace_id, project_id, Role.VIEWER)
    page = Paginator(selectors.run_history(project=project), RUNS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "project": project,
        "page": page,
    }
    return render_page(request, "transforms/run_list.html", context, partial="rows")


@login_required
@require_POST
def run_cancel(request: HttpRequest, workspace_id: UUID, run_id: UUID) -> HttpResponse:
    """Stop a run: a pending one at once, a running one when the worker stops dbt."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    run = selectors.run_get(workspace=membership.workspace, public_id=run_id)
    try:
        runs.transform_run_cancel(run=run, actor=request.user)
    except ValidationError as exc:
        messages.info(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Cancelling run #{run.number}.")
    return redirect(
        request,
        "transforms:run",
        workspace_id=workspace_id,
        run_id=run.public_id,
    )


@login_required
@require_GET
def job_runs(request: HttpRequest, workspace_id: UUID, job_id: UUID) -> HttpResponse:
    """The job page's "then: transform run #N", polled until the runs have ended."""
    membership = require_role(request, workspace_id)
    job = connection_selectors.job_get(workspace=membership.workspace, public_id=job_id)
    context = {
        "workspace": membership.workspace,
        "job": job,
        **selectors.job_followup(job=job),
    }
    return render(request, "transforms/_job_transforms.html", context)


# --- Nodes (models, sources, tests) ---------------------------------------------------


def _run_param(
    request: HttpRequest, membership: Membership, project: DbtProject
) -> TransformRun | None:
    """The compile/show run a page waits for (``?run=``), if it is this project's."""
    raw = request.GET.get("run", "")
    try:
        wanted = UUID(raw)
    except ValueError:
        return None
    run = (
        TransformRun.objects.for_workspace(membership.workspace)
        .filter(project=project, public_id=wanted)
        .first()
    )
    return run


def _error_line(message: str, path: str) -> int | None:
    """The line of ``path`` an error points at, if it points into that file.

    dbt's compile errors say "line N" of the model's file; a database error quotes
    "LINE N:" of the statement dbt sent (wrapped in DDL, so not the file's line),
    and the run adds "(models/x.sql line N)" when it found that text in the file.
    """
    message = message or ""
    named = re.search(re.escape(path) + r" line (\d+)", message) if path else None
    if named:
        return int(named.group(1))
    if path and path not in message and ".sql" in message:
        return None  # the error is about another file
    match = _LINE.search(message)
    return int(match.group(1)) if match else None


def _listing(content: str, error_line: int | None) -> list[dict[str, Any]]:
    return [
        {"number": n, "text": text, "error": n == error_line}
        for n, text in enumerate(content.splitlines() or [""], start=1)
    ]


def _sql_of(project: DbtProject, node: dict) -> str:
    """A node's SQL as written: its stored file, or the graph's copy (git projects)."""
    if project.editable and node.get("original_file_path"):
        stored = selectors.project_file(
            project=project, path=node["original_file_path"]
        )
        if stored is not None:
            return stored.content
    return node.get("raw_code") or ""


@login_required
@require_GET
def node_detail(
    request: HttpRequest, workspace_id: UUID, project_id: UUID, unique_id: str
) -> HttpResponse:
    """A model, source, seed or test: SQL, columns, tests, neighbours, results."""
    membership, project = _project(request, workspace_id, project_id, Role.VIEWER)
    node = selectors.node_get(project, unique_id)
    by_id = {n["unique_id"]: n for n in selectors.graph_nodes(project)}
    last = selectors.last_nodes(project=project)
    output_run = _run_param(request, membership, project)
    stored_path = node.get("original_file_path", "")
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "project": project,
        "node": node,
        "sql": _sql_of(project, node),
        "upstream": [by_id[u] for u in node.get("depends_on") or [] if u in by_id],
        "downstream": selectors.downstream(project, unique_id),
        "tests": [
            {"node": by_id.get(t, {"unique_id": t, "name": t}), "last": last.get(t)}
            for t in node.get("tests") or []
        ],
        "history": selectors.node_history(project=project, unique_id=unique_id),
        "output_run": output_run,
        "previewable": node.get("resource_type") in ("model", "seed", "snapshot"),
        "editable_path": stored_path
        if project.editable
        and selectors.project_file(project=project, path=stored_path)
        else "",
    }
    return render_page(
        request, "transforms/node_detail.html", context, partial="output"
    )


@login_required
@require_POST
def node_run(
    request: HttpRequest, workspace_id: UUID, project_id: UUID, unique_id: str
) -> HttpResponse:
    """Compile a model or preview 20 of its rows, on a worker; the page polls."""
    _, project = _project(request, workspace_id, project_id, Role.EDITOR)
    node = selectors.node_get(project, unique_id)
    preview = request.POST.get("what") == "preview"
    url = reverse(
        "transforms:node", args=[workspace_id, project.public_id, node["unique_id"]]
    )
    try:
        run = runs.transform_run_request(
            project=project,
            actor=request.user,
            command=TransformRun.Command.SHOW
            if preview
            else TransformRun.Command.COMPILE,
            selector=node["name"],
            trigger=TransformRun.Trigger.MANUAL,
        )
    except runs.RunAlreadyActive as exc:
        _already_active(request, exc)
        return redirect(request, url)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(request, url)
    return redirect(request, f"{url}?run={run.public_id}#output")


# --- Files (generated and uploaded projects) ------------------------------------------


def _check_selector(project: DbtProject, path: str) -> tuple[str, str]:
    """What to ask dbt after saving ``path``: compile its model, else parse."""
    pure = PurePosixPath(path)
    if pure.suffix == ".sql":
        for node in selectors.graph_nodes(project):
            if node.get("original_file_path") == path:
                return TransformRun.Command.COMPILE, node["name"]
        if pure.parts and pure.parts[0] == "models":
            return TransformRun.Command.COMPILE, pure.stem
    return TransformRun.Command.PARSE, ""


@login_required
@require_http_methods(["GET", "POST"])
def file_edit(
    request: HttpRequest, workspace_id: UUID, project_id: UUID
) -> HttpResponse:
    """Edit (or add) one file; after saving, dbt compiles it and errors show by line."""
    membership, project = _project(request, workspace_id, project_id, Role.EDITOR)
    path = (request.POST.get("path") or request.GET.get("path") or "").strip()
    stored = selectors.project_file(project=project, path=path) if path else None
    posted = request.method == "POST"
    form = FileForm(
        request.POST if posted else None,
        initial={"path": path, "content": stored.content if stored else ""},
    )
    if posted and not project.editable:
        form.is_valid()
        form.add_error(None, "Git projects are edited in git: push a commit.")
    elif posted and form.is_valid():
        path = form.cleaned_data["path"].strip()
        try:
            projects.project_file_save(
                project=project,
                actor=request.user,
                path=path,
                content=form.cleaned_data["content"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            command, selector = _check_selector(project, path)
            query = {"path": path}
            try:
                run = runs.transform_run_request(
                    project=project,
                    actor=request.user,
                    command=command,
                    selector=selector,
                    trigger=TransformRun.Trigger.MANUAL,
                )
            except runs.RunAlreadyActive as exc:
                messages.success(request, f"Saved {path}.")
                _already_active(request, exc)
            except ValidationError as exc:
                messages.success(request, f"Saved {path}.")
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(request, f"Saved {path}; dbt checks it now.")
                query["run"] = str(run.public_id)
            url = reverse("transforms:file", args=[workspace_id, project.public_id])
            return redirect(request, f"{url}?{urlencode(query)}")
    check = _run_param(request, membership, project)
    content = stored.content if stored else ""
    error_line = (
        _error_line(check.failure_message, path)
        if check is not None and check.status == TransformRun.Status.FAILED
        else None
    )
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "project": project,
        "form": form,
        "path": path,
        "exists": stored is not None,
        "check": check,
        "error_line": error_line,
        "listing": _listing(content, error_line) if check is not None else [],
    }
    return render_page(
        request,
        "transforms/file_edit.html",
        context,
        partial="check",
        status=400 if posted else 200,
    )


@login_required
@require_POST
def file_delete(
    request: HttpRequest, workspace_id: UUID, project_id: UUID
) -> HttpResponse:
    """Remove one file of a generated or uploaded project."""
    membership, project = _project(request, workspace_id, project_id, Role.EDITOR)
    path = request.POST.get("path", "").strip()
    try:
        projects.project_file_delete(project=project, actor=request.user, path=path)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Deleted {path}.")
    return _to_project(request, membership, project)


# --- Docs -----------------------------------------------------------------------------


@login_required
@require_GET
def docs(request: HttpRequest, workspace_id: UUID, project_id: UUID) -> HttpResponse:
    """dbt's docs site for the project, inside the console, for members only."""
    membership, project = _project(request, workspace_id, project_id, Role.VIEWER)
    artifact = selectors.docs_artifact_meta(project=project)
    active = selectors.active_run(project=project)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "project": project,
        "docs": artifact,
        "active_run": active,
        "generating": active is not None
        and active.command == TransformRun.Command.DOCS,
    }
    return render_page(request, "transforms/docs.html", context, partial="docs")


@xframe_options_sameorigin
@login_required
@require_GET
def docs_site(
    request: HttpRequest, workspace_id: UUID, project_id: UUID
) -> HttpResponse:
    """The static docs page dbt generated, sandboxed: its scripts run, as nobody."""
    _, project = _project(request, workspace_id, project_id, Role.VIEWER)
    artifact = selectors.docs_artifact(project=project)
    if artifact is None:
        response = render(request, "transforms/docs_missing.html", {"project": project})
    else:
        response = HttpResponse(
            artifact.content, content_type="text/html; charset=utf-8"
        )
    response["Content-Security-Policy"] = DOCS_POLICY
    patch_cache_control(response, private=True, no_cache=True)
    return response


@login_required
@require_POST
def docs_generate(
    request: HttpRequest, workspace_id: UUID, project_id: UUID
) -> HttpResponse:
    """Ask a worker for ``dbt docs generate``; the docs page follows the run."""
    _, project = _project(request, workspace_id, project_id, Role.EDITOR)
    try:
        run = runs.transform_run_request(
            project=project,
            actor=request.user,
            command=TransformRun.Command.DOCS,
            trigger=TransformRun.Trigger.MANUAL,
        )
    except runs.RunAlreadyActive as exc:
        _already_active(request, exc)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Generating the docs (run #{run.number}).")
    return redirect(
        request, "transforms:docs", workspace_id=workspace_id, project_id=project_id
    )
