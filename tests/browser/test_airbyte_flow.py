"""The connection flow of #5 on a workspace that drives an Airbyte server (the fake).

In a real browser, with a real worker: an admin points the workspace at the server,
tests it, picks its workspace, switches the engine and imports what the server
has; then builds a connection from the imported source and destination, syncs it,
and cancels a second sync, all from the same pages as with the embedded engine.
"""

from __future__ import annotations

import re

import pytest

from apps.connections.models import SyncJob
from apps.core.roles import Role
from tests.airbyte_fake import DEFAULT_WORKSPACE_ID, DUCKDB_DESTINATION_ID
from tests.factories import PASSWORD, MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_switch_to_airbyte_import_build_sync_and_cancel(
    live_server, page, screenshot, worker, airbyte_fake_shared, monkeypatch
):
    from playwright.sync_api import expect

    fake = airbyte_fake_shared
    fake.seed_faker_source(name="Their faker", count=250)
    fake.seed_actor(
        "destination",
        name="Their DuckDB",
        definition_id=DUCKDB_DESTINATION_ID,
        configuration={"destination_path": "/local/theirs.duckdb"},
        workspace_id=DEFAULT_WORKSPACE_ID,
    )
    monkeypatch.setenv("AIRBYTE_POLL_SECONDS", "0.5")
    worker("airbyte-browser")
    user = UserFactory(email="ops@acme.test")
    workspace = WorkspaceFactory(name="Platform")
    MembershipFactory(user=user, workspace=workspace, role=Role.ADMIN)
    base = f"{live_server.url}/w/{workspace.public_id}"
    page.set_default_timeout(30_000)

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email or username").fill("ops@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Platform")).to_be_visible()

    # The Engine page: the server, its test, its workspace, the switch.
    page.goto(base + "/engine/")
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_label("Server URL").fill(fake.url)
    page.get_by_role("textbox", name="Client id").fill(fake.client_id)
    page.get_by_label("Client secret", exact=True).fill(fake.client_secret)
    page.locator("#server-form").get_by_role("button", name="Save").click()
    expect(page.locator("#server-form")).to_contain_text("Stored")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#probe")).to_contain_text(
        "Connected to Airbyte 1.8.0", timeout=30_000
    )
    expect(page.locator("#probe")).to_contain_text("simple")
    page.locator("#id_remote_workspace_id").select_option(label="Default Workspace")
    page.get_by_role("button", name="Use this workspace").click()
    # The chosen workspace (not just the option of the same name in the list).
    expect(page.get_by_test_id("remote-workspace")).to_have_text("Default Workspace")
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_role("radio", name="Airbyte server").check()
    page.get_by_role("button", name="Switch engine").click()
    expect(page.get_by_test_id("current-engine")).to_have_text("Airbyte server")
    screenshot("20-engine-airbyte")
    page.reload()
    page.get_by_role("button", name="Import from Airbyte").click()
    # The import runs on the worker; its part of the page polls for the result.
    expect(page.get_by_test_id("import-result")).to_contain_text(
        "1 new and 0 updated source"
    )

    # The imported source: its streams are discovered on the server.
    nav = page.get_by_role("navigation", name="Workspace")
    nav.get_by_role("link", name="Sources").click()
    page.get_by_role("link", name="Their faker").click()
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_role("button", name="Refresh schema").click()
    expect(page.locator("#streams")).to_contain_text("purchases", timeout=60_000)

    # The connection, from the same page as on the embedded engine.
    nav.get_by_role("link", name="Connections").click()
    page.get_by_role("link", name="New connection").click()
    page.wait_for_function("() => window.htmx !== undefined")
    page.locator("#id_name").fill("Their faker to DuckDB")
    page.locator("#id_source").select_option(
        label=page.locator("#id_source option", has_text="Their faker").inner_text()
    )
    expect(page.locator("#streams")).to_contain_text("users")
    page.locator("#id_destination").select_option(
        label=page.locator(
            "#id_destination option", has_text="Their DuckDB"
        ).inner_text()
    )
    page.get_by_role("button", name="Next: review").click()
    expect(page.get_by_test_id("review")).to_contain_text("users")
    page.get_by_role("button", name="Save connection").click()
    expect(
        page.get_by_role("heading", name=re.compile("Their faker to DuckDB"))
    ).to_be_visible()

    fake.script_next_job(steps=["running", "running", "succeeded"], rows=250)
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#live")).to_contain_text("Succeeded", timeout=90_000)
    job = SyncJob.objects.get(connection__name="Their faker to DuckDB")
    assert job.status == "succeeded" and job.records_committed == 250
    assert job.remote_id and fake.jobs[int(job.remote_id)].status == "succeeded"
    screenshot("21-airbyte-synced")

    # A second sync, cancelled from the page: the cancel reaches the server.
    fake.script_next_job(steps=["running"] * 500)
    page.get_by_role("button", name="Sync now").click()
    # Cancel once the job runs on the server: a job cancelled while still pending
    # never reaches the server (no remote job to cancel), which is not this check.
    expect(page.locator("#live")).to_contain_text("Running", timeout=30_000)
    page.get_by_role("button", name="Cancel sync").click()
    expect(page.locator("#live")).to_contain_text("Cancelled", timeout=60_000)
    latest = SyncJob.objects.filter(connection__name="Their faker to DuckDB").first()
    assert latest.status == "cancelled"
    assert fake.jobs[int(latest.remote_id)].status == "cancelled"
