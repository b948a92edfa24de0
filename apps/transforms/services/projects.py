"""Every write to dbt projects, their files and their after-sync triggers.

A project's files come from one of three places: generated from a connection
(``generate.py``), a git repository (pulled by the worker before each run), or an
uploaded archive (``upload.py``). Each service validates, writes, records one
audit event in the same transaction, and asks for a ``parse`` run on commit where
the project's models changed, so its page shows them without a manual run.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Length
from django.utils import timezone

from apps.audit.services import audit_record, field_changes
from apps.schedules import timing
from apps.transforms.generate import generate_files, project_name, source_name
from apps.transforms.git import GitError, git_credential_secret, is_local, url_problem
from apps.transforms.models import (
    DbtProject,
    ProjectFile,
    TransformRun,
    TransformTrigger,
)
from apps.transforms.upload import SKIPPED_DIRS, UploadError, clean_path, read_archive

logger = logging.getLogger(__name__)

# Commands a connection's syncs may start (the others serve pages).
TRIGGER_COMMANDS = ("build", "run", "test", "seed", "snapshot")
MAX_SELECTOR = 500
# "Not given" for arguments where None means "clear it".
UNCHANGED: Any = ...


def _user(actor: AbstractBaseUser | None) -> AbstractBaseUser | None:
    return actor if actor is not None and actor.is_authenticated else None


def _clean_name(name: str) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise ValidationError({"name": "Give the project a name."})
    if len(cleaned) > 100:
        raise ValidationError({"name": "A project name has at most 100 characters."})
    return cleaned


def _name_taken(workspace: Any, name: str, exclude: int | None = None) -> bool:
    taken = DbtProject.objects.for_workspace(workspace).filter(name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    return taken.exists()


def _check_name_free(workspace: Any, name: str, exclude: int | None = None) -> None:
    if _name_taken(workspace, name, exclude):
        raise ValidationError({"name": f"A project named “{name}” already exists."})


def _check_destination(workspace: Any, destination: Any) -> None:
    if destination is None:
        raise ValidationError(
            {"destination": "Choose the destination the project builds in."}
        )
    if destination.workspace_id != workspace.pk:
        raise ValidationError(
            {"destination": "Choose a destination of this workspace."}
        )


def clean_selector(selector: str, field: str = "selector") -> str:
    selector = (selector or "").strip()
    if len(selector) > MAX_SELECTOR:
        raise ValidationError(
            {field: f"A selector has at most {MAX_SELECTOR} characters."}
        )
    if any(ch in selector for ch in "\n\r\x00"):
        raise ValidationError({field: "A selector is one line."})
    return selector


def clean_git_url(url: str) -> str:
    url = (url or "").strip()
    problem = url_problem(url)
    if problem:
        raise ValidationError({"git_url": problem})
    if len(url) > 500:
        raise ValidationError({"git_url": "The URL is longer than 500 characters."})
    # A path on the console's own host would let a workspace read any repository
    # there, another workspace's pulled project included: only where the
    # administrator allows it (development, tests).
    if is_local(url) and not getattr(settings, "TRANSFORMS_GIT_ALLOW_LOCAL", False):
        raise ValidationError(
            {
                "git_url": "Repositories on the console's own host are not allowed; "
                "use an https:// or ssh URL."
            }
        )
    return url


def clean_branch(branch: str) -> str:
    branch = (branch or "").strip() or "main"
    if (
        len(branch) > 200
        or branch.startswith(("-", "/"))
        or any(ch.isspace() or ch in "~^:?*[\\\x00" for ch in branch)
        or ".." in branch
        or branch.endswith((".", "/", ".lock"))
    ):
        raise ValidationError({"git_branch": f"“{branch}” is not a branch name."})
    return branch


def _check_git_credential(workspace: Any, credential: Any) -> None:
    if credential is None:
        return
    if credential.workspace_id != workspace.pk:
        raise ValidationError(
            {"git_credential": "Choose a credential of this workspace."}
        )
    try:
        git_credential_secret(credential)
    except GitError as exc:
        raise ValidationError({"git_credential": exc.message}) from None


def _snapshot(project: DbtProject) -> dict[str, Any]:
    return {
        "name": project.name,
        "destination": project.destination.name if project.destination else None,
        "git_url": project.git_url,
        "git_branch": project.git_branch,
        # The credential's name: a key named like "credential" would be masked.
        "git_access": (project.git_credential.name if project.git_credential else None),
        "cron_expression": project.cron_expression,
        "schedule_timezone": project.schedule_timezone,
        "schedule_selector": project.schedule_selector,
    }


def _request_parse(project: DbtProject) -> None:
    """On commit, ask for a ``parse`` run so the project's page shows its models."""
    project_id = project.pk

    def request() -> None:
        # Imported here: runs.py imports this module's project_files lazily, and a
        # parse is a convenience, so nothing here may fail the caller's commit.
        from apps.transforms.services.runs import transform_run_request

        try:
            transform_run_request(
                project=DbtProject.objects.get(pk=project_id),
                actor=None,
                command=TransformRun.Command.PARSE,
            )
        except ValidationError as exc:  # a run is active: it parses too
            logger.info("No parse run for project %s: %s", project_id, exc)
        except Exception:
            logger.warning(
                "Could not request a parse run for project %s.",
                project_id,
                exc_info=True,
            )

    transaction.on_commit(request)


def _create(
    *,
    workspace: Any,
    actor: AbstractBaseUser | None,
    name: str,
    kind: str,
    destination: Any,
    files: dict[str, str] | None = None,
    audit_extra: dict[str, Any] | None = None,
    **fields: Any,
) -> DbtProject:
    project = DbtProject(
        workspace=workspace,
        name=name,
        kind=kind,
        destination=destination,
        created_by=_user(actor),
        **fields,
    )
    project.full_clean()
    project.save()
    if files:
        ProjectFile.objects.bulk_create(
            ProjectFile(project=project, path=path, content=content)
            for path, content in sorted(files.items())
        )
    changes = {key: [None, value] for key, value in _snapshot(project).items() if value}
    changes["kind"] = [None, kind]
    if files is not None:
        changes["files"] = [None, len(files)]
    changes.update(audit_extra or {})
    audit_record(
        actor=actor,
        action="transform.project_created",
        workspace=workspace,
        target=project,
        changes=changes,
    )
    return project


@transaction.atomic
def project_create_generated(
    *,
    connection: Any,
    actor: AbstractBaseUser | None,
    name: str = "",
    destination: Any = None,
) -> DbtProject:
    """A project generated from a connection's streams, run after each of its syncs."""
    workspace = connection.workspace
    destination = destination or connection.destination
    _check_destination(workspace, destination)
    files = generate_files(connection)
    if not any(path.startswith("models/staging/stg_") for path in files):
        raise ValidationError(
            f"The connection “{connection.name}” syncs no stream: select one, then "
            "generate its project."
        )
    if name:
        name = _clean_name(name)
        _check_name_free(workspace, name)
    else:
        # One button: a second project from the same connection gets a number.
        base = _clean_name(connection.name)[:95]
        name, number = base, 2
        while _name_taken(workspace, name):
            name, number = f"{base} {number}", number + 1
    project = _create(
        workspace=workspace,
        actor=actor,
        name=name,
        kind=DbtProject.Kind.GENERATED,
        destination=destination,
        files=files,
        audit_extra={"connection": [None, connection.name]},
        connection=connection,
        dbt_name=project_name(connection),
    )
    # The selector is spelled out rather than left to the default (which follows
    # the connection's current name): renaming the connection later must not
    # leave the trigger selecting a source the files no longer name.
    TransformTrigger.objects.create(
        workspace=workspace,
        connection=connection,
        project=project,
        selector=f"source:{source_name(connection)}+",
    )
    _request_parse(project)
    return project


@transaction.atomic
def project_create_git(
    *,
    workspace: Any,
    actor: AbstractBaseUser | None,
    name: str,
    destination: Any,
    git_url: str,
    git_branch: str = "main",
    git_credential: Any = None,
) -> DbtProject:
    """A project pulled from a git repository before each run."""
    name = _clean_name(name)
    _check_name_free(workspace, name)
    _check_destination(workspace, destination)
    git_url = clean_git_url(git_url)
    git_branch = clean_branch(git_branch)
    _check_git_credential(workspace, git_credential)
    project = _create(
        workspace=workspace,
        actor=actor,
        name=name,
        kind=DbtProject.Kind.GIT,
        destination=destination,
        git_url=git_url,
        git_branch=git_branch,
        git_credential=git_credential,
    )
    _request_parse(project)
    return project


@transaction.atomic
def project_create_upload(
    *,
    workspace: Any,
    actor: AbstractBaseUser | None,
    name: str,
    destination: Any,
    fileobj: IO[bytes],
    filename: str,
) -> DbtProject:
    """A project from an uploaded zip or tar archive; its files are kept as rows."""
    name = _clean_name(name)
    _check_name_free(workspace, name)
    _check_destination(workspace, destination)
    notes: list[str] = []
    try:
        files = read_archive(fileobj, filename=filename, notes=notes)
    except UploadError as exc:
        raise ValidationError({"archive": exc.message}) from None
    extra: dict[str, Any] = {"archive": [None, filename]}
    if notes:
        extra["skipped"] = [None, notes[:20]]
    project = _create(
        workspace=workspace,
        actor=actor,
        name=name,
        kind=DbtProject.Kind.UPLOAD,
        destination=destination,
        files=files,
        audit_extra=extra,
    )
    _request_parse(project)
    return project


@transaction.atomic
def project_update(
    *,
    project: DbtProject,
    actor: AbstractBaseUser | None,
    name: str | None = None,
    destination: Any = UNCHANGED,
    git_url: str | None = None,
    git_branch: str | None = None,
    git_credential: Any = UNCHANGED,
    cron_expression: str | None = None,
    schedule_timezone: str | None = None,
    schedule_selector: str | None = None,
) -> DbtProject:
    """Rename, move to another destination, repoint git, or (un)schedule a project.

    ``None`` (or, for ``destination`` and ``git_credential``, leaving them out)
    keeps a field; an empty ``cron_expression`` removes the schedule.
    """
    project = (
        DbtProject.objects.select_for_update(of=("self",))
        .select_related("workspace", "destination", "git_credential")
        .get(pk=project.pk)
    )
    workspace = project.workspace
    before = _snapshot(project)
    if name is not None:
        project.name = _clean_name(name)
        _check_name_free(workspace, project.name, exclude=project.pk)
    if destination is not UNCHANGED:
        _check_destination(workspace, destination)
        project.destination = destination
    git_given = (git_url, git_branch) != (None, None) or git_credential is not UNCHANGED
    if git_given and project.kind != DbtProject.Kind.GIT:
        raise ValidationError(
            {"git_url": "Only a git project has a repository to change."}
        )
    if git_url is not None:
        project.git_url = clean_git_url(git_url)
    if git_branch is not None:
        project.git_branch = clean_branch(git_branch)
    if git_credential is not UNCHANGED:
        _check_git_credential(workspace, git_credential)
        project.git_credential = git_credential
    if schedule_selector is not None:
        project.schedule_selector = clean_selector(
            schedule_selector, "schedule_selector"
        )
    if schedule_timezone is not None:
        try:
            timing.zone(schedule_timezone.strip())
        except ValidationError as exc:
            raise ValidationError({"schedule_timezone": exc.messages}) from None
        project.schedule_timezone = schedule_timezone.strip()
    if cron_expression is not None:
        project.cron_expression = clean_cron(cron_expression, project)
    project.full_clean()
    changes = field_changes(before, _snapshot(project))
    if not changes:
        return project
    if project.cron_expression:
        project.next_run_at = timing.cron_next(
            project.cron_expression,
            timing.zone(project.schedule_timezone),
            timezone.now(),
        )
    else:
        project.next_run_at = None
    project.save()
    audit_record(
        actor=actor,
        action="transform.project_updated",
        workspace=workspace,
        target=project,
        changes=changes,
    )
    if {"git_url", "git_branch", "git_access"} & set(changes):
        _request_parse(project)
    return project


def clean_cron(expression: str, project: DbtProject) -> str:
    expression = (expression or "").strip()
    if not expression:
        return ""
    try:
        expression = timing.parse_cron(expression)
        timing.check_cron_gap(
            expression, timing.zone(project.schedule_timezone), timezone.now()
        )
    except ValidationError as exc:
        raise ValidationError({"cron_expression": exc.messages}) from None
    return expression


@transaction.atomic
def project_delete(*, project: DbtProject, actor: AbstractBaseUser | None) -> None:
    """Delete a project with its files, runs and triggers; not while a run is active."""
    project = (
        DbtProject.objects.select_for_update()
        .select_related("workspace")
        .get(pk=project.pk)
    )
    active = project.runs.active().first()
    if active is not None:
        raise ValidationError(
            f"Run #{active.number} of “{project.name}” is {active.status}: cancel "
            "it or wait for it to end, then delete the project."
        )
    audit_record(
        actor=actor,
        action="transform.project_deleted",
        workspace=project.workspace,
        target=project,
        changes={"name": [project.name, None], "kind": [project.kind, None]},
    )
    public_id = project.public_id
    project.delete()
    transaction.on_commit(lambda: _remove_folder(public_id))


def _remove_folder(public_id: Any) -> None:
    """Remove this host's copy of a deleted project (other hosts' stay, unused)."""
    try:
        from apps.transforms.workdir import project_root
    except ImportError:  # the worker side is not installed on this host
        return
    with contextlib.suppress(OSError):
        shutil.rmtree(project_root(public_id), ignore_errors=True)


def _editable(project: DbtProject) -> None:
    if not project.editable:
        raise ValidationError("Git projects are edited in git: push a commit.")


def _clean_file_path(path: str) -> str:
    try:
        cleaned = clean_path((path or "").strip())
    except UploadError as exc:
        raise ValidationError({"path": exc.message}) from None
    if not cleaned:
        raise ValidationError({"path": "Give the file's path, e.g. models/orders.sql."})
    if len(cleaned) > 500:
        raise ValidationError({"path": "A path has at most 500 characters."})
    if set(cleaned.split("/")[:-1]) & SKIPPED_DIRS:
        raise ValidationError(
            {"path": f"{cleaned} is in a folder dbt or git makes itself."}
        )
    return cleaned


@transaction.atomic
def project_file_save(
    *, project: DbtProject, actor: AbstractBaseUser | None, path: str, content: str
) -> ProjectFile:
    """Add or replace one file of a generated or uploaded project."""
    _editable(project)
    path = _clean_file_path(path)
    if "\x00" in (content or ""):
        raise ValidationError({"content": "A project file is text: it holds NUL."})
    limit = int(getattr(settings, "TRANSFORM_UNPACKED_MAX_BYTES", 50 * 1024 * 1024))
    size = len((content or "").encode())
    # The project row is locked so two saves at once cannot pass the limit together;
    # the others' size is summed by the database (characters: close enough to
    # bytes for a limit of megabytes).
    DbtProject.objects.select_for_update().filter(pk=project.pk).first()
    others = (
        project.files.exclude(path=path).aggregate(total=Sum(Length("content")))[
            "total"
        ]
        or 0
    )
    if size + others > limit:
        raise ValidationError(
            {"content": f"The project's files would exceed {limit} bytes."}
        )
    existing = ProjectFile.objects.filter(project=project, path=path).first()
    if existing is None:
        max_files = int(getattr(settings, "TRANSFORM_UPLOAD_MAX_FILES", 2000))
        if project.files.count() >= max_files:
            raise ValidationError(
                {"path": f"A project holds at most {max_files} files."}
            )
        before = None
        file = ProjectFile(project=project, path=path, content=content or "")
    else:
        before = len(existing.content.encode())
        file = existing
        file.content = content or ""
    file.full_clean()
    file.save()
    audit_record(
        actor=actor,
        action="transform.file_saved",
        workspace=project.workspace,
        target=project,
        changes={
            "path": [None if before is None else path, path],
            "bytes": [before, size],
        },
    )
    return file


@transaction.atomic
def project_file_delete(
    *, project: DbtProject, actor: AbstractBaseUser | None, path: str
) -> None:
    """Remove one file of a generated or uploaded project."""
    _editable(project)
    path = _clean_file_path(path)
    if path == "dbt_project.yml":
        raise ValidationError({"path": "A dbt project needs its dbt_project.yml."})
    file = ProjectFile.objects.filter(project=project, path=path).first()
    if file is None:
        raise ValidationError({"path": f"The project has no file {path}."})
    audit_record(
        actor=actor,
        action="transform.file_deleted",
        workspace=project.workspace,
        target=project,
        changes={"path": [path, None]},
    )
    file.delete()
    # The models on the project's page come from the last parse: parse again.
    _request_parse(project)


@transaction.atomic
def trigger_set(
    *,
    connection: Any,
    project: DbtProject,
    actor: AbstractBaseUser | None,
    selector: str = "",
    command: str = "build",
    enabled: bool = True,
) -> TransformTrigger:
    """Run a project after each successful sync of a connection (or change how)."""
    if connection.workspace_id != project.workspace_id:
        raise ValidationError(
            {"connection": "Choose a connection of the project's workspace."}
        )
    if command not in TRIGGER_COMMANDS:
        raise ValidationError(
            {
                "command": f"“{command}” cannot run after a sync; use one of "
                f"{', '.join(TRIGGER_COMMANDS)}."
            }
        )
    selector = clean_selector(selector)
    trigger = (
        TransformTrigger.objects.select_for_update()
        .filter(connection=connection, project=project)
        .first()
    )
    before = (
        None
        if trigger is None
        else {
            "selector": trigger.selector,
            "command": trigger.command,
            "enabled": trigger.enabled,
        }
    )
    if trigger is None:
        trigger = TransformTrigger(
            workspace_id=project.workspace_id, connection=connection, project=project
        )
    trigger.selector, trigger.command, trigger.enabled = selector, command, enabled
    after = {"selector": selector, "command": command, "enabled": enabled}
    if before == after:
        return trigger
    trigger.full_clean()
    trigger.save()
    changes = (
        {key: [None, value] for key, value in after.items()}
        if before is None
        else field_changes(before, after)
    )
    changes["connection"] = [None, connection.name]
    audit_record(
        actor=actor,
        action="transform.trigger_set",
        workspace=project.workspace,
        target=project,
        changes=changes,
    )
    return trigger


@transaction.atomic
def trigger_delete(
    *, trigger: TransformTrigger, actor: AbstractBaseUser | None
) -> None:
    """Stop running a project after a connection's syncs."""
    trigger = (
        TransformTrigger.objects.select_related("project__workspace", "connection")
        .select_for_update(of=("self",))
        .get(pk=trigger.pk)
    )
    audit_record(
        actor=actor,
        action="transform.trigger_deleted",
        workspace=trigger.project.workspace,
        target=trigger.project,
        changes={"connection": [trigger.connection.name, None]},
    )
    trigger.delete()


def project_files(project: DbtProject) -> list[tuple[str, str]]:
    """``(path, content)`` of a generated or uploaded project, for the worker."""
    return list(
        ProjectFile.objects.filter(project=project)
        .order_by("path")
        .values_list("path", "content")
    )
