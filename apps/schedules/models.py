"""Schedules that sync a connection on their own, and the ticks they made."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from apps.core.models import BaseModel, WorkspaceQuerySet
from apps.schedules import timing


class Schedule(BaseModel):
    """When a connection syncs on its own: manually, every N minutes, or by cron."""

    class Kind(models.TextChoices):
        MANUAL = "manual", "Manual"
        INTERVAL = "interval", "Interval"
        CRON = "cron", "Cron"

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="schedules"
    )
    # One schedule per connection: two would race for its one active job.
    connection = models.OneToOneField(
        "connections.Connection", on_delete=models.CASCADE, related_name="schedule"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CRON)
    interval_minutes = models.PositiveIntegerField(null=True, blank=True)
    cron_expression = models.CharField(max_length=120, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    paused = models.BooleanField(default=False)
    # Stored so the dispatcher finds due schedules with one indexed query.
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_tick_at = models.DateTimeField(null=True, blank=True)
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
                fields=["workspace", "name"], name="schedule_name_unique_in_workspace"
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="interval")
                | models.Q(interval_minutes__isnull=False),
                name="schedule_interval_has_minutes",
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="cron") | ~models.Q(cron_expression=""),
                name="schedule_cron_has_expression",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        tz = timing.zone(self.timezone) if self.timezone else None
        if tz is None:
            raise ValidationError({"timezone": "Choose a time zone."})
        if self.kind == self.Kind.INTERVAL:
            if not self.interval_minutes:
                raise ValidationError(
                    {"interval_minutes": "Say how often, e.g. every 6h."}
                )
            try:
                timing.check_interval(self.interval_minutes)
            except ValidationError as exc:
                raise ValidationError({"interval_minutes": exc.messages}) from None
            self.cron_expression = ""
        elif self.kind == self.Kind.CRON:
            try:
                self.cron_expression = timing.parse_cron(self.cron_expression)
                timing.check_cron_gap(self.cron_expression, tz, timezone.now())
            except ValidationError as exc:
                raise ValidationError({"cron_expression": exc.messages}) from None
            self.interval_minutes = None
        else:
            self.cron_expression = ""
            self.interval_minutes = None

    @property
    def zone(self):
        return timing.zone(self.timezone)

    @property
    def description(self) -> str:
        """How it runs, in a few words: ``cron 0 0 * * * (Europe/Berlin)``."""
        if self.kind == self.Kind.INTERVAL and self.interval_minutes:
            return (
                f"every {timing.describe_every(self.interval_minutes)} "
                "after the last sync"
            )
        if self.kind == self.Kind.CRON:
            return f"cron {self.cron_expression} ({self.timezone})"
        return "manual"

    @property
    def is_automatic(self) -> bool:
        return self.kind != self.Kind.MANUAL

    @property
    def last_outcome_label(self) -> str:
        """The latest tick's outcome, when the list selector annotated it."""
        value = getattr(self, "last_outcome", None)
        return Tick.Outcome(value).label if value else ""


class Tick(models.Model):
    """One due time of a schedule, and what the dispatcher did about it.

    The unique (schedule, scheduled_for) pair is what makes two dispatchers running
    at once produce one tick, and so one job.
    """

    class Outcome(models.TextChoices):
        QUEUED = "queued", "Queued a sync"
        WAITING = "waiting", "Waiting for the running sync to end"
        COALESCED = "coalesced", "Coalesced into a later run"
        SKIPPED_INACTIVE = "skipped_inactive", "Skipped: connection not active"
        SKIPPED_PAUSED = "skipped_paused", "Skipped: schedule paused"

    schedule = models.ForeignKey(
        Schedule, on_delete=models.CASCADE, related_name="ticks"
    )
    scheduled_for = models.DateTimeField()
    outcome = models.CharField(
        max_length=20,
        choices=Outcome.choices,
        default=Outcome.WAITING,
        db_index=True,
    )
    message = models.CharField(max_length=500, blank=True)
    job = models.ForeignKey(
        "connections.SyncJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-scheduled_for", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["schedule", "scheduled_for"], name="tick_unique_per_due_time"
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.schedule_id} @ {self.scheduled_for:%Y-%m-%d %H:%M} ({self.outcome})"
        )
