"""A sync waiting to retry, in a real browser with a real worker: the connection
page says which attempt failed and when the next one runs, and Retry now runs it
at once (#18 item 6)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connections import services
from apps.connections.models import SyncAttempt, SyncJob
from apps.connectors.models import Destination, Source
from apps.core.roles import Role
from tests.browser.conftest import SCREENSHOTS
from tests.engines.fixtures import DUCKDB_ID, FAKER_ID, definition
from tests.factories import (
    PASSWORD,
    ConnectionFactory,
    MembershipFactory,
    UserFactory,
    WorkspaceFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_retry_now_runs_the_waiting_attempt(
    live_server,
    page,
    screenshot,
    worker,
    settings,
    tmp_path,
    real_connectors,
    faker_installed,
):
    from playwright.sync_api import expect

    settings.DUCKDB_DIR = tmp_path
    user = UserFactory(email="ana@acme.test")
    workspace = WorkspaceFactory(name="Analytics")
    MembershipFactory(user=user, workspace=workspace, role=Role.RUNNER)
    source = Source.objects.create(
        workspace=workspace,
        name="Fake users",
        definition=definition(FAKER_ID),
        config={"count": 50, "seed": 1, "records_per_slice": 50, "parallelism": 1},
    )
    from apps.connectors.services import source_discover_run

    source_discover_run(pk=source.pk)
    source.refresh_from_db()
    destination = Destination.objects.create(
        workspace=workspace,
        name="Local DuckDB",
        definition=definition(DUCKDB_ID),
        config={"destination_path": "analytics.duckdb"},
    )
    connection = services.connection_create(
        actor=user,
        workspace=workspace,
        name="Faker to DuckDB",
        source=source,
        destination=destination,
        streams=[
            {
                "name": "users",
                "namespace": "",
                "selected": True,
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
        ],
        namespace="faker",
    )
    # The first attempt failed (the API refused it) and the next waits 10 minutes:
    # no reaper runs here, so only Retry now can start it before then.
    job = SyncJob.objects.create(
        public_id=uuid.uuid4(),
        connection=connection,
        trigger="manual",
        status="incomplete",
        attempt_count=1,
        started_at=timezone.now() - timedelta(minutes=1),
        next_attempt_at=timezone.now() + timedelta(minutes=10),
        failure_type="transient_error",
        failure_origin="source",
        failure_message="HTTP 503 from the API.",
    )
    SyncAttempt.objects.create(
        job=job,
        number=1,
        status="failed",
        failure_type="transient_error",
        failure_message="HTTP 503 from the API.",
    )
    worker("browser")
    page.set_default_timeout(30_000)

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email or username").fill("ana@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(
        f"{live_server.url}/w/{workspace.public_id}/connections/{connection.public_id}/"
    )
    live = page.locator("#live")
    expect(live).to_contain_text("Attempt 1 failed: HTTP 503 from the API.")
    expect(live).to_contain_text("(2 of 5)")
    expect(live).not_to_contain_text("Starting the source")
    screenshot("50-retry-wait")

    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_role("button", name="Retry now").click()
    expect(live).to_contain_text("Succeeded", timeout=120_000)
    expect(live).not_to_contain_text("Waiting to retry")
    screenshot("51-retry-now-succeeded")
    job.refresh_from_db()
    assert job.status == "succeeded" and job.attempt_count == 2
    assert job.records_committed == 50
    page.goto(
        f"{live_server.url}/w/{workspace.public_id}/connections/jobs/{job.public_id}/"
    )
    expect(page.locator("#job-live")).to_contain_text("Succeeded")

    # The workspace's timeline lists it with its connection, from the side menu.
    page.get_by_role("navigation", name="Workspace").get_by_role(
        "link", name="Jobs"
    ).click()
    timeline = page.get_by_test_id("job-timeline")
    expect(timeline).to_contain_text("Faker to DuckDB")
    expect(timeline).to_contain_text("Succeeded")
    screenshot("52-job-timeline")

    # Its log ends with the engine's summary.
    timeline.get_by_role("link", name="Log").first.click()
    log = page.locator("pre.log")
    expect(log).to_contain_text("Sync summary: attempt 2 succeeded")
    expect(log).to_contain_text("users: 50 records")
    screenshot("54-log-summary")


def test_times_follow_the_browsers_zone_then_the_profile(live_server, browser):
    """console.js tells the server the browser's zone; the profile overrides it."""
    from playwright.sync_api import expect

    user = UserFactory(email="ana@acme.test")
    workspace = WorkspaceFactory(name="Analytics")
    MembershipFactory(user=user, workspace=workspace, role=Role.VIEWER)
    connection = ConnectionFactory(workspace=workspace, name="Orders")
    job = SyncJob.objects.create(
        public_id=uuid.uuid4(),
        connection=connection,
        trigger="manual",
        status="succeeded",
        started_at=timezone.now() - timedelta(minutes=3),
        finished_at=timezone.now() - timedelta(minutes=2),
    )
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, timezone_id="Europe/Paris"
    )
    page = context.new_page()
    try:
        page.goto(live_server.url + "/accounts/login/")
        page.get_by_label("Email or username").fill("ana@acme.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        base = f"{live_server.url}/w/{workspace.public_id}"
        job_url = f"{base}/connections/jobs/{job.public_id}/"
        page.goto(job_url)
        expect(page.locator("#job-live")).to_contain_text(" CET")
        page.locator(".user-menu summary").click()
        page.get_by_role("menuitem", name="Profile").click()
        expect(page.get_by_label("Time zone")).to_contain_text(
            "Your browser's zone (now Europe/Paris)"
        )
        page.get_by_label("Time zone").select_option("America/Chicago")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("main")).to_contain_text(
            "Times now show in America/Chicago"
        )
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "53-profile-time-zone.png"))
        page.goto(job_url)
        expect(page.locator("#job-live")).to_contain_text(" CST")
    finally:
        context.close()
