"""A new user's first minutes, in a real browser: sign in, create, switch, audit."""

from __future__ import annotations

import re

import pytest

from apps.audit.models import AuditEvent
from apps.workspaces.models import Workspace
from tests.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_create_workspace_switch_and_read_audit(live_server, page, screenshot):
    from playwright.sync_api import expect

    UserFactory(email="ana@acme.test")
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    screenshot("01-login")

    page.get_by_label("Email or username").fill("ana@acme.test")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("correct")
    expect(page.get_by_label("Email or username")).to_have_value("ana@acme.test")

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your workspaces")).to_be_visible()

    page.get_by_role("link", name="New workspace").first.click()
    page.get_by_label("Name").fill("Analytics")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_role("heading", name="Analytics")).to_be_visible()
    analytics = Workspace.objects.get(name="Analytics")

    # A second workspace, then switch back through the top bar's switcher.
    page.goto(live_server.url + "/w/new/")
    page.get_by_label("Name").fill("Analytics")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_text("already exists")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value("Analytics")
    page.get_by_label("Name").fill("Marketing")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_role("heading", name="Marketing")).to_be_visible()
    screenshot("02-dashboard")

    page.get_by_test_id("workspace-switcher").locator("summary").click()
    page.get_by_role("menuitem", name=re.compile("^Analytics")).click()
    expect(page).to_have_url(re.compile(str(analytics.public_id)))
    expect(page.get_by_role("heading", name="Analytics")).to_be_visible()

    page.get_by_role("navigation", name="Workspace").get_by_role(
        "link", name="Audit"
    ).click()
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()
    expect(page.locator("#audit-results")).to_contain_text("workspace.created")
    page.get_by_label("Action").select_option("workspace.created")
    expect(page).to_have_url(re.compile(r"action=workspace.created"))
    screenshot("03-audit")
    assert AuditEvent.objects.filter(action="user.login_failed").count() == 1
