"""Deleting a workspace (admins): typed confirmation, refused while work runs.

It lives at the top of the layers because it has to look at every app's rows
(syncs and transform runs that are still going, what will be removed); the rows
themselves go by cascade from the workspace, its DuckDB folder after the commit.
An Airbyte server's objects are the airbyte app's business: it hears
``workspace_deleting``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from apps.audit.services import audit_record
from apps.connections.models import Connection, SyncJob
from apps.connectors.builder.models import BuilderProject
from apps.connectors.models import ConnectorDefinition, Destination, Source
from apps.core.forms import apply_validation_error
from apps.core.htmx import redirect, render_page
from apps.core.roles import Role
from apps.schedules.models import Schedule
from apps.transforms.models import DbtProject, TransformRun
from apps.workspaces.access import require_role
from apps.workspaces.forms import WorkspaceDeleteForm
from apps.workspaces.models import Workspace
from apps.workspaces.signals import workspace_deleting

logger = logging.getLogger(__name__)


def workspace_delete_summary(*, workspace: Workspace) -> dict[str, int]:
    """What deleting the workspace removes, counted for the page and the audit."""
    return {
        "connections": Connection.objects.filter(workspace=workspace).count(),
        "sources": Source.objects.filter(workspace=workspace).count(),
        "destinations": Destination.objects.filter(workspace=workspace).count(),
        "schedules": Schedule.objects.filter(workspace=workspace).count(),
        "transform_projects": DbtProject.objects.filter(workspace=workspace).count(),
        "members": workspace.memberships.count(),
    }


def workspace_running_work(*, workspace: Workspace) -> list[str]:
    """What still runs in the workspace, in words; deleting waits for it to end."""
    syncs = SyncJob.objects.active().filter(connection__workspace=workspace).count()
    runs = TransformRun.objects.filter(
        workspace=workspace, status__in=TransformRun.ACTIVE_STATUSES
    ).count()
    running = []
    if syncs:
        running.append(f"{syncs} sync{'s' if syncs != 1 else ''}")
    if runs:
        running.append(f"{runs} transform run{'s' if runs != 1 else ''}")
    return running


# The settings naming folders that keep one subfolder per workspace, named after
# its public id, with what the delete page calls them.
WORKSPACE_FOLDER_ROOTS = (
    (
        "DUCKDB_DIR",
        "The workspace's DuckDB files (its folder under the console's "
        "DuckDB directory)",
    ),
    (
        "FILES_DIR",
        "The workspace's files destinations' local files (its folder "
        "under the console's files directory)",
    ),
)


def workspace_folders(workspace: Workspace) -> list[tuple[Path, str]]:
    """The workspace's own data folders (DuckDB, files), with what each holds.

    Only a real folder right inside its root counts: never the root itself, a
    link, or anything a changed setting could point elsewhere.
    """
    found = []
    for setting, label in WORKSPACE_FOLDER_ROOTS:
        configured = getattr(settings, setting, None)
        if not configured:
            continue
        root = Path(configured).resolve()
        folder = root / str(workspace.public_id)
        if folder.is_symlink() or not folder.is_dir() or folder.parent != root:
            continue
        found.append((folder, label))
    return found


def _remove_folder(folder: Path) -> None:
    try:
        shutil.rmtree(folder)
    except OSError:
        # The rows are gone; a folder left behind is logged for the operator.
        logger.exception("Could not remove the deleted workspace's folder %s", folder)


@transaction.atomic
def workspace_delete(
    *,
    actor: AbstractBaseUser,
    workspace: Workspace,
    confirm_name: str,
    delete_on_server: bool = False,
) -> dict[str, int]:
    """Delete a workspace with everything in it; audited console-wide.

    The typed name must match. Refused while a sync or a transform run is still
    going (cancel it or let it end first). Its DuckDB and files folders are
    removed after the commit; files elsewhere belong to other apps, which remove
    theirs with their rows.
    """
    if " ".join(confirm_name.split()) != workspace.name:
        raise ValidationError(
            {"confirm_name": f"Type the workspace's name, “{workspace.name}”, exactly."}
        )
    # Locking the row makes two deletes of one workspace take turns; the second
    # finds it gone (a double click) instead of auditing an empty delete.
    if Workspace.objects.select_for_update().filter(pk=workspace.pk).first() is None:
        raise ValidationError("This workspace was already deleted.")
    running = workspace_running_work(workspace=workspace)
    if running:
        raise ValidationError(
            f"{' and '.join(running).capitalize()} still running in this workspace. "
            "Cancel it or wait for it to end, then delete the workspace."
        )
    is_airbyte = workspace.engine == Workspace.Engine.AIRBYTE
    summary = workspace_delete_summary(workspace=workspace)
    workspace_deleting.send(
        sender=Workspace,
        workspace=workspace,
        delete_on_server=bool(delete_on_server and is_airbyte),
    )
    folders = [folder for folder, _ in workspace_folders(workspace)]
    # Connectors its builder published are its own (no other workspace can pick
    # them): they go with it, with their versions, once its sources are gone.
    custom = list(
        BuilderProject.objects.filter(
            workspace=workspace, definition__isnull=False
        ).values_list("definition_id", flat=True)
    )
    audit_record(
        actor=actor,
        action="workspace.deleted",
        target=workspace,
        target_label=workspace.name,
        changes={
            "name": [workspace.name, None],
            "engine": workspace.engine,
            "removed": {
                **summary,
                **({"custom_connectors": len(custom)} if custom else {}),
            },
            **({"delete_on_server": bool(delete_on_server)} if is_airbyte else {}),
        },
    )
    # Connections protect their source and destination; they go first, and the
    # rest follows the workspace by cascade.
    Connection.objects.filter(workspace=workspace).delete()
    workspace.delete()
    ConnectorDefinition.objects.filter(pk__in=custom).delete()
    for folder in folders:
        transaction.on_commit(lambda folder=folder: _remove_folder(folder))
    return summary


@login_required
@require_http_methods(["GET", "POST"])
def workspace_delete_view(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Delete the workspace (admins), after typing its name."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    workspace = membership.workspace
    is_airbyte = workspace.engine == Workspace.Engine.AIRBYTE
    form = WorkspaceDeleteForm(request.POST or None, ask_server=is_airbyte)
    if request.method == "POST" and form.is_valid():
        name = workspace.name
        try:
            workspace_delete(
                actor=request.user,
                workspace=workspace,
                confirm_name=form.cleaned_data["confirm_name"],
                delete_on_server=form.cleaned_data.get("delete_on_server", False),
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            request.session.pop("workspace_id", None)
            messages.success(request, f"Workspace “{name}” deleted.")
            return redirect(request, "workspaces:home")
    context = {
        "workspace": workspace,
        "membership": membership,
        "form": form,
        "summary": workspace_delete_summary(workspace=workspace),
        "running": workspace_running_work(workspace=workspace),
        "folders": [label for _, label in workspace_folders(workspace)],
    }
    return render_page(
        request,
        "workspaces/delete.html",
        context,
        partial="form",
        status=400 if form.errors else 200,
    )
