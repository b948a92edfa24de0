"""axe-core on every main page of the console, in a real browser (#18 item 20).

axe-core comes from the npm registry: the first run packs it into a cache folder
(``TEST_AXE_DIR``, by default ``~/.cache/airbyte-console/test-axe``) that later
runs reuse; without npm or the registry the test is skipped on a developer machine
and fails where CI requires the services. Playwright adds it to every page as an
init script, which the console's Content-Security-Policy (no inline scripts) does
not block. A serious or critical violation on any page fails the test (and a few
milder rules the console keeps: landmarks, one h1, named table columns), naming the
page, the rule and the elements; each page's screenshot is saved with the other
browser tests' screenshots (``a11y-*.png``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest
from django.utils import timezone

from apps.connections.models import SyncJob
from apps.connectors.models import ConnectorInstall, Destination
from apps.core.roles import Role
from apps.credentials.services import credential_create
from apps.schedules.services import schedule_create
from apps.transforms.models import DbtProject, TransformRun
from apps.webhooks.models import WebhookEndpoint
from tests.connections.conftest import faker_source  # noqa: F401 - fixture
from tests.engines.fixtures import DUCKDB_ID, FAKER_ID, definition
from tests.factories import (
    PASSWORD,
    ConnectionFactory,
    MembershipFactory,
    UserFactory,
)
from tests.services_plugin import skip_or_fail

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE_VERSION = "4.10.3"
AXE_DIR = Path(
    os.environ.get(
        "TEST_AXE_DIR", Path.home() / ".cache" / "airbyte-console" / "test-axe"
    )
)
# The impacts that fail the test; other "minor" and "moderate" ones are printed only.
FAILING = {"serious", "critical"}
# Rules axe rates moderate or minor that the console keeps anyway: every page has
# its landmarks, one main, an h1, and no nameless table column.
FAILING_RULES = {
    "region",
    "landmark-one-main",
    "landmark-unique",
    "landmark-no-duplicate-main",
    "page-has-heading-one",
    "empty-table-header",
}


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe.min.js of the pinned axe-core, packed from the npm registry once."""
    script = AXE_DIR / f"axe-core-{AXE_VERSION}" / "axe.min.js"
    if script.exists():
        return script
    npm = shutil.which("npm")
    if npm is None:
        skip_or_fail("needs npm to fetch axe-core: apt-get install npm")
    AXE_DIR.mkdir(parents=True, exist_ok=True)
    work = AXE_DIR / f"tmp-{uuid.uuid4().hex}"
    work.mkdir()
    try:
        try:
            packed = subprocess.run(
                [npm, "pack", f"axe-core@{AXE_VERSION}", "--loglevel=error"],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=180,
            )
        except subprocess.TimeoutExpired:
            skip_or_fail("npm pack axe-core did not finish in 3 minutes (no network?)")
        if packed.returncode != 0:
            # npm's first lines say why (ECONNREFUSED, ENOTFOUND ...), the rest is a
            # stack.
            why = " ".join(packed.stderr.strip().splitlines()[:4])[:400]
            skip_or_fail(f"npm pack axe-core@{AXE_VERSION} failed: {why}")
        with tarfile.open(work / f"axe-core-{AXE_VERSION}.tgz") as archive:
            member = archive.getmember("package/axe.min.js")
            source = archive.extractfile(member).read()
        script.parent.mkdir(parents=True, exist_ok=True)
        # Written whole then renamed, so a parallel run never reads half a file.
        partial = work / "axe.min.js"
        partial.write_bytes(source)
        partial.replace(script)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return script


def _violations(page) -> list[dict]:
    return page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map((v) => ({
                id: v.id,
                impact: v.impact,
                help: v.help,
                targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
                summary: v.nodes.length ? v.nodes[0].failureSummary : "",
            }));
        }"""
    )


def test_main_pages_have_no_serious_accessibility_violation(
    live_server,
    page,
    screenshot,
    axe_script,
    workspace,
    faker_source,  # noqa: F811
):
    from playwright.sync_api import expect

    page.context.add_init_script(path=str(axe_script))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    user = UserFactory(email="ana@acme.test", is_staff=True)
    MembershipFactory(user=user, workspace=workspace, role=Role.ADMIN)
    definition(FAKER_ID)  # an earlier transactional test may have flushed it
    source = faker_source(count=10)
    destination = Destination.objects.create(
        workspace=workspace,
        name="Local DuckDB",
        definition=definition(DUCKDB_ID),
        config={"destination_path": "warehouse.duckdb"},
    )
    connection = ConnectionFactory(
        workspace=workspace,
        name="Faker to warehouse",
        source=source,
        destination=destination,
    )
    job = SyncJob.objects.create(
        public_id=uuid.uuid4(),
        connection=connection,
        trigger="manual",
        status="succeeded",
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )
    failed = SyncJob.objects.create(
        public_id=uuid.uuid4(),
        connection=connection,
        trigger="scheduled",
        status="failed",
        started_at=timezone.now(),
        finished_at=timezone.now(),
        failure_type="config_error",
        failure_origin="source",
        failure_message="The source refused the credentials.",
    )
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace,
        name="Ops",
        url="https://hooks.example.com/ops",
        events=["sync.failed"],
        secret="whsec_" + "A" * 43,
    )
    project = DbtProject.objects.create(
        workspace=workspace,
        name="Warehouse models",
        kind=DbtProject.Kind.UPLOAD,
        destination=destination,
        graph={
            "nodes": [
                {
                    "unique_id": "model.warehouse.users",
                    "name": "users",
                    "resource_type": "model",
                    "depends_on": [],
                }
            ]
        },
    )
    run = TransformRun.objects.create(
        workspace=workspace,
        project=project,
        number=1,
        command="build",
        trigger="manual",
        status="succeeded",
    )
    credential = credential_create(
        actor=None,
        workspace=workspace,
        name="Warehouse login",
        type="api_key",
        fields={"api_key": "a11y-key"},
    )
    schedule = schedule_create(
        actor=None,
        workspace=workspace,
        connection=connection,
        name="Nightly",
        kind="cron",
        cron_expression="0 2 * * *",
    )
    w = f"/w/{workspace.public_id}"
    pages = {
        "dashboard": f"{w}/",
        "connections": f"{w}/connections/",
        "connection": f"{w}/connections/{connection.public_id}/",
        "connection-new": f"{w}/connections/new/",
        "connection-settings": f"{w}/connections/{connection.public_id}/settings/",
        "job": f"{w}/connections/jobs/{job.public_id}/",
        "job-failed": f"{w}/connections/jobs/{failed.public_id}/",
        "jobs": f"{w}/connections/jobs/",
        "sources": f"{w}/sources/",
        "source": f"{w}/sources/{source.public_id}/",
        "source-new": f"{w}/sources/new/",
        "source-form": f"{w}/sources/new/?definition={definition(FAKER_ID).public_id}",
        "source-edit": f"{w}/sources/{source.public_id}/edit/",
        "destinations": f"{w}/destinations/",
        "destination": f"{w}/destinations/{destination.public_id}/",
        "destination-form": (
            f"{w}/destinations/new/?definition={definition(DUCKDB_ID).public_id}"
        ),
        "catalog": f"{w}/catalog/",
        "credentials": f"{w}/credentials/",
        "credential-new": f"{w}/credentials/new/",
        "schedules": f"{w}/schedules/",
        "schedule-new": f"{w}/schedules/new/",
        "webhooks": f"{w}/webhooks/",
        "webhook": f"{w}/webhooks/{endpoint.public_id}/",
        "notifications": f"{w}/notifications/",
        "transforms": f"{w}/transforms/",
        "transforms-project": f"{w}/transforms/{project.public_id}/",
        "transforms-run": f"{w}/transforms/runs/{run.public_id}/",
        "transforms-model": (
            f"{w}/transforms/{project.public_id}/nodes/model.warehouse.users/"
        ),
        "members": f"{w}/members/",
        "audit": f"{w}/audit/",
        "settings": f"{w}/settings/",
        "engine": f"{w}/engine/",
        "connection-schema": f"{w}/connections/{connection.public_id}/schema/",
        "connection-jobs": f"{w}/connections/{connection.public_id}/jobs/",
        "credential": f"{w}/credentials/{credential.public_id}/",
        "credential-edit": f"{w}/credentials/{credential.public_id}/edit/",
        "schedule": f"{w}/schedules/{schedule.public_id}/",
        "schedule-edit": f"{w}/schedules/{schedule.public_id}/edit/",
        "webhook-new": f"{w}/webhooks/new/",
        "webhook-edit": f"{w}/webhooks/{endpoint.public_id}/edit/",
        "transforms-new": f"{w}/transforms/new/",
        "transforms-runs": f"{w}/transforms/{project.public_id}/runs/",
        "transforms-settings": f"{w}/transforms/{project.public_id}/settings/",
        "transforms-docs": f"{w}/transforms/{project.public_id}/docs/",
        "workspace-delete": f"{w}/delete/",
        "workspaces": "/w/",
        "workspace-new": "/w/new/",
        "profile": "/accounts/profile/",
        "password-change": "/accounts/password/",
        "notification-settings": "/notifications/settings/",
    }

    found: dict[str, list[dict]] = {}

    def check(name: str) -> None:
        page.wait_for_load_state("networkidle")
        found[name] = _violations(page)
        screenshot(f"a11y-{name}")

    page.goto(live_server.url + "/accounts/login/")
    check("sign-in")
    page.goto(live_server.url + "/accounts/password/reset/")
    check("password-reset")
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email or username").fill("ana@acme.test")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    check("sign-in-refused")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=workspace.name)).to_be_visible()

    for name, path in pages.items():
        response = page.goto(live_server.url + path)
        assert response.status == 200, f"{name}: {path} answered {response.status}"
        check(name)

    # States that only show after a click: open menus, forms with their errors,
    # the new connection's streams and review step, an error toast.
    page.goto(live_server.url + f"{w}/")
    page.get_by_test_id("workspace-switcher").locator("summary").click()
    page.locator("details.user-menu summary").click()
    check("menus-open")

    # The server's errors, as a browser without its own checks would get them.
    no_browser_checks = (
        "document.querySelectorAll('form').forEach(f => f.noValidate = true)"
    )
    page.goto(live_server.url + pages["source-form"])
    page.evaluate(no_browser_checks)
    page.locator("form input[name=name]").fill("")
    page.get_by_role("button", name="Test and create").click()
    expect(page.locator(".error, [role=alert]").first).to_be_visible()
    check("source-form-errors")

    page.goto(live_server.url + pages["schedule-new"])
    page.evaluate(no_browser_checks)
    page.get_by_role("button", name="Create schedule").click()
    expect(page.locator(".error, [role=alert]").first).to_be_visible()
    check("schedule-form-errors")

    page.goto(live_server.url + pages["credential-new"])
    page.get_by_label("Type").select_option("generic")
    expect(page.locator("#pair-rows tr").first).to_be_visible()
    check("credential-form-generic")

    page.goto(live_server.url + pages["connection-new"])
    page.wait_for_function("() => window.htmx !== undefined")
    page.locator("#id_name").fill("Faker to DuckDB")
    page.locator("#id_source").select_option(value=str(source.pk))
    expect(page.locator("#streams")).to_contain_text("users")
    page.locator("#id_destination").select_option(value=str(destination.pk))
    page.locator('tr[data-stream-row="users"] details.fields-pick summary').click()
    check("connection-new-streams")
    page.get_by_role("button", name="Next: review").click()
    expect(page.get_by_test_id("review")).to_be_visible()
    check("connection-new-review")

    ConnectorInstall.objects.create(
        definition=source.definition,
        version=source.definition.pypi_version,
        status="succeeded",
    )
    page.goto(live_server.url + f"{w}/catalog/?q=faker")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#connector-{source.definition.public_id}").get_by_role(
        "button", name="Uninstall"
    ).click()
    expect(page.locator(".toast-error")).to_be_visible()
    check("catalog-error-toast")

    report = []
    for name, violations in found.items():
        for v in violations:
            line = f"{name}: [{v['impact']}] {v['id']}: {v['help']} at {v['targets']}"
            print(line)
            if v["impact"] in FAILING or v["id"] in FAILING_RULES:
                report.append(f"{line}\n    {v['summary']}")
    assert not report, "Accessibility violations:\n" + "\n".join(report)
    assert errors == []
