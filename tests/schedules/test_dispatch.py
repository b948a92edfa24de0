"""The dispatcher: one tick and one job per due time, coalescing, missed runs once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection as db_connection
from django.utils import timezone

from apps.connections.models import SyncJob
from apps.schedules import services
from apps.schedules.models import Schedule, Tick
from apps.schedules.tasks import schedule_dispatch_task
from tests.factories import ConnectionFactory

NOON = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def hourly(actor, workspace, connection, **kwargs) -> Schedule:
    options = {"name": "hourly", "kind": "cron", "cron_expression": "0 * * * *"}
    options.update(kwargs)
    return services.schedule_create(
        actor=actor, workspace=workspace, connection=connection, **options
    )


def dispatch_at(moment: datetime) -> list[Tick]:
    with time_machine.travel(moment, tick=False):
        return services.schedule_dispatch()


def finish(job: SyncJob, at: datetime) -> None:
    SyncJob.objects.filter(pk=job.pk).update(status="succeeded", finished_at=at)


def outcomes(schedule: Schedule) -> list[tuple[str, str]]:
    return [
        (f"{t.scheduled_for:%H:%M}", t.outcome)
        for t in schedule.ticks.order_by("scheduled_for")
    ]


@pytest.fixture
def schedule(editor, workspace, connection):
    with time_machine.travel(NOON, tick=False):
        return hourly(editor, workspace, connection)


def test_nothing_happens_before_the_due_time(schedule):
    assert dispatch_at(NOON + timedelta(minutes=59)) == []
    assert not SyncJob.objects.exists()


def test_due_schedule_makes_one_tick_and_one_scheduled_job_after_commit(
    schedule, connection, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        (tick,) = dispatch_at(NOON + timedelta(hours=1, seconds=20))
    sent.assert_not_called()
    for callback in callbacks:
        callback()
    job = SyncJob.objects.get()
    sent.assert_called_once_with(args=[job.pk], queue="syncs", retry=False)
    assert job.connection == connection
    assert job.trigger == SyncJob.Trigger.SCHEDULED
    assert tick.outcome == Tick.Outcome.QUEUED and tick.job == job
    assert tick.scheduled_for == NOON + timedelta(hours=1)
    schedule.refresh_from_db()
    assert schedule.next_run_at == NOON + timedelta(hours=2)


def test_dispatching_twice_makes_one_job(schedule):
    due = NOON + timedelta(hours=1, seconds=5)
    dispatch_at(due)
    dispatch_at(due + timedelta(seconds=30))
    assert SyncJob.objects.count() == 1
    assert Tick.objects.count() == 1


def test_missed_runs_after_downtime_run_once(schedule):
    # The console was down from 12:00 to 17:30: five hourly runs were missed.
    ticks = dispatch_at(NOON + timedelta(hours=5, minutes=30))
    assert len(ticks) == 1
    assert SyncJob.objects.count() == 1
    schedule.refresh_from_db()
    # The next run counts from now, not from the missed 13:00.
    assert schedule.next_run_at == NOON + timedelta(hours=6)
    finish(SyncJob.objects.get(), NOON + timedelta(hours=5, minutes=35))
    assert dispatch_at(NOON + timedelta(hours=5, minutes=50)) == []
    assert SyncJob.objects.count() == 1


def test_ticks_during_a_running_sync_coalesce_into_one_waiting_run(schedule):
    dispatch_at(NOON + timedelta(hours=1))  # 13:00 starts a sync that runs long
    first = SyncJob.objects.get()
    dispatch_at(NOON + timedelta(hours=2))  # 14:00: busy, waits
    dispatch_at(NOON + timedelta(hours=2, minutes=30))  # still busy: nothing new
    dispatch_at(NOON + timedelta(hours=3))  # 15:00: replaces the 14:00 one
    assert SyncJob.objects.count() == 1
    assert outcomes(schedule) == [
        ("13:00", Tick.Outcome.QUEUED),
        ("14:00", Tick.Outcome.COALESCED),
        ("15:00", Tick.Outcome.WAITING),
    ]
    finish(first, NOON + timedelta(hours=3, minutes=20))
    (tick,) = dispatch_at(NOON + timedelta(hours=3, minutes=20, seconds=30))
    assert tick.outcome == Tick.Outcome.QUEUED
    assert SyncJob.objects.count() == 2
    assert SyncJob.objects.filter(status="pending").get() == tick.job
    # The run that waited is not run again, and the schedule goes on at 16:00.
    assert dispatch_at(NOON + timedelta(hours=3, minutes=40)) == []
    schedule.refresh_from_db()
    assert schedule.next_run_at == NOON + timedelta(hours=4)


def test_a_manual_sync_running_at_the_due_time_makes_the_run_wait(schedule, connection):
    manual = SyncJob.objects.create(connection=connection, trigger="manual")
    (tick,) = dispatch_at(NOON + timedelta(hours=1))
    assert tick.outcome == Tick.Outcome.WAITING
    assert "waits" in tick.message
    finish(manual, NOON + timedelta(hours=1, minutes=5))
    (tick,) = dispatch_at(NOON + timedelta(hours=1, minutes=5, seconds=30))
    assert tick.outcome == Tick.Outcome.QUEUED
    assert tick.job.trigger == SyncJob.Trigger.SCHEDULED


def test_paused_schedule_does_not_run(schedule, editor):
    services.schedule_pause(actor=editor, schedule=schedule)
    assert dispatch_at(NOON + timedelta(hours=3)) == []
    assert not SyncJob.objects.exists()


def test_paused_connection_records_why_it_did_not_sync(schedule, connection):
    connection.status = "paused"
    connection.save()
    (tick,) = dispatch_at(NOON + timedelta(hours=1))
    assert tick.outcome == Tick.Outcome.SKIPPED_INACTIVE
    assert "paused" in tick.message
    assert not SyncJob.objects.exists()
    schedule.refresh_from_db()
    assert schedule.next_run_at == NOON + timedelta(hours=2)


def test_interval_waits_for_the_end_of_the_running_sync(editor, workspace, connection):
    with time_machine.travel(NOON, tick=False):
        schedule = services.schedule_create(
            actor=editor,
            workspace=workspace,
            connection=connection,
            name="hourly",
            kind="interval",
            interval_minutes=60,
        )
    (tick,) = dispatch_at(NOON + timedelta(hours=1))
    job = SyncJob.objects.get()
    # Still running an hour later: an interval schedule is not due during a sync.
    assert dispatch_at(NOON + timedelta(hours=2)) == []
    finish(job, NOON + timedelta(hours=2, minutes=10))
    assert dispatch_at(NOON + timedelta(hours=3)) == []
    schedule.refresh_from_db()
    assert schedule.next_run_at == NOON + timedelta(hours=3, minutes=10)
    (tick,) = dispatch_at(NOON + timedelta(hours=3, minutes=10))
    assert tick.outcome == Tick.Outcome.QUEUED
    assert SyncJob.objects.count() == 2


def test_interval_on_a_paused_connection_keeps_ticking_without_collisions(
    editor, workspace, connection
):
    connection.status = "paused"
    connection.save()
    with time_machine.travel(NOON, tick=False):
        schedule = services.schedule_create(
            actor=editor,
            workspace=workspace,
            connection=connection,
            name="often",
            kind="interval",
            interval_minutes=30,
        )
    for half_hours in range(1, 4):
        dispatch_at(NOON + timedelta(minutes=30 * half_hours))
    assert [o for _, o in outcomes(schedule)] == [Tick.Outcome.SKIPPED_INACTIVE] * 3


def test_manual_schedules_never_tick(editor, workspace, connection):
    with time_machine.travel(NOON, tick=False):
        services.schedule_create(
            actor=editor,
            workspace=workspace,
            connection=connection,
            name="by hand",
            kind="manual",
        )
    assert dispatch_at(NOON + timedelta(days=3)) == []


def test_the_beat_task_dispatches(schedule):
    with time_machine.travel(NOON + timedelta(hours=1), tick=False):
        assert schedule_dispatch_task() == 1
        assert schedule_dispatch_task() == 0
    assert SyncJob.objects.count() == 1


def test_one_broken_schedule_does_not_stop_the_others(editor, workspace, schedule):
    other = ConnectionFactory(workspace=workspace)
    hourly_two = hourly(editor, workspace, other, name="second")
    # A zone that disappeared from the system makes this one fail to compute.
    Schedule.objects.filter(pk=schedule.pk).update(timezone="Gone/Away")
    Schedule.objects.filter(pk=hourly_two.pk).update(
        next_run_at=NOON + timedelta(hours=1)
    )
    ticks = dispatch_at(NOON + timedelta(hours=1))
    assert [t.schedule_id for t in ticks] == [hourly_two.pk]


# --- Real PostgreSQL: concurrent dispatchers -------------------------------------


def _run_concurrently(count: int, target) -> list[BaseException]:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait(timeout=10)
            target()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_at_once_make_one_tick_and_one_job(require_postgres, sent):
    connection = ConnectionFactory()
    schedule = hourly(None, connection.workspace, connection)
    due = timezone.now() - timedelta(minutes=1)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=due)
    errors = _run_concurrently(2, services.schedule_dispatch)
    assert errors == []
    assert Tick.objects.count() == 1
    assert Tick.objects.get().outcome == Tick.Outcome.QUEUED
    assert SyncJob.objects.filter(trigger="scheduled").count() == 1
    assert sent.call_count == 1


@pytest.mark.django_db(transaction=True)
def test_eight_dispatchers_firing_one_schedule_make_one_job(require_postgres, sent):
    connection = ConnectionFactory()
    schedule = hourly(None, connection.workspace, connection)
    now = timezone.now()
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=now)
    errors = _run_concurrently(
        8, lambda: services.schedule_fire(schedule_id=schedule.pk, now=now)
    )
    assert errors == []
    assert Tick.objects.count() == 1
    assert SyncJob.objects.count() == 1
    assert sent.call_count == 1


@pytest.mark.django_db(transaction=True)
def test_duplicate_tick_is_refused_by_the_database(require_postgres):
    from django.db import IntegrityError

    connection = ConnectionFactory()
    schedule = hourly(None, connection.workspace, connection)
    Tick.objects.create(schedule=schedule, scheduled_for=NOON)
    with pytest.raises(IntegrityError):
        Tick.objects.create(schedule=schedule, scheduled_for=NOON)


@pytest.mark.django_db(transaction=True)
def test_every_five_minutes_with_two_dispatchers_runs_once_per_tick(
    require_postgres, sent
):
    # Half an hour in 30 s beats, two dispatchers at each beat; syncs take ~1 minute.
    connection = ConnectionFactory()
    start = datetime(2026, 1, 10, 12, 0, 10, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as traveller:
        services.schedule_create(
            actor=None,
            workspace=connection.workspace,
            connection=connection,
            name="five",
            kind="cron",
            cron_expression="*/5 * * * *",
        )
        for beat in range(61):
            now = start + timedelta(seconds=30 * beat)
            traveller.move_to(now)
            SyncJob.objects.filter(
                status="pending", created_at__lte=now - timedelta(minutes=1)
            ).update(status="succeeded", finished_at=now)
            assert _run_concurrently(2, services.schedule_dispatch) == []
    ticks = list(Tick.objects.order_by("scheduled_for"))
    assert [f"{t.scheduled_for:%H:%M}" for t in ticks] == [
        "12:05",
        "12:10",
        "12:15",
        "12:20",
        "12:25",
        "12:30",
    ]
    assert {t.outcome for t in ticks} == {Tick.Outcome.QUEUED}
    assert SyncJob.objects.filter(trigger="scheduled").count() == 6
    assert sent.call_count == 6
