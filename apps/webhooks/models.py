"""Webhook endpoints, the deliveries owed to them, and every attempt made."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from encrypted_model_fields.fields import EncryptedTextField

from apps.core.models import BaseModel, WorkspaceQuerySet


class Event(models.TextChoices):
    SYNC_STARTED = "sync.started", "Sync started"
    SYNC_SUCCEEDED = "sync.succeeded", "Sync succeeded"
    SYNC_FAILED = "sync.failed", "Sync failed"
    SYNC_CANCELLED = "sync.cancelled", "Sync cancelled"
    CONNECTION_DISABLED = "connection.disabled", "Connection disabled"
    SCHEMA_CHANGED = "schema.changed", "Schema changed"
    CREDENTIAL_ROTATED = "credential.rotated", "Credential rotated"
    TRANSFORM_SUCCEEDED = "transform.succeeded", "Transform succeeded"
    TRANSFORM_FAILED = "transform.failed", "Transform failed"


# Sent by "Send test event" only; no endpoint subscribes to it.
TEST_EVENT = "webhook.test"

# The names the resource-airbyte tool used, accepted by the CLI.
EVENT_ALIASES = {
    "sync_completed": Event.SYNC_SUCCEEDED,
    "sync_succeeded": Event.SYNC_SUCCEEDED,
    "sync_failed": Event.SYNC_FAILED,
    "sync_started": Event.SYNC_STARTED,
    "sync_cancelled": Event.SYNC_CANCELLED,
}


class WebhookEndpoint(BaseModel):
    """A URL that receives signed events of a workspace."""

    class Format(models.TextChoices):
        CONSOLE = "console", "Console JSON"
        SLACK = "slack", "Slack"

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="webhooks"
    )
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list)
    format = models.CharField(
        max_length=10, choices=Format.choices, default=Format.CONSOLE
    )
    # ``whsec_`` + base64 of 32 random bytes, as Standard Webhooks prescribes.
    secret = EncryptedTextField()
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    # Start of the current run of failed attempts; cleared by any success.
    failing_since = models.DateTimeField(null=True, blank=True)
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
                "workspace", Lower("name"), name="webhook_name_unique_ci_in_workspace"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def url_display(self) -> str:
        """Scheme and host only: paths often carry a token (Slack's do)."""
        scheme, _, rest = self.url.partition("://")
        host, slash, path = rest.partition("/")
        host = host.rpartition("@")[2]
        return f"{scheme}://{host}/…" if slash and path else f"{scheme}://{host}/"

    @property
    def event_labels(self) -> list[str]:
        labels = dict(Event.choices)
        return [labels.get(e, e) for e in self.events]


class WebhookDeliveryQuerySet(models.QuerySet):
    def for_workspace(self, workspace: object) -> WebhookDeliveryQuerySet:
        return self.filter(endpoint__workspace=workspace)


class WebhookDelivery(BaseModel):
    """One event owed to one endpoint; the row drives its retries."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERING = "delivering", "Delivering"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        GAVE_UP = "gave_up", "Gave up"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=40)
    # ``webhook-id``: the same for every attempt and for a resend, so receivers
    # can drop duplicates.
    webhook_id = models.CharField(max_length=64, db_index=True)
    payload = models.JSONField()
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # When a dispatcher took it; a row left "delivering" by a dead worker is
    # taken again once this is old.
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    resent_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    objects = WebhookDeliveryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["endpoint", "-created_at"])]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} {self.webhook_id} ({self.status})"

    @property
    def can_resend(self) -> bool:
        return self.status not in (self.Status.PENDING, self.Status.DELIVERING)


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery: what came back and how long it took."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempts"
    )
    number = models.PositiveSmallIntegerField()
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    # The first KiB of the response body, for debugging a receiver.
    response_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["delivery", "number"], name="webhook_attempt_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"Attempt {self.number} of delivery {self.delivery_id}"


class Notification(models.Model):
    """An event shown in the workspace's notification list (no webhook needed)."""

    class Level(models.TextChoices):
        INFO = "info", "Info"
        ERROR = "error", "Error"

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="notifications"
    )
    event = models.CharField(max_length=40)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    title = models.CharField(max_length=300)
    body = models.CharField(max_length=1000, blank=True)
    # A path inside the console (the job, the connection, the endpoint).
    link = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]

    def __str__(self) -> str:
        return self.title


class NotificationCursor(models.Model):
    """How far a member has read a workspace's notifications."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "workspace"], name="notification_cursor_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.workspace_id} up to {self.seen_at}"
