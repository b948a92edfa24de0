"""Creating, changing, pausing and deleting schedules, each with its audit row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError

from apps.audit.models import AuditEvent
from apps.connections.models import SyncJob
from apps.schedules import selectors, services
from apps.schedules.models import Schedule, Tick
from tests.factories import ConnectionFactory

NOON = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def make(actor, workspace, connection, **kwargs) -> Schedule:
    options = {"name": "daily", "kind": "cron", "cron_expression": "0 0 * * *"}
    options.update(kwargs)
    return services.schedule_create(
        actor=actor, workspace=workspace, connection=connection, **options
    )


@time_machine.travel(NOON, tick=False)
def test_create_cron_schedule_stores_next_run_in_its_zone(
    editor, workspace, connection
):
    schedule = make(editor, workspace, connection, timezone_name="Europe/Berlin")
    # Midnight in Berlin in January is 23:00 UTC.
    assert schedule.next_run_at == datetime(2026, 1, 10, 23, 0, tzinfo=UTC)
    assert schedule.created_by == editor
    event = AuditEvent.objects.get(action="schedule.created")
    assert event.changes["cron_expression"] == [None, "0 0 * * *"]
    assert event.changes["connection"] == [None, "Faker to warehouse"]


@time_machine.travel(NOON, tick=False)
def test_interval_without_any_sync_counts_from_now(editor, workspace, connection):
    schedule = make(
        editor, workspace, connection, kind="interval", interval_minutes=360
    )
    assert schedule.next_run_at == NOON + timedelta(hours=6)
    assert schedule.cron_expression == ""


@time_machine.travel(NOON, tick=False)
def test_interval_counts_from_the_end_of_the_last_sync(editor, workspace, connection):
    SyncJob.objects.create(
        connection=connection,
        trigger="manual",
        status="succeeded",
        finished_at=NOON - timedelta(hours=2),
    )
    schedule = make(
        editor, workspace, connection, kind="interval", interval_minutes=360
    )
    assert schedule.next_run_at == NOON + timedelta(hours=4)
    assert selectors.next_run_for(connection) == NOON + timedelta(hours=4)


def test_too_frequent_interval_is_refused_saying_the_minimum(
    editor, workspace, connection, settings
):
    settings.SCHEDULE_MIN_INTERVAL_MINUTES = 5
    with pytest.raises(ValidationError) as caught:
        make(editor, workspace, connection, kind="interval", interval_minutes=2)
    assert "at most every 5 minutes" in caught.value.message_dict["interval_minutes"][0]
    assert not Schedule.objects.exists()


def test_too_frequent_cron_is_refused(editor, workspace, connection, settings):
    settings.SCHEDULE_MIN_INTERVAL_MINUTES = 10
    with pytest.raises(ValidationError) as caught:
        make(editor, workspace, connection, cron_expression="*/5 * * * *")
    assert "at most every 10 minutes" in caught.value.message_dict["cron_expression"][0]


def test_invalid_cron_is_refused_in_words(editor, workspace, connection):
    with pytest.raises(ValidationError) as caught:
        make(editor, workspace, connection, cron_expression="0 25 * * *")
    assert "hour field “25” is not valid" in str(caught.value)


def test_unknown_zone_is_refused(editor, workspace, connection):
    with pytest.raises(ValidationError, match="not an IANA time zone"):
        make(editor, workspace, connection, timezone_name="Europe/Atlantis")


def test_names_are_unique_in_a_workspace_whatever_the_case(
    editor, workspace, connection
):
    make(editor, workspace, connection)
    other = ConnectionFactory(workspace=workspace)
    with pytest.raises(ValidationError, match="already exists"):
        make(editor, workspace, other, name="DAILY")


def test_one_schedule_per_connection(editor, workspace, connection):
    make(editor, workspace, connection)
    with pytest.raises(ValidationError, match="already has the schedule “daily”"):
        make(editor, workspace, connection, name="nightly")


def test_connection_of_another_workspace_is_refused(editor, workspace):
    foreign = ConnectionFactory()
    with pytest.raises(ValidationError, match="this workspace"):
        make(editor, workspace, foreign)


@time_machine.travel(NOON, tick=False)
def test_update_recomputes_the_next_run_and_audits_the_change(
    editor, workspace, connection
):
    schedule = make(editor, workspace, connection)
    services.schedule_update(
        actor=editor,
        schedule=schedule,
        name="daily",
        kind="cron",
        cron_expression="0 18 * * *",
        timezone_name="UTC",
    )
    schedule.refresh_from_db()
    assert schedule.next_run_at == datetime(2026, 1, 10, 18, 0, tzinfo=UTC)
    event = AuditEvent.objects.get(action="schedule.updated")
    assert event.changes == {"cron_expression": ["0 0 * * *", "0 18 * * *"]}


def test_pause_clears_the_next_run_and_resume_starts_from_now(
    editor, workspace, connection
):
    with time_machine.travel(NOON, tick=False):
        schedule = make(editor, workspace, connection, cron_expression="0 * * * *")
        services.schedule_pause(actor=editor, schedule=schedule)
    schedule.refresh_from_db()
    assert schedule.paused and schedule.next_run_at is None
    assert selectors.next_run_for(connection) is None
    # Resumed two days later: the next run is the next hour, not a missed one.
    with time_machine.travel(NOON + timedelta(days=2, minutes=10), tick=False):
        services.schedule_resume(actor=editor, schedule=schedule)
    schedule.refresh_from_db()
    assert not schedule.paused
    assert schedule.next_run_at == NOON + timedelta(days=2, hours=1)
    actions = list(
        AuditEvent.objects.filter(action__startswith="schedule.").values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == [
        "schedule.created",
        "schedule.paused",
        "schedule.resumed",
    ]


def test_pausing_drops_a_waiting_run(editor, workspace, connection):
    schedule = make(editor, workspace, connection)
    tick = Tick.objects.create(schedule=schedule, scheduled_for=NOON)
    services.schedule_pause(actor=editor, schedule=schedule)
    tick.refresh_from_db()
    assert tick.outcome == Tick.Outcome.SKIPPED_PAUSED


def test_delete_removes_the_schedule_and_keeps_the_connection(
    editor, workspace, connection
):
    schedule = make(editor, workspace, connection)
    services.schedule_delete(actor=editor, schedule=schedule)
    assert not Schedule.objects.exists()
    connection.refresh_from_db()
    event = AuditEvent.objects.get(action="schedule.deleted")
    assert event.changes["name"] == ["daily", None]


def test_manual_schedule_has_no_next_run(editor, workspace, connection):
    schedule = make(editor, workspace, connection, kind="manual", cron_expression="")
    assert schedule.next_run_at is None
    assert selectors.next_run_for(connection) is None


def test_next_run_for_a_connection_without_schedule_is_none(connection):
    assert selectors.next_run_for(connection) is None
