"""The connector builder page: edit a manifest, Validate, Test, Publish.

The editor is a form that saves the draft on every button (invalid YAML too: an
edit is never lost), then asks a worker to Validate or Test it; the page polls
the run's partial until it is done. Publish needs a passed Validate or Test of
the manifest exactly as it is now.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.connectors.builder import manifest_text, selectors, services
from apps.connectors.builder.forms import ProjectCreateForm, ProjectEditForm
from apps.connectors.builder.models import BuilderProject
from apps.connectors.manifest_store import manifest_digest
from apps.core.forms import apply_validation_error
from apps.core.htmx import redirect, render_page
from apps.core.roles import Role
from apps.workspaces.access import require_role

DETAIL = "connectors/builder/builder_detail.html"
# A run still pending after its task's time limit lost its worker: the page
# stops polling and says so instead of waiting forever.
RUN_LOST_AFTER = timedelta(seconds=900 + 60)
# Lines shown around a problem in the listing under the problems.
CONTEXT_LINES = 3


def _masked_config(config: dict[str, Any], manifest: dict[str, Any] | None) -> str:
    """The test config for the textarea: secrets as MASK (the spec's and by name)."""
    masked = services.masked_test_config(config, manifest)
    return json.dumps(masked, indent=2) if masked else ""


def _listing(text: str, problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The lines around each problem (3 either side), each with its problems.

    A gap between two stretches is one ``gap`` entry; the editor itself shows
    the whole manifest.
    """
    by_line: dict[int, list[dict[str, Any]]] = {}
    for problem in problems:
        by_line.setdefault(int(problem.get("line") or 0), []).append(problem)
    lines = text.splitlines() or [""]
    shown = {
        n
        for line in by_line
        if line
        for n in range(max(1, line - CONTEXT_LINES), line + CONTEXT_LINES + 1)
        if n <= len(lines)
    }
    listing: list[dict[str, Any]] = []
    for number in sorted(shown):
        if listing and listing[-1].get("number", 0) != number - 1:
            listing.append({"gap": True})
        listing.append(
            {
                "number": number,
                "text": lines[number - 1],
                "problems": by_line.get(number, []),
            }
        )
    return listing


def _run_context(project: BuilderProject) -> dict[str, Any]:
    manifest, _ = manifest_text.parse(project.manifest_text)
    digest = manifest_digest(manifest) if manifest is not None else ""
    result = project.run_result or {}
    problems = result.get("problems") or []
    current = bool(digest) and digest == project.run_digest
    lost = bool(
        project.run_pending
        and project.run_requested_at
        and project.run_requested_at < timezone.now() - RUN_LOST_AFTER
    )
    return {
        "run_current": current,
        "run_lost": lost,
        "problems": problems,
        "unplaced": [p for p in problems if not p.get("line")],
        "listing": _listing(project.manifest_text, problems) if problems else [],
        "pages": [
            {
                **page,
                "record_lines": [
                    json.dumps(r, sort_keys=True, default=str)
                    for r in page.get("records") or []
                ],
            }
            for page in result.get("pages") or []
        ],
        "records": result.get("records") or [],
        "inferred_schema": (
            json.dumps(result["inferred_schema"], indent=2, sort_keys=True)
            if result.get("inferred_schema")
            else ""
        ),
        "logs": result.get("logs") or [],
        "can_publish": (
            current and project.run_status == BuilderProject.RunStatus.SUCCEEDED
        ),
    }


def _page(
    request: HttpRequest,
    membership: Any,
    project: BuilderProject,
    form: ProjectEditForm | None = None,
    status: int = 200,
) -> HttpResponse:
    manifest, _ = manifest_text.parse(project.manifest_text)
    streams = manifest_text.stream_names(manifest)
    if form is None:
        form = ProjectEditForm(
            initial={
                "manifest": project.manifest_text,
                "stream": project.stream or (streams[0] if streams else ""),
                "config": _masked_config(
                    services.project_test_config(project), manifest
                ),
            },
            streams=streams,
        )
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "project": project,
        "form": form,
        "versions": (
            sorted(
                project.definition.manifests.all(),
                key=lambda m: m.created_at,
                reverse=True,
            )
            if project.definition_id
            else []
        ),
        **_run_context(project),
    }
    return render_page(request, DETAIL, context, partial="run", status=status)


@login_required
@require_GET
def builder_list(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """The workspace's connector projects, and a form for a new one."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "projects": selectors.builder_project_list(workspace=membership.workspace),
        "form": ProjectCreateForm(),
    }
    return render_page(request, "connectors/builder/builder_list.html", context)


@login_required
@require_POST
def builder_create(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Start a connector project from the scaffold."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    form = ProjectCreateForm(request.POST)
    if form.is_valid():
        try:
            project = services.builder_project_create(
                actor=request.user,
                workspace=membership.workspace,
                name=form.cleaned_data["name"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            return redirect(
                request,
                "connector_builder:detail",
                membership.workspace.public_id,
                project.public_id,
            )
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "projects": selectors.builder_project_list(workspace=membership.workspace),
        "form": form,
    }
    return render_page(
        request, "connectors/builder/builder_list.html", context, status=400
    )


@login_required
@require_GET
def builder_detail(
    request: HttpRequest, workspace_id: UUID, project_id: UUID
) -> HttpResponse:
    """The editor, with the last Validate or Test run."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    project = selectors.builder_project_get(
        workspace=membership.workspace, public_id=project_id
    )
    return _page(request, membership, project)


@login_required
@require_GET
def builder_run_status(
    request: HttpRequest, workspace_id: UUID, project_id: UUID
) -> HttpResponse:
    """The run's partial, polled while a worker runs it."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    project = selectors.builder_project_get(
        workspace=membership.workspace, public_id=project_id
    )
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "project": project,
        **_run_context(project),
    }
    return render_page(request, DETAIL, context, partial="run")


@login_required
@require_POST
def builder_save(
    request: HttpRequest, workspace_id: UUID, project_id: UUID
) -> HttpResponse:
    """Save the draft as typed, then Validate or Test it if asked."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    project = selectors.builder_project_get(
        workspace=membership.workspace, public_id=project_id
    )
    text = request.POST.get("manifest", "")
    manifest, _ = manifest_text.parse(text)
    form = ProjectEditForm(request.POST, streams=manifest_text.stream_names(manifest))
    valid = form.is_valid()
    try:
        # The manifest is saved even when the rest of the form is not valid.
        project = services.builder_project_save(
            actor=request.user,
            project=project,
            manifest_text_value=text,
            test_config=form.cleaned_data.get("config") if valid else None,
            stream=(form.cleaned_data.get("stream") or "") if valid else None,
        )
    except ValidationError as exc:
        apply_validation_error(form, exc)
        valid = False
    if not valid:
        return _page(request, membership, project, form=form, status=400)
    action = form.cleaned_data.get("action") or "save"
    if action in BuilderProject.RunKind.values:
        services.builder_run_request(actor=request.user, project=project, kind=action)
    else:
        messages.success(request, "Draft saved.")
    return redirect(
        request,
        "connector_builder:detail",
        membership.workspace.public_id,
        project.public_id,
    )


@login_required
@require_POST
def builder_publish(
    request: HttpRequest, workspace_id: UUID, project_id: UUID
) -> HttpResponse:
    """Publish the draft as a new version, once a run of it passed."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    project = selectors.builder_project_get(
        workspace=membership.workspace, public_id=project_id
    )
    manifest, _ = manifest_text.parse(project.manifest_text)
    ready = _run_context(project)["can_publish"]
    if manifest is None or not ready:
        messages.error(
            request,
            "Validate or Test the manifest as it is now first: only a manifest "
            "that passed is published.",
        )
    else:
        try:
            published = services.builder_publish(
                actor=request.user, project=project, manifest=manifest
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            version = published.manifest.version
            note = services.engine_note(membership.workspace, published.definition)
            if note:
                messages.warning(request, note)
            if published.created:
                messages.success(
                    request,
                    f"Published {published.definition.name} {version}: new sources "
                    "can use it; existing ones keep their version.",
                )
            else:
                messages.info(
                    request, f"Nothing new to publish: {version} holds this manifest."
                )
    return redirect(
        request,
        "connector_builder:detail",
        membership.workspace.public_id,
        project.public_id,
    )
