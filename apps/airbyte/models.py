"""The Airbyte server a workspace drives, kept in the database."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from encrypted_model_fields.fields import EncryptedTextField

from apps.core.models import BaseModel, WorkspaceQuerySet


class AirbyteServer(BaseModel):
    """Where a workspace on the airbyte engine sends its work, and how it signs in.

    The secrets (an application's client secret, or a basic-auth password for old
    installs) are encrypted at rest like every other secret. The ``server_*`` fields
    are what the last "Test connection" learned from ``instance_configuration``.
    """

    class Auth(models.TextChoices):
        APPLICATION = "application", "Application client id and secret"
        BASIC = "basic", "Basic auth (old installs)"
        NONE = "none", "None (server started with --disable-auth)"

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="airbyte_server"
    )
    url = models.URLField(max_length=300)
    auth = models.CharField(
        max_length=12, choices=Auth.choices, default=Auth.APPLICATION
    )
    client_id = models.CharField(max_length=200, blank=True)
    client_secret = EncryptedTextField(blank=True, default="")
    username = models.CharField(max_length=200, blank=True)
    password = EncryptedTextField(blank=True, default="")
    # The Airbyte workspace the console's sources, destinations and connections live in.
    remote_workspace_id = models.CharField(max_length=64, blank=True)
    remote_workspace_name = models.CharField(max_length=200, blank=True)
    # What the last test found.
    server_version = models.CharField(max_length=50, blank=True)
    server_edition = models.CharField(max_length=50, blank=True)
    server_auth_mode = models.CharField(max_length=20, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True)
    last_check_message = models.TextField(blank=True)
    # The connector definitions the server offers (ids), refreshed with each test.
    definition_ids = models.JSONField(default=list, blank=True)
    last_import_at = models.DateTimeField(null=True, blank=True)
    last_import_summary = models.JSONField(default=dict, blank=True)

    class Meta:
        # The table keeps the name it had when this model lived in ``engines``.
        db_table = "engines_airbyteserver"

    def __str__(self) -> str:
        return f"{self.url} for {self.workspace}"


class AirbyteProbe(BaseModel):
    """One request of the Engine page to the server, run by a worker.

    "Test connection", listing the server's workspaces, choosing or creating one, and
    the import each talk to a server the user named, so none runs inside a web
    request: the request makes this row, a worker runs it and records its
    ``result`` (plain JSON, never a secret or another server's page), and the page
    polls the row until it is done.
    """

    class Kind(models.TextChoices):
        TEST = "test", "Test connection"
        LIST = "list", "List workspaces"
        CHOOSE = "choose", "Choose workspace"
        IMPORT = "import", "Import"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    ACTIVE_STATUSES = (Status.PENDING, Status.RUNNING)

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    server = models.ForeignKey(
        AirbyteServer, on_delete=models.CASCADE, related_name="probes"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # What the user asked for (choose: the workspace id or the name to create).
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["server", "kind", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.server_id} ({self.status})"

    @property
    def done(self) -> bool:
        return self.status not in self.ACTIVE_STATUSES

    @property
    def ok(self) -> bool:
        return self.status == self.Status.SUCCEEDED


class RemoteMark(BaseModel):
    """Something the server decided about a console object that the user must see.

    The server never answers 404 for what was deleted on it: a source or destination
    reads back with its configuration emptied (a tombstone), a connection with
    ``status: deprecated``, and a job it no longer knows with a 409. Writing to any
    of these would either vanish or revive what someone deleted on purpose, so the
    mirror stops, records the mark here, and the object's page says so (and offers
    to re-create it). A connection Airbyte disabled (``inactive``) is marked too,
    so a sync is refused instead of silently re-enabling it. ``kind`` and
    ``object_id`` name the console row (source, destination, connection, job).
    """

    class State(models.TextChoices):
        DELETED = "deleted", "Deleted in Airbyte"
        DISABLED = "disabled", "Disabled on the Airbyte server"
        UNKNOWN = "unknown", "Unknown to the Airbyte server"

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=12)
    object_id = models.BigIntegerField()
    remote_id = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=10, choices=State.choices)
    reason = models.CharField(max_length=500, blank=True)
    noticed_at = models.DateTimeField()

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "object_id"], name="airbyte_remote_mark_one_per_object"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id}: {self.state}"


class RemoteNamespace(BaseModel):
    """A connection's namespace as the Airbyte server had it at import.

    The console's ``Connection.namespace`` is one schema name; Airbyte also knows
    "the source's namespace" and "the destination's default" and formats with
    variables. Pushing the console's field back would move the data to another
    schema, so the server's own ``namespaceDefinition``/``namespaceFormat`` are kept
    here and sent back unchanged, until someone changes the namespace in the
    console (``console_namespace`` is what the field held at import).
    """

    connection = models.OneToOneField(
        "connections.Connection", on_delete=models.CASCADE, related_name="+"
    )
    namespace_definition = models.CharField(max_length=20)
    namespace_format = models.CharField(max_length=500, blank=True)  # "": not sent
    console_namespace = models.CharField(max_length=63)

    def __str__(self) -> str:
        return f"{self.connection_id}: {self.namespace_definition}"
