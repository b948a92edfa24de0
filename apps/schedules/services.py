"""Every write to schedules, and the dispatcher that turns due schedules into syncs."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.services import audit_record, field_changes
from apps.connections.models import Connection, SyncJob
from apps.connections.services import (
    ConnectionNotActive,
    SyncAlreadyRunning,
    sync_request,
)
from apps.core import metrics
from apps.schedules import selectors, timing
from apps.schedules.models import Schedule, Tick
from apps.workspaces.models import Workspace

logger = logging.getLogger(__name__)


def _snapshot(schedule: Schedule) -> dict[str, object]:
    return {
        "name": schedule.name,
        "kind": schedule.kind,
        "interval_minutes": schedule.interval_minutes,
        "cron_expression": schedule.cron_expression,
        "timezone": schedule.timezone,
        "paused": schedule.paused,
    }


def _check_name(workspace: Workspace, name: str, exclude: int | None = None) -> str:
    name = " ".join(name.split())
    if not name:
        raise ValidationError({"name": "Give the schedule a name."})
    taken = Schedule.objects.for_workspace(workspace).filter(name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise ValidationError({"name": f"A schedule named “{name}” already exists."})
    return name


def next_run_from(schedule: Schedule, *, now: datetime) -> datetime | None:
    """When an automatic schedule runs next, counted from ``now``.

    Cron: the first matching minute after now. Interval: N minutes after the end of
    the connection's last sync (or its last tick), or N minutes from now if neither.
    """
    if schedule.paused or not schedule.is_automatic:
        return None
    if schedule.kind == Schedule.Kind.CRON:
        return timing.cron_next(schedule.cron_expression, schedule.zone, now)
    due = selectors.interval_due_at(schedule)
    return (
        due if due is not None else now + timedelta(minutes=schedule.interval_minutes)
    )


@transaction.atomic
def schedule_create(
    *,
    actor: AbstractBaseUser | None,
    workspace: Workspace,
    connection: Connection,
    name: str,
    kind: str,
    interval_minutes: int | None = None,
    cron_expression: str = "",
    timezone_name: str = "UTC",
) -> Schedule:
    """Give a connection a schedule; one per connection, names unique per workspace."""
    if connection.workspace_id != workspace.pk:
        raise ValidationError({"connection": "Choose a connection of this workspace."})
    name = _check_name(workspace, name)
    existing = Schedule.objects.filter(connection=connection).first()
    if existing is not None:
        raise ValidationError(
            {
                "connection": f"“{connection.name}” already has the schedule "
                f"“{existing.name}”: change that one instead."
            }
        )
    schedule = Schedule(
        workspace=workspace,
        connection=connection,
        name=name,
        kind=kind,
        interval_minutes=interval_minutes,
        cron_expression=cron_expression or "",
        timezone=timezone_name,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    schedule.full_clean()
    schedule.next_run_at = next_run_from(schedule, now=timezone.now())
    schedule.save()
    audit_record(
        actor=actor,
        action="schedule.created",
        workspace=workspace,
        target=schedule,
        changes={
            **{key: [None, value] for key, value in _snapshot(schedule).items()},
            "connection": [None, connection.name],
        },
    )
    return schedule


@transaction.atomic
def schedule_update(
    *,
    actor: AbstractBaseUser | None,
    schedule: Schedule,
    name: str,
    kind: str,
    interval_minutes: int | None = None,
    cron_expression: str = "",
    timezone_name: str = "UTC",
) -> Schedule:
    """Change a schedule's name or timing; the next run is computed afresh."""
    schedule = Schedule.objects.select_for_update().get(pk=schedule.pk)
    before = _snapshot(schedule)
    schedule.name = _check_name(schedule.workspace, name, exclude=schedule.pk)
    schedule.kind = kind
    schedule.interval_minutes = interval_minutes
    schedule.cron_expression = cron_expression or ""
    schedule.timezone = timezone_name
    schedule.full_clean()
    after = _snapshot(schedule)
    changes = field_changes(before, after)
    if not changes:
        return schedule
    schedule.next_run_at = next_run_from(schedule, now=timezone.now())
    schedule.save()
    audit_record(
        actor=actor,
        action="schedule.updated",
        workspace=schedule.workspace,
        target=schedule,
        changes=changes,
    )
    return schedule


@transaction.atomic
def schedule_pause(*, actor: AbstractBaseUser | None, schedule: Schedule) -> Schedule:
    """Stop a schedule from starting syncs; a run waiting for a busy sync is dropped."""
    schedule = Schedule.objects.select_for_update().get(pk=schedule.pk)
    if schedule.paused:
        return schedule
    schedule.paused = True
    schedule.next_run_at = None
    schedule.save(update_fields=["paused", "next_run_at", "updated_at"])
    schedule.ticks.filter(outcome=Tick.Outcome.WAITING).update(
        outcome=Tick.Outcome.SKIPPED_PAUSED,
        message="The schedule was paused before the run could start.",
        updated_at=timezone.now(),
    )
    audit_record(
        actor=actor,
        action="schedule.paused",
        workspace=schedule.workspace,
        target=schedule,
        changes={"paused": [False, True]},
    )
    return schedule


@transaction.atomic
def schedule_resume(*, actor: AbstractBaseUser | None, schedule: Schedule) -> Schedule:
    """Start a paused schedule again from now: the runs it missed are not replayed."""
    schedule = Schedule.objects.select_for_update().get(pk=schedule.pk)
    if not schedule.paused:
        return schedule
    schedule.paused = False
    schedule.next_run_at = next_run_from(schedule, now=timezone.now())
    schedule.save(update_fields=["paused", "next_run_at", "updated_at"])
    audit_record(
        actor=actor,
        action="schedule.resumed",
        workspace=schedule.workspace,
        target=schedule,
        changes={"paused": [True, False]},
    )
    return schedule


@transaction.atomic
def schedule_delete(*, actor: AbstractBaseUser | None, schedule: Schedule) -> None:
    """Delete a schedule and its ticks; the connection and its jobs stay."""
    audit_record(
        actor=actor,
        action="schedule.deleted",
        workspace=schedule.workspace,
        target=schedule,
        changes={
            **{key: [value, None] for key, value in _snapshot(schedule).items()},
            "connection": [schedule.connection.name, None],
        },
    )
    schedule.delete()


def _new_tick(schedule: Schedule, scheduled_for: datetime) -> Tick | None:
    try:
        # A savepoint: losing the race on the unique pair leaves our transaction
        # usable, and tells us another dispatcher already handled this due time.
        with transaction.atomic():
            return Tick.objects.create(schedule=schedule, scheduled_for=scheduled_for)
    except IntegrityError:
        return None


def _start(schedule: Schedule, tick: Tick) -> None:
    """Ask for the tick's sync inside the caller's transaction, and record why."""
    connection = Connection.objects.get(pk=schedule.connection_id)
    try:
        tick.job = sync_request(
            connection=connection, trigger=SyncJob.Trigger.SCHEDULED, actor=None
        )
    except SyncAlreadyRunning:
        tick.outcome = Tick.Outcome.WAITING
        tick.message = "A sync of the connection was running; this run waits for it."
    except ConnectionNotActive as exc:
        tick.outcome = Tick.Outcome.SKIPPED_INACTIVE
        tick.message = str(exc)[:500]
    else:
        tick.outcome = Tick.Outcome.QUEUED
        tick.message = ""
        lag = (timezone.now() - tick.scheduled_for).total_seconds()
        transaction.on_commit(
            lambda: metrics.schedule_lag(
                seconds=lag, connection_id=str(connection.public_id)
            )
        )
    tick.save()


def _due_time(schedule: Schedule, *, busy: bool, now: datetime) -> datetime | None:
    """The due time to tick for now, or None; moves ``next_run_at`` on either way."""
    if schedule.next_run_at is None or schedule.next_run_at > now:
        return None
    due = schedule.next_run_at
    if schedule.kind == Schedule.Kind.INTERVAL:
        step = timedelta(minutes=schedule.interval_minutes)
        # Counted from the end of the last sync: never due while one runs (look
        # again an interval later), and a sync that ended since may move it on.
        if busy:
            schedule.next_run_at = now + step
            return None
        due = selectors.interval_due_at(schedule) or due
        if due > now:
            schedule.next_run_at = due
            return None
        schedule.next_run_at = now + step
    else:
        # From now, not from the missed due time: after downtime a schedule runs
        # once, not once per missed tick.
        schedule.next_run_at = timing.cron_next(
            schedule.cron_expression, schedule.zone, now
        )
    schedule.last_tick_at = now
    return due


@transaction.atomic
def schedule_fire(*, schedule_id: int, now: datetime) -> Tick | None:
    """Handle one schedule that is due or has a run waiting; safe to run twice.

    The schedule row is locked (rows another dispatcher holds are skipped), and the
    tick row is unique per due time, so two dispatchers make one tick and one job.
    The tick and its job are written in one transaction; the job is enqueued only
    after it commits (``sync_request`` does that).
    """
    schedule = (
        Schedule.objects.select_for_update(skip_locked=True)
        .filter(pk=schedule_id, paused=False)
        .exclude(kind=Schedule.Kind.MANUAL)
        .first()
    )
    if schedule is None:
        return None
    waiting = schedule.ticks.filter(outcome=Tick.Outcome.WAITING).first()
    active = SyncJob.objects.filter(connection_id=schedule.connection_id).active()
    due = _due_time(schedule, busy=active.exists(), now=now)
    schedule.save(update_fields=["next_run_at", "last_tick_at", "updated_at"])
    tick = _new_tick(schedule, due) if due is not None else None
    if tick is not None:
        if waiting is not None:
            # At most one run waits: the newer tick replaces the older one.
            waiting.outcome = Tick.Outcome.COALESCED
            waiting.message = (
                f"Replaced by the run due at {tick.scheduled_for:%Y-%m-%d %H:%M} UTC."
            )
            waiting.save()
        waiting = tick
    if waiting is None:
        return None
    if active.exists():
        if not waiting.message:
            waiting.message = "A sync of the connection is running; this run waits."
            waiting.save()
        return waiting
    _start(schedule, waiting)
    return waiting


def schedule_dispatch(*, now: datetime | None = None) -> list[Tick]:
    """Every 30 s: turn each due schedule into a tick and, when free, a sync."""
    ticks = []
    for schedule_id in selectors.due_schedule_ids(now=now or timezone.now()):
        try:
            tick = schedule_fire(schedule_id=schedule_id, now=now or timezone.now())
        except Exception:  # one broken schedule must not stop the others
            logger.exception("Dispatching schedule %s failed.", schedule_id)
            continue
        if tick is not None:
            ticks.append(tick)
    return ticks
