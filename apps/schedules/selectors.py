"""Reading schedules, their ticks and their upcoming runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone

from apps.connections.models import Connection, SyncJob
from apps.schedules import timing
from apps.schedules.models import Schedule, Tick
from apps.workspaces.models import Workspace


def schedule_list(*, workspace: Workspace, search: str = "") -> QuerySet[Schedule]:
    """A workspace's schedules with their connection and latest tick's outcome."""
    latest = Tick.objects.filter(schedule=OuterRef("pk")).order_by(
        "-scheduled_for", "-id"
    )
    schedules = (
        Schedule.objects.for_workspace(workspace)
        .select_related("connection")
        .annotate(
            last_outcome=Subquery(latest.values("outcome")[:1]),
            last_scheduled_for=Subquery(latest.values("scheduled_for")[:1]),
        )
        .order_by("name")
    )
    if search:
        schedules = schedules.filter(
            Q(name__icontains=search) | Q(connection__name__icontains=search)
        )
    return schedules


def schedule_get(*, workspace: Workspace, public_id: UUID) -> Schedule:
    """One schedule of the workspace; 404 otherwise."""
    found = (
        Schedule.objects.for_workspace(workspace)
        .select_related("connection", "workspace")
        .filter(public_id=public_id)
        .first()
    )
    if found is None:
        raise Http404("No such schedule.")
    return found


def schedule_by_name(*, workspace: Workspace, name: str) -> Schedule | None:
    """A schedule by its name (any case) or public id, for the CLI."""
    schedules = Schedule.objects.for_workspace(workspace).select_related("connection")
    try:
        found = schedules.filter(public_id=UUID(name)).first()
    except ValueError:
        found = None
    return found or schedules.filter(name__iexact=name.strip()).first()


def tick_list(*, schedule: Schedule, limit: int = 50) -> list[Tick]:
    """The schedule's latest ticks, newest first, with their jobs."""
    return list(schedule.ticks.select_related("job").order_by("-scheduled_for")[:limit])


def due_schedule_ids(*, now: datetime) -> list[int]:
    """Unpaused automatic schedules that are due, or have a run waiting."""
    waiting = Tick.objects.filter(schedule=OuterRef("pk"), outcome=Tick.Outcome.WAITING)
    return list(
        Schedule.objects.filter(paused=False)
        .exclude(kind=Schedule.Kind.MANUAL)
        .filter(Q(next_run_at__lte=now) | Exists(waiting))
        .order_by("next_run_at")
        .values_list("pk", flat=True)
    )


def last_sync_end(connection_id: int) -> datetime | None:
    """When the connection's latest finished sync ended (any trigger)."""
    job = (
        SyncJob.objects.filter(
            connection_id=connection_id, status__in=SyncJob.TERMINAL_STATUSES
        )
        .order_by("-finished_at", "-id")
        .exclude(finished_at__isnull=True)
        .values_list("finished_at", flat=True)
        .first()
    )
    return job


def interval_due_at(schedule: Schedule) -> datetime | None:
    """An interval schedule's due time: N minutes after the last sync ended.

    The schedule's own last tick counts too, so a tick that started no sync (the
    connection was paused) still waits N minutes before the next. None when the
    connection never synced and the schedule never ticked.
    """
    if not schedule.interval_minutes:
        return None
    anchors = [
        moment
        for moment in (last_sync_end(schedule.connection_id), schedule.last_tick_at)
        if moment is not None
    ]
    if not anchors:
        return None
    return max(anchors) + timedelta(minutes=schedule.interval_minutes)


def next_run_for(connection: Connection) -> datetime | None:
    """When the connection syncs next on its own; None if only by hand or paused."""
    schedule = Schedule.objects.filter(connection=connection).first()
    if schedule is None or schedule.paused or not schedule.is_automatic:
        return None
    if schedule.kind == Schedule.Kind.INTERVAL:
        # The stored value is only when the dispatcher looks again; the sync that
        # ended since then decides.
        running = connection.jobs.active().exists()
        due = None if running else interval_due_at(schedule)
        return due or schedule.next_run_at
    return schedule.next_run_at


@dataclass
class Preview:
    """What the form shows while the user types: upcoming runs or what is wrong."""

    runs: list[datetime] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # The same errors by the form field they belong to, to show beside it.
    field_errors: dict[str, list[str]] = field(default_factory=dict)
    explanation: str = ""
    zone_name: str = "UTC"
    approximate: bool = False


def schedule_preview(
    *,
    kind: str,
    cron_expression: str = "",
    interval_minutes: int | None = None,
    timezone_name: str = "UTC",
    connection: Connection | None = None,
    now: datetime | None = None,
    count: int = 5,
) -> Preview:
    """The next ``count`` runs of an unsaved schedule, in its zone, or its errors."""
    now = now or timezone.now()
    draft = Schedule(
        kind=kind,
        cron_expression=cron_expression or "",
        interval_minutes=interval_minutes,
        timezone=timezone_name or "UTC",
    )
    preview = Preview(zone_name=draft.timezone)
    try:
        draft.clean()
    except ValidationError as exc:
        preview.errors = exc.messages
        preview.field_errors = exc.message_dict if hasattr(exc, "error_dict") else {}
        return preview
    tz = draft.zone
    if draft.kind == Schedule.Kind.CRON:
        preview.runs = timing.cron_runs(draft.cron_expression, tz, now, count)
        preview.explanation = timing.explain_cron(draft.cron_expression)
    elif draft.kind == Schedule.Kind.INTERVAL:
        step = timedelta(minutes=draft.interval_minutes)
        end = last_sync_end(connection.pk) if connection is not None else None
        first = max(end + step, now) if end is not None else now + step
        # Later runs depend on how long each sync takes: shown as if instant.
        preview.runs = [(first + step * n).astimezone(tz) for n in range(count)]
        preview.approximate = True
        preview.explanation = (
            f"Every {timing.describe_every(draft.interval_minutes)}, counted from "
            "the end of the previous sync."
        )
    return preview
