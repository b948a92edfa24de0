"""The schedule form in Chromium: the preview follows what is typed, then save."""

from __future__ import annotations

import pytest

from apps.core.roles import Role
from apps.schedules.models import Schedule
from tests.factories import (
    PASSWORD,
    ConnectionFactory,
    MembershipFactory,
    UserFactory,
    WorkspaceFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def sent():
    """The form saves a schedule; nothing is sent to a broker."""
    from unittest import mock

    with mock.patch("apps.connections.tasks.sync_job_task.apply_async") as send:
        yield send


def test_preview_updates_as_you_type_and_the_schedule_saves(live_server, page):
    from playwright.sync_api import expect

    user = UserFactory(email="ana@acme.test")
    workspace = WorkspaceFactory(name="Analytics")
    MembershipFactory(user=user, workspace=workspace, role=Role.EDITOR)
    ConnectionFactory(workspace=workspace, name="Faker to DuckDB")

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email or username").fill("ana@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server.url}/w/{workspace.public_id}/schedules/new/")

    preview = page.locator("#schedule-preview")
    expect(preview.locator("li")).to_have_count(5)
    page.get_by_label("Name").fill("weekday mornings")
    page.get_by_label("Connection").select_option(label="Faker to DuckDB")
    page.get_by_label("Time zone").select_option("Europe/Berlin")
    cron = page.get_by_label("Cron expression")
    # Only the chosen kind's timing field shows.
    expect(page.get_by_label("Every")).to_be_hidden()
    page.get_by_role("radio", name="Interval").check()
    expect(page.get_by_label("Every")).to_be_visible()
    expect(cron).to_be_hidden()
    page.get_by_role("radio", name="Cron").check()
    expect(cron).to_be_visible()
    # The error shows beside the field as it is typed, and goes once it is fixed.
    cron.fill("0 25 * * *")
    cron_errors = page.locator("#errors-cron_expression")
    expect(cron_errors).to_contain_text("hour field “25” is not valid")
    expect(cron_errors).not_to_contain_text("cronsim")
    expect(preview).to_contain_text("Fix the timing above")
    cron.fill("30 7 * * 1-5")
    expect(cron_errors).to_be_empty()
    expect(preview.locator("li")).to_have_count(5)
    expect(preview).to_contain_text("07:30 CET")
    expect(preview).to_contain_text("Europe/Berlin")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.get_by_role("heading", name="weekday mornings")).to_be_visible()
    saved = Schedule.objects.get()
    assert saved.cron_expression == "30 7 * * 1-5"
    assert saved.timezone == "Europe/Berlin"
