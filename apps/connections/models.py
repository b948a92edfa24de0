"""Connections, their streams, and the history of their syncs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.models import BaseModel, WorkspaceQuerySet


class SyncMode(models.TextChoices):
    FULL_REFRESH = "full_refresh", "Full refresh"
    INCREMENTAL = "incremental", "Incremental"


class DestinationSyncMode(models.TextChoices):
    OVERWRITE = "overwrite", "Overwrite"
    APPEND = "append", "Append"
    APPEND_DEDUP = "append_dedup", "Append + deduped"


#: What a connection's own queue may be called (every way of setting it checks).
QUEUE_NAME_PATTERN = r"^[a-z0-9_-]{1,60}$"
QUEUE_NAME_MESSAGE = (
    "A queue name uses lowercase letters, digits, _ and - (at most 60), e.g. heavy; "
    "leave it blank for the shared “syncs” queue."
)


class Connection(BaseModel):
    """A source feeding a destination, with the streams it moves and how."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        BROKEN = "broken", "Broken"

    class SchemaChangePolicy(models.TextChoices):
        # Airbyte's nonBreakingSchemaUpdatesBehavior values.
        IGNORE = "ignore", "Ignore: keep syncing the configured streams"
        PROPAGATE_COLUMNS = "propagate_columns", "Propagate new columns"
        PROPAGATE_FULLY = "propagate_fully", "Propagate new columns and streams"
        DISABLE = "disable_connection", "Pause the connection"

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="connections"
    )
    name = models.CharField(max_length=200)
    source = models.ForeignKey(
        "connectors.Source", on_delete=models.PROTECT, related_name="connections"
    )
    destination = models.ForeignKey(
        "connectors.Destination", on_delete=models.PROTECT, related_name="connections"
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    # Where the tables go: a schema (PostgreSQL, DuckDB) and a prefix for table names.
    namespace = models.CharField(max_length=63, default="public")
    table_prefix = models.CharField(max_length=40, blank=True)
    schema_change_policy = models.CharField(
        max_length=20,
        choices=SchemaChangePolicy.choices,
        default=SchemaChangePolicy.IGNORE,
    )
    status_reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The id of the same connection on an Airbyte server (airbyte engine only).
    remote_id = models.CharField(max_length=64, blank=True)
    # The Celery queue its syncs go to; blank is the shared "syncs" queue. A team
    # pins a heavy connection to a host by giving it a queue only that host's
    # worker consumes (``-Q syncs,heavy``).
    queue = models.CharField(max_length=60, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "name"], name="connection_name_unique_in_workspace"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ConnectionStream(models.Model):
    """One stream of a connection: whether it is synced and how."""

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="streams"
    )
    name = models.CharField(max_length=200)
    namespace = models.CharField(max_length=200, blank=True)
    selected = models.BooleanField(default=True)
    sync_mode = models.CharField(
        max_length=20, choices=SyncMode.choices, default=SyncMode.FULL_REFRESH
    )
    destination_sync_mode = models.CharField(
        max_length=20,
        choices=DestinationSyncMode.choices,
        default=DestinationSyncMode.OVERWRITE,
    )
    cursor_field = models.JSONField(default=list, blank=True)
    primary_key = models.JSONField(default=list, blank=True)
    # A sync mode set on an Airbyte server that the console cannot express (e.g.
    # ``incremental_update``), kept as it came on import: the modes above hold its
    # nearest relative, and while they do, the engine sends this word back
    # unchanged. Choosing another mode in the console clears it.
    remote_sync_mode = models.CharField(max_length=40, blank=True)
    # The stream's JSON schema as discovered when the connection was last saved.
    json_schema = models.JSONField(default=dict, blank=True)
    # Bumped by every reset (not by each overwrite job), like Airbyte's generation id.
    generation_id = models.PositiveIntegerField(default=0)
    # Field selection: the top-level fields synced; empty means every field (new
    # ones included). The primary key and cursor fields are always among them.
    selected_fields = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["namespace", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "namespace", "name"],
                name="connection_stream_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name

    @property
    def synced_json_schema(self) -> dict:
        """The JSON schema of what is written: the selected fields only."""
        return schema_with_fields(self.json_schema, self.selected_fields)


class SyncJobQuerySet(models.QuerySet):
    def active(self) -> SyncJobQuerySet:
        return self.filter(status__in=SyncJob.ACTIVE_STATUSES)


class SyncJob(BaseModel):
    """One sync of a connection, made of one or more attempts."""

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULED = "scheduled", "Scheduled"
        API = "api", "API"
        RETRY = "retry", "Retry"
        # A reset an engine runs as a job (``Engine.resets_as_jobs``): it empties
        # ``reset_streams`` in the destination instead of syncing.
        RESET = "reset", "Reset"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        INCOMPLETE = "incomplete", "Incomplete (will retry)"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLING = "cancelling", "Cancelling"
        CANCELLED = "cancelled", "Cancelled"

    class FailureType(models.TextChoices):
        CONFIG_ERROR = "config_error", "Configuration error"
        SYSTEM_ERROR = "system_error", "System error"
        TRANSIENT_ERROR = "transient_error", "Transient error"
        MANUAL_CANCELLATION = "manual_cancellation", "Cancelled"
        HEARTBEAT_TIMEOUT = "heartbeat_timeout", "Unresponsive"

    class FailureOrigin(models.TextChoices):
        SOURCE = "source", "Source"
        DESTINATION = "destination", "Destination"
        CONSOLE = "console", "Console"
        AIRBYTE = "airbyte", "Airbyte platform"

    ACTIVE_STATUSES = (
        Status.PENDING,
        Status.RUNNING,
        Status.INCOMPLETE,
        Status.CANCELLING,
    )
    TERMINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="jobs"
    )
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
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the next attempt may start (retry backoff); null means now.
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # When a worker was last asked to run it; the reaper re-enqueues stale ones.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    records_committed = models.BigIntegerField(default=0)
    bytes_committed = models.BigIntegerField(default=0)
    stream_stats = models.JSONField(default=dict, blank=True)
    failure_type = models.CharField(
        max_length=20, choices=FailureType.choices, blank=True
    )
    failure_origin = models.CharField(
        max_length=12, choices=FailureOrigin.choices, blank=True
    )
    failure_message = models.TextField(blank=True)
    # The Airbyte server's job id and its status word as the server last said it
    # (airbyte engine only); an unknown status is kept here and shown as it is.
    remote_id = models.CharField(max_length=64, blank=True)
    remote_status = models.CharField(max_length=40, blank=True)
    # When the console last asked the server about this job (the reaper re-polls
    # jobs nobody asked about for a while: a poll task was lost).
    remote_polled_at = models.DateTimeField(null=True, blank=True)
    # The streams a reset job empties, as ``{"name", "namespace"}`` (empty for a
    # sync): the job may start long after the request (a retry, the reaper).
    reset_streams = models.JSONField(default=list, blank=True)

    objects = SyncJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One active job per connection: a second "Sync now" fails here.
            models.UniqueConstraint(
                fields=["connection"],
                condition=Q(
                    status__in=["pending", "running", "incomplete", "cancelling"]
                ),
                name="one_active_job_per_connection",
            ),
        ]
        indexes = [
            models.Index(fields=["connection", "-created_at"]),
            # The dashboard: recent failures, and records per day (the index holds
            # records_committed, so the sum never reads the table).
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["connection", "finished_at", "records_committed"]),
        ]

    def __str__(self) -> str:
        return f"Job {self.public_id} ({self.status})"

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


class SyncAttempt(models.Model):
    """One run of a job on a worker; the heartbeat tells it is still alive."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    job = models.ForeignKey(SyncJob, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.RUNNING, db_index=True
    )
    worker = models.CharField(max_length=200, blank=True)
    # The connector's process group on the worker's host, so the reaper can stop a
    # connector a dead worker left running.
    connector_pgid = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    records_emitted = models.BigIntegerField(default=0)
    records_committed = models.BigIntegerField(default=0)
    bytes_committed = models.BigIntegerField(default=0)
    # Progress for the live view: per-stream counts, status and the estimates.
    progress = models.JSONField(default=dict, blank=True)
    state_start = models.JSONField(null=True, blank=True)
    state_end = models.JSONField(null=True, blank=True)
    failure_type = models.CharField(max_length=20, blank=True)
    failure_origin = models.CharField(max_length=12, blank=True)
    failure_message = models.TextField(blank=True)
    log = models.TextField(blank=True)
    log_truncated_bytes = models.BigIntegerField(default=0)
    # What the attempt cost on its worker (embedded engine; empty where unknown):
    # peak resident memory and CPU seconds of the engine's process and of the
    # connector's process tree.
    engine_peak_rss_bytes = models.BigIntegerField(null=True, blank=True)
    engine_cpu_seconds = models.FloatField(null=True, blank=True)
    connector_peak_rss_bytes = models.BigIntegerField(null=True, blank=True)
    connector_cpu_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["job", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "number"], name="attempt_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"Attempt {self.number} of {self.job_id}"


class ConnectionState(models.Model):
    """The last committed state, mirrored from the destination (stream or global)."""

    class Kind(models.TextChoices):
        STREAM = "stream", "Per stream"
        GLOBAL = "global", "Global"
        LEGACY = "legacy", "Legacy"

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="states"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    stream_name = models.CharField(max_length=200, blank=True)
    stream_namespace = models.CharField(max_length=200, blank=True)
    state = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "kind", "stream_namespace", "stream_name"],
                name="connection_state_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} state {self.stream_name or '*'} of {self.connection_id}"


def schema_with_fields(json_schema: dict, fields: list[str] | tuple[str, ...]) -> dict:
    """``json_schema`` keeping only the top-level ``fields`` (all when empty)."""
    if not fields or not isinstance(json_schema, dict):
        return json_schema
    keep = set(fields)
    properties = json_schema.get("properties") or {}
    return {
        **json_schema,
        "properties": {k: v for k, v in properties.items() if k in keep},
    }
