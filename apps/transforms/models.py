"""dbt projects, their files, the runs of dbt against them and what each node did.

A project belongs to a workspace and runs against one of its destinations. Its
files live in the database (generated and uploaded projects) or in a git
repository (pulled on the worker before each run): the row is the truth, and a
worker on any host can rebuild the project folder from it. dbt's ``target/`` is
kept per project on each worker host so that partial parsing makes reruns fast.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import BaseModel, WorkspaceQuerySet


class DbtProject(BaseModel):
    """A dbt project of a workspace and the destination it builds in."""

    class Kind(models.TextChoices):
        GENERATED = "generated", "Generated from a connection"
        GIT = "git", "Git repository"
        UPLOAD = "upload", "Uploaded archive"

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="dbt_projects"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Deleting a destination keeps the project (its files are a team's work); the
    # project page then asks for another destination.
    destination = models.ForeignKey(
        "connectors.Destination",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="dbt_projects",
    )
    # The connection a generated project was made from (its streams are the
    # project's sources).
    connection = models.ForeignKey(
        "connections.Connection",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # dbt's project name (``name:`` in dbt_project.yml), read after each parse.
    dbt_name = models.CharField(max_length=100, blank=True)
    git_url = models.CharField(max_length=500, blank=True)
    git_branch = models.CharField(max_length=200, blank=True)
    # A token or deploy key from the workspace's credentials, for private repositories.
    git_credential = models.ForeignKey(
        "credentials.Credential",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The commit the last run used (git projects).
    git_commit = models.CharField(max_length=64, blank=True)
    # The project's nodes as the last successful parse saw them (from dbt's
    # manifest.json, trimmed): ``{"nodes": [{"unique_id", "name",
    # "resource_type", "path", "depends_on", "description", "columns",
    # "raw_code", "source_name", ...}], "parsed_at": ...}``. Pages read this,
    # never the worker's disk.
    graph = models.JSONField(default=dict, blank=True)
    # A cron schedule that runs ``build`` on its own; blank means none.
    cron_expression = models.CharField(max_length=120, blank=True)
    schedule_timezone = models.CharField(max_length=64, default="UTC")
    schedule_selector = models.CharField(max_length=500, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "name"],
                name="dbt_project_name_unique_in_workspace",
            ),
            models.CheckConstraint(
                condition=~Q(kind="git") | ~Q(git_url=""),
                name="dbt_project_git_has_url",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def editable(self) -> bool:
        """Git projects are edited in git; the others in the console."""
        return self.kind != self.Kind.GIT


class ProjectFile(models.Model):
    """One file of a generated or uploaded project, stored as text."""

    project = models.ForeignKey(
        DbtProject, on_delete=models.CASCADE, related_name="files"
    )
    # A relative POSIX path inside the project ("models/staging/stg_users.sql").
    path = models.CharField(max_length=500)
    content = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "path"], name="project_file_path_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.path


class ProjectArtifact(models.Model):
    """A file dbt produced that pages serve (the static docs site)."""

    project = models.ForeignKey(
        DbtProject, on_delete=models.CASCADE, related_name="artifacts"
    )
    name = models.CharField(max_length=100)
    content = models.TextField(blank=True)
    run = models.ForeignKey(
        "TransformRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"], name="project_artifact_name_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TransformTrigger(BaseModel):
    """Run a project after each successful sync of a connection."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    connection = models.ForeignKey(
        "connections.Connection",
        on_delete=models.CASCADE,
        related_name="transform_triggers",
    )
    project = models.ForeignKey(
        DbtProject, on_delete=models.CASCADE, related_name="triggers"
    )
    command = models.CharField(max_length=20, default="build")
    # dbt's --select; the default runs what is downstream of the connection's
    # source in the project ("source:<name>+").
    selector = models.CharField(max_length=500, blank=True)
    enabled = models.BooleanField(default=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "project"], name="transform_trigger_unique"
            ),
        ]


class TransformRunQuerySet(WorkspaceQuerySet):
    def active(self) -> TransformRunQuerySet:
        return self.filter(status__in=TransformRun.ACTIVE_STATUSES)


class TransformRun(BaseModel):
    """One run of a dbt command against a project."""

    class Command(models.TextChoices):
        BUILD = "build", "build"
        RUN = "run", "run"
        TEST = "test", "test"
        SEED = "seed", "seed"
        SNAPSHOT = "snapshot", "snapshot"
        COMPILE = "compile", "compile"
        DOCS = "docs generate", "docs generate"
        # A preview of a model's rows for its page (``dbt show``).
        SHOW = "show", "show"
        # Only parse, to refresh the project's models after an edit or pull.
        PARSE = "parse", "parse"

    class Trigger(models.TextChoices):
        SYNC = "sync", "After a sync"
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Manual"
        API = "api", "API"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        CANCELLING = "cancelling", "Cancelling"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    ACTIVE_STATUSES = (Status.PENDING, Status.RUNNING, Status.CANCELLING)
    TERMINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    project = models.ForeignKey(
        DbtProject, on_delete=models.CASCADE, related_name="runs"
    )
    # Per project, 1, 2, 3...: what people call "run #12".
    number = models.PositiveIntegerField()
    command = models.CharField(max_length=20, choices=Command.choices)
    selector = models.CharField(max_length=500, blank=True)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The sync whose success started this run (trigger "sync").
    sync_job = models.ForeignKey(
        "connections.SyncJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="transform_runs",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # dbt's process group on the worker's host, so cancel and the reaper stop it.
    pgid = models.IntegerField(null=True, blank=True)
    git_commit = models.CharField(max_length=64, blank=True)
    # Node counts by status ("success": 3, "error": 1, "pass": 4, "fail": 1, ...).
    stats = models.JSONField(default=dict, blank=True)
    # What the command printed for a page to show (dbt show's rows as
    # {"columns": [...], "rows": [[...]]}; dbt compile's SQL as {"sql": ...}).
    output = models.JSONField(default=dict, blank=True)
    failure_message = models.TextField(blank=True)
    log = models.TextField(blank=True)
    log_truncated_bytes = models.BigIntegerField(default=0)

    objects = TransformRunQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One active run per project: dbt's target/ folder is not shared.
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(status__in=["pending", "running", "cancelling"]),
                name="one_active_run_per_project",
            ),
            models.UniqueConstraint(
                fields=["project", "number"], name="transform_run_number_unique"
            ),
        ]
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.project} run #{self.number}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at
        if end is None:
            from django.utils import timezone

            end = timezone.now()
        return (end - self.started_at).total_seconds()


class RunNode(models.Model):
    """What one dbt node did in a run (from run_results.json)."""

    run = models.ForeignKey(
        TransformRun, on_delete=models.CASCADE, related_name="nodes"
    )
    unique_id = models.CharField(max_length=500)
    name = models.CharField(max_length=300)
    resource_type = models.CharField(max_length=20)
    # dbt's words: success, error, skipped, pass, fail, warn, runtime error.
    status = models.CharField(max_length=20)
    execution_time = models.FloatField(default=0)
    rows_affected = models.BigIntegerField(null=True, blank=True)
    failures = models.IntegerField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "id"]
        indexes = [models.Index(fields=["unique_id", "run"])]

    def __str__(self) -> str:
        return f"{self.unique_id}: {self.status}"


class DbtInstall(models.Model):
    """The last install of dbt for one adapter, for the Transforms page's progress.

    The virtualenv itself lives on each worker host (``settings.DBT_DIR``); a run on
    a host without it installs it first, like a connector. This row shows what the
    last install asked from the page or the CLI did, with its log.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        INSTALLING = "installing", "Installing"
        INSTALLED = "installed", "Installed"
        FAILED = "failed", "Failed"

    adapter = models.CharField(max_length=20, unique=True)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PENDING
    )
    core_version = models.CharField(max_length=30, blank=True)
    adapter_version = models.CharField(max_length=30, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    message = models.TextField(blank=True)
    log = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["adapter"]

    def __str__(self) -> str:
        return f"dbt-{self.adapter} ({self.status})"
