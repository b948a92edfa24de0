"""The Content-Security-Policy holds on the console's own pages, in a real browser.

Chromium reports every script, style or handler the policy blocks on the console
("Refused to execute inline script because it violates the following Content
Security Policy directive ..."). The main pages are visited, and the behaviours that
moved out of inline scripts into static/js/console.js are used, with none reported.
"""

from __future__ import annotations

import re

import pytest

from apps.core.roles import Role
from apps.webhooks.models import WebhookEndpoint
from tests.factories import (
    PASSWORD,
    ConnectionFactory,
    MembershipFactory,
    UserFactory,
    WorkspaceFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_no_csp_violation_on_the_main_pages(live_server, page):
    from playwright.sync_api import expect

    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.on("pageerror", lambda error: violations.append(f"page error: {error}"))
    user = UserFactory(email="ana@acme.test", is_staff=True)
    workspace = WorkspaceFactory(name="Analytics")
    MembershipFactory(user=user, workspace=workspace, role=Role.ADMIN)
    connection = ConnectionFactory(workspace=workspace, name="Faker to warehouse")
    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace,
        name="Ops",
        url="https://hooks.example.com/ops",
        events=["sync.failed"],
        secret="whsec_" + "A" * 43,
    )
    base = f"{live_server.url}/w/{workspace.public_id}"

    response = page.goto(live_server.url + "/accounts/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-eval" not in policy
    page.get_by_label("Email or username").fill("ana@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Analytics")).to_be_visible()
    # htmx, from the console's own static files, runs under the policy.
    page.wait_for_function("() => window.htmx !== undefined")

    for path in [
        "/",
        "/w/",
        "/w/new/",
        f"/w/{workspace.public_id}/settings/",
        f"/w/{workspace.public_id}/members/",
        f"/w/{workspace.public_id}/audit/",
        f"/w/{workspace.public_id}/catalog/",
        f"/w/{workspace.public_id}/sources/",
        f"/w/{workspace.public_id}/destinations/",
        f"/w/{workspace.public_id}/connections/",
        f"/w/{workspace.public_id}/connections/{connection.public_id}/",
        f"/w/{workspace.public_id}/schedules/",
        f"/w/{workspace.public_id}/schedules/new/",
        f"/w/{workspace.public_id}/webhooks/",
        f"/w/{workspace.public_id}/notifications/",
        f"/w/{workspace.public_id}/credentials/",
        "/accounts/password/",
        "/admin/",
    ]:
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")

    # The engine page's authentication switch (was an inline script).
    page.goto(base + "/engine/")
    basic = page.locator("[data-auth-fields=basic]")
    page.locator("[data-auth-choice][value=basic]").check()
    expect(basic).to_be_visible()
    page.locator("[data-auth-choice][value=application]").check()
    expect(basic).to_be_hidden()

    # The credential form's row removal (was an hx-on handler, which needs eval).
    page.goto(base + "/credentials/new/")
    page.get_by_label("Type").select_option("generic")
    rows = page.locator("#pair-rows tr")
    expect(rows.first).to_be_visible()
    before = rows.count()
    page.get_by_role("button", name="Add row").click()
    expect(rows).to_have_count(before + 1)
    rows.last.get_by_role("button", name="Remove").click()
    expect(rows).to_have_count(before)

    # The webhook's rotate confirmation (was an inline onsubmit): dismissed, it
    # keeps the secret.
    page.goto(f"{base}/webhooks/{endpoint.public_id}/")
    questions: list[str] = []

    def dismiss(dialog) -> None:
        questions.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.get_by_role("button", name="Rotate secret").click()
    expect(page).to_have_url(re.compile(rf"/webhooks/{endpoint.public_id}/$"))
    assert questions and questions[0].startswith("Make a new signing secret?")
    endpoint.refresh_from_db()
    assert endpoint.secret == "whsec_" + "A" * 43

    assert violations == []
