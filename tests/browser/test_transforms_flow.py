"""Transforms in a real browser, with a real worker, real faker and real dbt.

A user opens their connection, presses one button to generate its dbt project,
syncs, and sees the staging model built and tested after the sync; then builds
by hand and finds the models with their status and the lineage drawing, whose
boxes lead to each model's page, where a preview shows 20 rows.
"""

from __future__ import annotations

import re

import pytest

from apps.connections import services as connection_services
from apps.connectors.models import Destination
from apps.core.roles import Role
from apps.transforms.models import DbtProject, TransformRun
from tests.connections.conftest import faker_source  # noqa: F401 - fixture
from tests.engines.fixtures import DUCKDB_ID, FAKER_ID, definition
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.transforms.conftest import TEST_DBT_DIR, dbt_ready  # noqa: F401 - fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_generate_sync_build_and_read_the_lineage(
    live_server,
    page,
    screenshot,
    worker,
    settings,
    tmp_path,
    monkeypatch,
    workspace,
    dbt_ready,  # noqa: F811
    faker_source,  # noqa: F811
):
    from playwright.sync_api import expect

    # The worker process finds dbt where the suite installed it.
    monkeypatch.setenv("DBT_DIR", str(TEST_DBT_DIR))
    settings.DBT_DIR = TEST_DBT_DIR
    settings.DUCKDB_DIR = tmp_path
    definition(FAKER_ID)  # an earlier transactional test may have flushed it
    user = UserFactory(email="ana@acme.test")
    MembershipFactory(user=user, workspace=workspace, role=Role.ADMIN)
    destination = Destination.objects.create(
        workspace=workspace,
        name="Local DuckDB",
        definition=definition(DUCKDB_ID),
        config={"destination_path": "warehouse.duckdb"},
    )
    connection = connection_services.connection_create(
        actor=user,
        workspace=workspace,
        name="Faker users",
        source=faker_source(count=300),
        destination=destination,
        streams=[
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
            }
        ],
        namespace="faker",
    )
    worker("transforms")
    # The console's pages keep its Content-Security-Policy: nothing they need is
    # blocked (dbt's docs run in their own sandboxed frame with their own policy).
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    base = f"{live_server.url}/w/{workspace.public_id}"
    page.set_default_timeout(30_000)

    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email or username").fill("ana@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{base}/connections/{connection.public_id}/")

    # One button: the project is generated and a worker parses it.
    transforms = page.get_by_test_id("connection-transforms")
    expect(transforms).to_contain_text("No dbt project runs after")
    transforms.get_by_role("button", name="Generate a dbt project").click()
    expect(page.get_by_role("heading", name="Faker users")).to_be_visible()
    models = page.get_by_test_id("models")
    expect(models).to_contain_text("stg_users", timeout=120_000)
    expect(models).to_contain_text("not run yet")
    screenshot("30-transforms-generated")
    project = DbtProject.objects.get(connection=connection)

    # A sync: the project builds after it, and the job page says so.
    page.goto(f"{base}/connections/{connection.public_id}/")
    expect(page.get_by_test_id("connection-transforms")).to_contain_text(project.name)
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_role("button", name="Sync now").click()
    expect(page.locator("#live")).to_contain_text("Succeeded", timeout=120_000)
    job = connection.jobs.get()
    page.goto(f"{base}/connections/jobs/{job.public_id}/")
    then = page.get_by_test_id("job-transforms")
    expect(then).to_contain_text("transform run #2", timeout=30_000)
    then.get_by_role("link", name="transform run #2").click()
    expect(page.get_by_test_id("run-status")).to_have_text("Succeeded", timeout=120_000)
    expect(page.get_by_test_id("nodes")).to_contain_text("stg_users")
    expect(page.get_by_test_id("log")).to_contain_text("Completed successfully")
    screenshot("31-transforms-run-after-sync")
    after_sync = project.runs.get(number=2)
    assert (after_sync.trigger, after_sync.sync_job_id) == ("sync", job.pk)

    # Build by hand from the project page; the page follows the run.
    page.goto(f"{base}/transforms/{project.public_id}/")
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_role("button", name="Build", exact=True).click()
    expect(page.get_by_test_id("active-run")).to_contain_text("Run #3")
    expect(page.get_by_test_id("active-run")).to_have_count(0, timeout=120_000)
    run = project.runs.get(number=3)
    assert run.status == TransformRun.Status.SUCCEEDED, run.failure_message
    row = page.locator("tr[data-model=stg_users]")
    expect(row).to_contain_text("success")
    expect(row).to_contain_text("passed")
    expect(row).to_contain_text("run #3")
    project.refresh_from_db()
    drawn = [
        n
        for n in project.graph["nodes"]
        if n["resource_type"] in ("source", "model", "test", "seed", "snapshot")
    ]
    lineage = page.get_by_test_id("lineage")
    expect(lineage.locator("a.lineage-node")).to_have_count(len(drawn))
    assert {n["resource_type"] for n in drawn} >= {"source", "model", "test"}
    screenshot("32-transforms-project")

    # A box of the drawing is a link to its model's page; preview 20 rows there.
    model = next(n for n in drawn if n["name"] == "stg_users")
    lineage.locator(f"a[data-node='{model['unique_id']}']").click()
    expect(page.get_by_role("heading", name=re.compile("stg_users"))).to_be_visible()
    expect(page.get_by_test_id("sql")).to_contain_text("source(")
    page.get_by_role("button", name="Preview 20 rows").click()
    preview = page.get_by_test_id("preview")
    expect(preview).to_be_visible(timeout=60_000)
    expect(preview.locator("tbody tr")).to_have_count(20)
    screenshot("33-transforms-preview")

    # The docs dbt generates, inside the console, sandboxed.
    page.goto(f"{base}/transforms/{project.public_id}/docs/")
    expect(page.locator("main")).to_contain_text("No docs yet: press Generate docs.")
    page.get_by_role("button", name="Generate docs").click()
    frame = page.frame_locator("iframe.docs-frame")
    expect(frame.locator("body")).to_contain_text("stg_users", timeout=120_000)
    screenshot("34-transforms-docs")
    assert violations == []
