"""A new user's whole day in a real browser, with a real worker and real faker:
create the source, the destination and the connection, sync, watch, read the log."""

from __future__ import annotations

import re

import pytest

from apps.connections.models import SyncJob
from apps.core.roles import Role
from tests.engines.fixtures import FAKER_ID, definition
from tests.factories import PASSWORD, MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_build_sync_and_inspect_a_connection(
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
    # An earlier transactional test may have flushed the catalog: load it again.
    definition(FAKER_ID)
    user = UserFactory(email="ana@acme.test")
    workspace = WorkspaceFactory(name="Analytics")
    MembershipFactory(user=user, workspace=workspace, role=Role.ADMIN)
    worker("browser")
    base = f"{live_server.url}/w/{workspace.public_id}"
    page.set_default_timeout(30_000)

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email or username").fill("ana@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Analytics")).to_be_visible()

    # The source, from faker's own spec; its test runs on the worker.
    nav = page.get_by_role("navigation", name="Workspace")
    nav.get_by_role("link", name="Sources").click()
    page.get_by_role("link", name="New source").click()
    page.get_by_role("link", name=re.compile("Sample Data")).click()
    page.get_by_label("Name").first.fill("Fake users")
    page.get_by_label("Count").fill("500")
    screenshot("10-source-form")
    page.get_by_role("button", name="Test and create").click()
    expect(page.locator("#check")).to_contain_text("Passed", timeout=90_000)
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_role("button", name="Refresh schema").click()
    expect(page.locator("#streams")).to_contain_text("purchases", timeout=90_000)
    screenshot("11-source")

    # The destination: DuckDB, checked by the worker too.
    nav.get_by_role("link", name="Destinations").click()
    page.get_by_role("link", name="New destination").click()
    page.get_by_role("link", name="DuckDB").click()
    page.get_by_label("Name").first.fill("Local DuckDB")
    page.locator("[name=cfg__destination_path]").fill("analytics.duckdb")
    page.get_by_role("button", name="Test and create").click()
    expect(page.locator("#check")).to_contain_text("Passed", timeout=60_000)

    # The connection: choosing the source loads its streams.
    nav.get_by_role("link", name="Connections").click()
    page.get_by_role("link", name="New connection").click()
    page.wait_for_function("() => window.htmx !== undefined")
    page.locator("#id_name").fill("Faker to DuckDB")
    page.locator("#id_source").select_option(label="Fake users (Sample Data (Faker))")
    expect(page.locator("#streams")).to_contain_text("users")
    page.locator("#id_destination").select_option(label="Local DuckDB (DuckDB)")
    page.locator("#id_namespace").fill("faker")
    page.get_by_role("button", name="Select none").click()
    page.get_by_label("Sync users").check()
    page.get_by_label("Sync mode of users").select_option("incremental:append_dedup")
    screenshot("12-new-connection")
    page.get_by_role("button", name="Next: review").click()
    expect(page.get_by_test_id("review")).to_contain_text("faker.users")
    page.get_by_role("button", name="Save connection").click()
    expect(
        page.get_by_role("heading", name=re.compile("Faker to DuckDB"))
    ).to_be_visible()

    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#live")).to_contain_text("Sync in progress")
    screenshot("13-sync-running")
    expect(page.locator("#live")).to_contain_text("Succeeded", timeout=120_000)
    expect(page.locator("#live")).not_to_contain_text("Sync in progress")
    screenshot("14-connection")
    job = SyncJob.objects.get(connection__name="Faker to DuckDB")
    assert job.status == "succeeded" and job.records_committed == 500

    page.get_by_role("link", name="Log", exact=True).first.click()
    expect(page.locator("pre.log")).to_contain_text("Starting syncing SourceFaker")
    # Wait for htmx itself, then for the filtered fragment it fetches.
    page.wait_for_function("() => window.htmx !== undefined")
    with page.expect_response(lambda r: "level=ERROR" in r.url, timeout=20_000):
        page.get_by_label("Level").select_option("ERROR")
    expect(page.locator("#log-lines")).to_contain_text("No lines match", timeout=15_000)
    screenshot("15-log")

    page.goto(f"{base}/connections/{job.connection.public_id}/jobs/")
    expect(page.locator("#job-results")).to_contain_text("Succeeded")
    page.goto(base + "/")
    expect(page.locator("main")).to_contain_text("Faker to DuckDB")
    screenshot("16-dashboard")
