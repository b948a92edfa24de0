"""Schedule pages: who may do what, the form's preview, pause/resume, delete."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.schedules import services
from apps.schedules.models import Schedule
from tests.factories import ConnectionFactory

NOON = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def url(name: str, workspace, schedule=None) -> str:
    kwargs = {"workspace_id": workspace.public_id}
    if schedule is not None:
        kwargs["schedule_id"] = schedule.public_id
    return reverse(f"schedules:{name}", kwargs=kwargs)


@pytest.fixture
def schedule(editor, workspace, connection):
    with time_machine.travel(NOON, tick=False):
        return services.schedule_create(
            actor=editor,
            workspace=workspace,
            connection=connection,
            name="nightly",
            kind="cron",
            cron_expression="0 2 * * *",
            timezone_name="Europe/Berlin",
        )


def form_data(connection, **overrides) -> dict:
    data = {
        "name": "daily",
        "connection": str(connection.public_id),
        "kind": "cron",
        "cron_expression": "0 0 * * *",
        "interval_minutes": "",
        "timezone": "Europe/Berlin",
    }
    data.update(overrides)
    return data


def test_viewer_sees_the_list_with_next_run_in_the_schedules_zone(
    viewer, login, workspace, schedule
):
    with time_machine.travel(NOON, tick=False):
        page = login(viewer).get(url("list", workspace))
    assert page.status_code == 200
    html = page.content.decode()
    assert "nightly" in html and "Faker to warehouse" in html
    # 02:00 in Berlin, shown in Berlin time with its zone abbreviation.
    assert "Sun 2026-01-11 02:00 CET" in html
    assert "New schedule" not in html  # viewers cannot create


def test_list_search_as_htmx_returns_only_rows(
    viewer, login, workspace, schedule, htmx_headers
):
    page = login(viewer).get(
        url("list", workspace), {"q": "night"}, headers=htmx_headers
    )
    html = page.content.decode()
    assert page.status_code == 200 and "<html" not in html
    assert 'id="schedule-rows"' in html and "nightly" in html


def test_list_queries_do_not_grow_with_schedules(
    viewer, login, workspace, editor, django_assert_max_num_queries
):

    for n in range(6):
        services.schedule_create(
            actor=editor,
            workspace=workspace,
            connection=ConnectionFactory(workspace=workspace),
            name=f"s{n}",
            kind="interval",
            interval_minutes=60,
        )
    client = login(viewer)
    with django_assert_max_num_queries(12):
        assert client.get(url("list", workspace)).status_code == 200


def test_outsider_gets_404_everywhere(outsider, login, workspace, schedule):
    client = login(outsider)
    assert client.get(url("list", workspace)).status_code == 404
    assert client.get(url("detail", workspace, schedule)).status_code == 404
    assert client.get(url("create", workspace)).status_code == 404
    assert client.post(url("pause", workspace, schedule)).status_code == 404
    assert client.post(url("delete", workspace, schedule)).status_code == 404
    schedule.refresh_from_db()
    assert not schedule.paused


def test_viewer_cannot_change_schedules(viewer, login, workspace, schedule, connection):
    client = login(viewer)
    assert client.get(url("create", workspace)).status_code == 403
    assert (
        client.post(url("create", workspace), form_data(connection)).status_code == 403
    )
    assert client.post(url("edit", workspace, schedule)).status_code == 403
    assert client.post(url("pause", workspace, schedule)).status_code == 403
    assert client.post(url("delete", workspace, schedule)).status_code == 403
    assert client.get(url("preview", workspace)).status_code == 403
    schedule.refresh_from_db()
    assert not schedule.paused


def test_runner_cannot_pause_a_schedule(runner, login, workspace, schedule):
    assert login(runner).post(url("pause", workspace, schedule)).status_code == 403


def test_editor_creates_a_schedule(editor, login, workspace, connection):
    client = login(editor)
    response = client.post(url("create", workspace), form_data(connection))
    created = Schedule.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("detail", workspace, created)
    assert created.connection == connection
    assert created.timezone == "Europe/Berlin"
    assert created.next_run_at is not None
    assert AuditEvent.objects.filter(
        action="schedule.created", actor=editor, target_id=str(created.public_id)
    ).exists()


def test_editor_creates_an_interval_schedule_typed_as_6h(
    editor, login, workspace, connection
):
    data = form_data(connection, kind="interval", interval_minutes="6h")
    login(editor).post(url("create", workspace), data)
    assert Schedule.objects.get().interval_minutes == 360


def test_create_form_shows_the_next_five_runs_in_the_chosen_zone(
    editor, login, workspace
):
    with time_machine.travel(NOON, tick=False):
        page = login(editor).get(url("create", workspace))
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count("<li><time") == 5
    # The default zone (UTC) and cron: midnight UTC.
    assert "Sun 2026-01-11 00:00 UTC" in html


def test_preview_follows_what_is_typed_in_its_zone(
    editor, login, workspace, htmx_headers
):
    with time_machine.travel(NOON, tick=False):
        page = login(editor).get(
            url("preview", workspace),
            {
                "kind": "cron",
                "cron_expression": "30 8 * * 1-5",
                "timezone": "America/New_York",
            },
            headers=htmx_headers,
        )
    html = page.content.decode()
    assert page.status_code == 200 and "<html" not in html
    assert 'id="schedule-preview"' in html
    assert html.count("<li><time") == 5
    # Saturday noon UTC: the next weekday 08:30 in New York is Monday, EST.
    assert "Mon 2026-01-12 08:30 EST" in html
    assert "Fri 2026-01-16 08:30 EST" in html


def test_preview_explains_an_invalid_expression(editor, login, workspace, htmx_headers):
    page = login(editor).get(
        url("preview", workspace),
        {"kind": "cron", "cron_expression": "0 0 * * 9", "timezone": "UTC"},
        headers=htmx_headers,
    )
    html = page.content.decode()
    assert "day of week field “9” is not valid" in html
    assert "<li><time" not in html


def test_preview_refuses_a_too_frequent_schedule(
    editor, login, workspace, htmx_headers, settings
):
    settings.SCHEDULE_MIN_INTERVAL_MINUTES = 5
    page = login(editor).get(
        url("preview", workspace),
        {"kind": "interval", "interval_minutes": "2m", "timezone": "UTC"},
        headers=htmx_headers,
    )
    assert "at most every 5 minutes" in page.content.decode()


def test_invalid_post_rerenders_the_form_with_what_was_typed(
    editor, login, workspace, connection, htmx_headers, settings
):
    settings.SCHEDULE_MIN_INTERVAL_MINUTES = 5
    response = login(editor).post(
        url("create", workspace),
        form_data(connection, cron_expression="* * * * *"),
        headers=htmx_headers,
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "<html" not in html
    assert "at most every 5 minutes" in html
    assert 'value="* * * * *"' in html
    assert not Schedule.objects.exists()


def test_editor_edits_a_schedule(editor, login, workspace, schedule, connection):
    data = form_data(connection, name="nightly", cron_expression="0 3 * * *")
    response = login(editor).post(url("edit", workspace, schedule), data)
    assert response.status_code == 302
    schedule.refresh_from_db()
    assert schedule.cron_expression == "0 3 * * *"
    assert AuditEvent.objects.filter(action="schedule.updated").count() == 1


def test_edit_form_starts_with_the_stored_values(editor, login, workspace, schedule):
    html = login(editor).get(url("edit", workspace, schedule)).content.decode()
    assert 'value="0 2 * * *"' in html
    assert '<option value="Europe/Berlin" selected>' in html


def test_pause_and_resume_from_the_list_with_htmx(
    editor, login, workspace, schedule, htmx_headers
):
    client = login(editor)
    paused = client.post(url("pause", workspace, schedule), headers=htmx_headers)
    html = paused.content.decode()
    assert paused.status_code == 200 and "<html" not in html
    assert "Resume" in html
    schedule.refresh_from_db()
    assert schedule.paused and schedule.next_run_at is None
    resumed = client.post(url("resume", workspace, schedule), headers=htmx_headers)
    assert "Pause" in resumed.content.decode()
    schedule.refresh_from_db()
    assert not schedule.paused and schedule.next_run_at is not None
    assert (
        AuditEvent.objects.filter(action="schedule.paused", actor=editor).count() == 1
    )
    assert (
        AuditEvent.objects.filter(action="schedule.resumed", actor=editor).count() == 1
    )


def test_pause_without_javascript_redirects_to_the_schedule(
    editor, login, workspace, schedule
):
    response = login(editor).post(url("pause", workspace, schedule))
    assert response.status_code == 302
    assert response["Location"] == url("detail", workspace, schedule)


def test_detail_shows_ticks_and_next_runs(viewer, login, workspace, schedule):
    from apps.schedules.models import Tick

    Tick.objects.create(
        schedule=schedule,
        scheduled_for=NOON,
        outcome=Tick.Outcome.SKIPPED_INACTIVE,
        message="The connection is paused: resume it before syncing.",
    )
    html = login(viewer).get(url("detail", workspace, schedule)).content.decode()
    assert "Skipped: connection not active" in html
    assert "resume it before syncing" in html
    assert "2026-01-10 13:00 CET" in html  # the tick's due time, in Berlin
    assert html.count("<li><time") == 5


def test_delete_asks_first_then_deletes(editor, login, workspace, schedule):
    client = login(editor)
    confirm = client.get(url("delete", workspace, schedule))
    assert (
        confirm.status_code == 200 and "Delete “nightly”?" in confirm.content.decode()
    )
    assert Schedule.objects.exists()
    response = client.post(url("delete", workspace, schedule))
    assert response.status_code == 302
    assert not Schedule.objects.exists()
    assert AuditEvent.objects.filter(action="schedule.deleted", actor=editor).exists()


def test_delete_from_the_list_with_htmx_returns_rows(
    editor, login, workspace, schedule, htmx_headers
):
    response = login(editor).post(
        url("delete", workspace, schedule), headers=htmx_headers
    )
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "No schedules yet" in html


def test_next_run_tag_for_the_connection_page(workspace, schedule, connection):
    from django.template import Context, Template

    rendered = Template(
        "{% load schedules %}{% next_run_for connection as next_run %}"
        "{% if next_run %}{{ next_run|date:'c' }}{% else %}manual{% endif %}"
    ).render(Context({"connection": connection}))
    assert rendered == "2026-01-11T01:00:00+00:00"  # 02:00 in Berlin
    schedule.delete()
    assert "manual" in Template(
        "{% load schedules %}{% next_run_for connection as next_run %}"
        "{% if next_run %}{{ next_run }}{% else %}manual{% endif %}"
    ).render(Context({"connection": connection}))


def test_new_schedule_can_start_from_a_connection(editor, login, workspace, connection):
    page = login(editor).get(
        url("create", workspace), {"connection": str(connection.public_id)}
    )
    assert f'<option value="{connection.public_id}" selected>' in page.content.decode()


@pytest.mark.parametrize("every", ["3000000d", "8761h"])
def test_a_huge_interval_rerenders_the_form_with_the_limit(
    editor, login, workspace, connection, htmx_headers, every
):
    response = login(editor).post(
        url("create", workspace),
        form_data(connection, kind="interval", interval_minutes=every),
        headers=htmx_headers,
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "too long: a schedule must run at least once every 365 days" in html
    assert not Schedule.objects.exists()


def test_preview_of_a_huge_interval_says_the_limit(
    editor, login, workspace, htmx_headers
):
    page = login(editor).get(
        url("preview", workspace),
        {"kind": "interval", "interval_minutes": "3000000d", "timezone": "UTC"},
        headers=htmx_headers,
    )
    assert page.status_code == 200
    assert "at least once every 365 days" in page.content.decode()


def test_every_problem_of_the_form_shows_at_once(
    editor, login, workspace, connection, htmx_headers
):
    response = login(editor).post(
        url("create", workspace),
        form_data(connection, name="", cron_expression="0 0 * * 9"),
        headers=htmx_headers,
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "This field is required." in html
    assert "day of week field “9” is not valid" in html
    assert "cronsim" not in html


def test_a_taken_name_shows_with_the_timing_problem(
    editor, login, workspace, connection, schedule, htmx_headers
):
    other = ConnectionFactory(workspace=workspace, name="Other")
    response = login(editor).post(
        url("create", workspace),
        form_data(other, name=schedule.name.upper(), cron_expression="61 * * * *"),
        headers=htmx_headers,
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert "already exists" in html
    assert "minutes go from 0 to 59" in html


def test_the_preview_clears_a_fixed_fields_error_beside_it(
    editor, login, workspace, htmx_headers
):
    client = login(editor)
    bad = client.get(
        url("preview", workspace),
        {"kind": "cron", "cron_expression": "0 25 * * *", "timezone": "UTC"},
        headers=htmx_headers,
    ).content.decode()
    fixed = client.get(
        url("preview", workspace),
        {"kind": "cron", "cron_expression": "0 3 * * *", "timezone": "UTC"},
        headers=htmx_headers,
    ).content.decode()
    beside = (
        r'<div class="field-errors" id="errors-cron_expression" hx-swap-oob="true">'
    )
    assert beside + '<small class="error" role="alert">The hour field' in bad
    assert beside + "</div>" in fixed
