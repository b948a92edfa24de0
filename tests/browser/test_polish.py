"""Rough edges of #18 item 19, as a user meets them in a real browser."""

from __future__ import annotations

import re
import uuid

import pytest

from apps.connections.models import SyncJob
from apps.connectors.models import ConnectorInstall
from apps.core.roles import Role
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.connections.conftest import faker_source  # noqa: F401 - fixture
from tests.engines.fixtures import FAKER_ID, definition
from tests.factories import (
    PASSWORD,
    ConnectionFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page, live_server, workspace, *, staff: bool = False) -> None:
    from playwright.sync_api import expect

    user = UserFactory(email="ana@acme.test", is_staff=staff)
    MembershipFactory(user=user, workspace=workspace, role=Role.ADMIN)
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email or username").fill("ana@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=workspace.name)).to_be_visible()


def test_refused_uninstall_toast_reads_whole(
    live_server,
    page,
    screenshot,
    workspace,
    faker_source,  # noqa: F811
):
    from playwright.sync_api import expect

    faker = definition(FAKER_ID)
    ConnectorInstall.objects.create(
        definition=faker, version=faker.pypi_version, status="succeeded"
    )
    source = faker_source(count=10)
    _sign_in(page, live_server, workspace, staff=True)
    page.goto(f"{live_server.url}/w/{workspace.public_id}/catalog/?q=faker")
    row = page.locator(f"#connector-{source.definition.public_id}")
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Uninstall").click()
    toast = page.locator(".toast-error")
    expect(toast).to_contain_text(
        f"1 source uses {source.definition.name}: {source.name} (in {workspace.name})."
    )
    screenshot("polish-uninstall-refused")
    # The whole message is inside the toast's box: nothing is cut or hidden.
    fits = toast.evaluate(
        "t => t.scrollWidth <= t.clientWidth && t.scrollHeight <= t.clientHeight"
    )
    assert fits
    # An error stays until it is read and closed.
    page.wait_for_timeout(5500)  # past the 5 s an informational toast stays
    expect(toast).to_be_visible()
    toast.get_by_role("button", name="Dismiss").click()
    expect(toast).to_have_count(0)


def test_test_event_appears_in_the_log_without_a_reload(
    live_server, page, screenshot, workspace
):
    from playwright.sync_api import expect

    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace,
        name="Ops",
        url="https://hooks.example.com/ops",
        events=["sync.failed"],
        secret="whsec_" + "A" * 43,
    )
    _sign_in(page, live_server, workspace)
    page.goto(
        f"{live_server.url}/w/{workspace.public_id}/webhooks/{endpoint.public_id}/"
    )
    page.get_by_role("button", name="Send test event").click()
    log = page.locator("#deliveries")
    expect(log.locator(".badge")).to_have_text("Pending")
    # The worker delivers it (here: the row it would write).
    WebhookDelivery.objects.filter(endpoint=endpoint).update(
        status=WebhookDelivery.Status.SUCCEEDED, attempt_count=1, last_status_code=200
    )
    expect(log.locator(".badge")).to_have_text("Succeeded", timeout=6_000)
    screenshot("polish-webhook-test-event")
    # Settled: the log stops asking.
    expect(log).not_to_have_attribute("hx-trigger", re.compile("every"))


def test_a_value_cut_by_maxlength_says_so(live_server, page, screenshot, workspace):
    from playwright.sync_api import expect

    _sign_in(page, live_server, workspace)
    page.goto(live_server.url + "/w/new/")
    name = page.get_by_label("Name")
    limit = int(name.get_attribute("maxlength"))
    name.fill("x" * (limit - 1))
    expect(page.locator(".maxlength-note")).to_have_count(0)
    name.press("End")
    name.type("yz")  # the second character does not fit
    expect(name).to_have_value("x" * (limit - 1) + "y")
    note = page.locator(".maxlength-note")
    expect(note).to_have_text(
        f"Limit reached: at most {limit} characters; anything longer was cut."
    )
    screenshot("polish-maxlength")
    name.press("Backspace")
    expect(note).to_have_count(0)


def test_long_names_wrap_and_short_words_stay_whole(
    live_server, page, screenshot, workspace
):
    long_name = "warehouse_" + "x" * 150
    connection = ConnectionFactory(workspace=workspace, name=long_name)
    SyncJob.objects.create(
        public_id=uuid.uuid4(),
        connection=connection,
        trigger="scheduled",
        status="failed",
        failure_type="config_error",
        failure_origin="source",
        failure_message="Could not reach https://" + "a" * 140 + ".example.com/api",
    )
    _sign_in(page, live_server, workspace)
    w = f"{live_server.url}/w/{workspace.public_id}"
    for path in (
        "/connections/",
        f"/connections/{connection.public_id}/",
        "/connections/jobs/",
    ):
        page.goto(w + path)
        page.wait_for_load_state("networkidle")
        # Nothing wider than the window: the page does not scroll sideways.
        assert page.evaluate(
            "document.documentElement.scrollWidth <= window.innerWidth"
        ), path
    screenshot("polish-long-names")
    # In the crowded job table, "Scheduled" is on one line, not "Schedule|d".
    lines = page.locator("table.table td", has_text="Scheduled").first.evaluate(
        """td => {
            const range = document.createRange();
            range.selectNodeContents(td);
            const tops = [...range.getClientRects()].map(r => Math.round(r.top));
            return new Set(tops).size;
        }"""
    )
    assert lines == 1


def test_escape_closes_a_menu_and_returns_the_focus(live_server, page, workspace):
    from playwright.sync_api import expect

    _sign_in(page, live_server, workspace)
    menu = page.locator("details.user-menu")
    summary = menu.locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("open", "")
    page.keyboard.press("Tab")  # into the menu's first item
    expect(menu.get_by_role("menuitem").first).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).not_to_have_attribute("open", "")
    expect(summary).to_be_focused()
