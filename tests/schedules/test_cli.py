"""`airbyte schedule ...`: create by cron or interval, list, pause, resume, remove."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.schedules.models import Schedule

NOON = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def airbyte(capsys, *args: str) -> str:
    call_command("airbyte", *args)
    return capsys.readouterr().out


@pytest.fixture
def as_editor(editor, workspace):
    return ["--as", editor.email, "--workspace", str(workspace.public_id)]


@time_machine.travel(NOON, tick=False)
def test_create_with_cron_in_a_zone(capsys, as_editor, connection):
    out = airbyte(
        capsys,
        "schedule",
        "create",
        "--name",
        "daily",
        "--connection-id",
        str(connection.public_id),
        "--cron",
        "0 0 * * *",
        "--timezone",
        "Europe/Berlin",
        "--json",
        *as_editor,
    )
    row = json.loads(out)
    assert row["name"] == "daily" and row["cron"] == "0 0 * * *"
    assert row["next_run"] == "2026-01-11T00:00:00+01:00"
    created = Schedule.objects.get()
    assert created.connection == connection and created.timezone == "Europe/Berlin"
    event = AuditEvent.objects.get(action="schedule.created")
    assert event.user_agent == "airbyte-cli"


def test_create_with_every_6h_by_connection_name(capsys, as_editor, connection):
    out = airbyte(
        capsys,
        "schedule",
        "create",
        "--name",
        "six-hourly",
        "--connection-id",
        "faker to warehouse",
        "--every",
        "6h",
        *as_editor,
    )
    assert "Created schedule six-hourly: every 6h after the last sync" in out
    assert Schedule.objects.get().interval_minutes == 360


def test_create_needs_exactly_one_timing(as_editor, connection):
    with pytest.raises(CommandError, match="exactly one of --cron"):
        call_command(
            "airbyte",
            "schedule",
            "create",
            "--name",
            "x",
            "--connection-id",
            str(connection.public_id),
            *as_editor,
        )


def test_too_frequent_schedule_is_refused_with_the_reason(
    as_editor, connection, settings
):
    settings.SCHEDULE_MIN_INTERVAL_MINUTES = 5
    with pytest.raises(CommandError, match="at most every 5 minutes"):
        call_command(
            "airbyte",
            "schedule",
            "create",
            "--name",
            "x",
            "--connection-id",
            str(connection.public_id),
            "--every",
            "1m",
            *as_editor,
        )
    with pytest.raises(CommandError, match="hour field “24” is not valid"):
        call_command(
            "airbyte",
            "schedule",
            "create",
            "--name",
            "x",
            "--connection-id",
            str(connection.public_id),
            "--cron",
            "0 24 * * *",
            *as_editor,
        )
    assert not Schedule.objects.exists()


def test_list_pause_resume_remove(capsys, as_editor, connection):
    airbyte(
        capsys,
        "schedule",
        "create",
        "--name",
        "daily",
        "--connection-id",
        str(connection.public_id),
        "--cron",
        "0 0 * * *",
        *as_editor,
    )
    listing = airbyte(capsys, "schedule", "list", *as_editor)
    assert "daily" in listing and "0 0 * * *" in listing and "active" in listing
    assert "Paused schedule daily" in airbyte(
        capsys, "schedule", "pause", "daily", *as_editor
    )
    rows = json.loads(airbyte(capsys, "schedule", "list", "--json", *as_editor))
    assert rows[0]["paused"] is True and rows[0]["next_run"] is None
    assert "Resumed schedule daily" in airbyte(
        capsys, "schedule", "resume", "DAILY", *as_editor
    )
    assert Schedule.objects.get().paused is False
    removed = json.loads(
        airbyte(capsys, "schedule", "remove", "daily", "--json", *as_editor)
    )
    assert removed["removed"] is True
    assert not Schedule.objects.exists()


def test_viewer_cannot_create_schedules(viewer, workspace, connection):
    with pytest.raises(CommandError, match="needs the editor role"):
        call_command(
            "airbyte",
            "schedule",
            "create",
            "--name",
            "x",
            "--connection-id",
            str(connection.public_id),
            "--cron",
            "0 0 * * *",
            "--as",
            viewer.email,
            "--workspace",
            str(workspace.public_id),
        )


def test_unknown_schedule_says_how_to_find_one(as_editor):
    with pytest.raises(CommandError, match="`airbyte schedule list` shows them"):
        call_command("airbyte", "schedule", "pause", "nope", *as_editor)


@pytest.mark.parametrize("every", ["3000000d", "366d", "9" * 5000 + "m"])
def test_a_huge_interval_is_one_clear_error_not_a_traceback(
    as_editor, connection, every
):
    with pytest.raises(CommandError, match="too long: a schedule must run at least"):
        call_command(
            "airbyte",
            "schedule",
            "create",
            "--name",
            "x",
            "--connection-id",
            str(connection.public_id),
            "--every",
            every,
            *as_editor,
        )
    assert not Schedule.objects.exists()


def test_an_interval_of_a_year_is_accepted(capsys, as_editor, connection):
    airbyte(
        capsys,
        "schedule",
        "create",
        "--name",
        "yearly",
        "--connection-id",
        str(connection.public_id),
        "--every",
        "365d",
        *as_editor,
    )
    assert Schedule.objects.get().interval_minutes == 365 * 1440
