"""In Chromium: invite by email, then the invitee's first sign-in (#18 item 11)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core import mail

from apps.core.roles import Role
from apps.core.tasks import send_email_task
from apps.workspaces.models import Membership, Workspace
from tests.factories import PASSWORD, MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def mail_at_once():
    """A worker would send the queued mail; here it goes to the test outbox at once."""
    with mock.patch.object(
        send_email_task,
        "delay_on_commit",
        side_effect=lambda *args: send_email_task(*args),
    ):
        yield


def _sign_in(page, url: str, login: str, password: str) -> None:
    page.goto(url + "/accounts/login/")
    page.get_by_label("Email or username").fill(login)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_admin_invites_by_email_and_the_invitee_signs_in(
    live_server, page, browser, screenshot
):
    from playwright.sync_api import expect

    # Console staff: without mail, only staff are shown the link to pass on.
    admin = UserFactory(email="ana@acme.test", is_staff=True)
    workspace = WorkspaceFactory(name="Analytics")
    MembershipFactory(user=admin, workspace=workspace, role=Role.ADMIN)

    _sign_in(page, live_server.url, "ana@acme.test", PASSWORD)
    page.goto(f"{live_server.url}/w/{workspace.public_id}/members/")
    invite = page.locator("#member-add-form")
    invite.get_by_label("Email").fill("Nina@Acme.test")
    invite.locator("select[name=role]").select_option("editor")
    invite.get_by_role("button", name="Invite").click()

    # No mail server is set up, so the (staff) admin is given the link to pass on.
    flash = page.locator(".flash").filter(has_text="sends no email")
    expect(flash).to_be_visible()
    expect(page.locator("#members")).to_contain_text("Nina@acme.test")
    link = flash.locator("a[href*='/accounts/invitation/']").get_attribute("href")
    screenshot("people-invite")
    (sent,) = mail.outbox
    assert link in sent.body

    invitee = browser.new_context(viewport={"width": 1280, "height": 800})
    other = invitee.new_page()
    other.set_default_timeout(10_000)
    other.goto(link)
    expect(
        other.get_by_role("heading", name="Welcome to Airbyte Console")
    ).to_be_visible()
    other.locator("#id_new_password1").fill("a long first passphrase")
    other.get_by_label("New password confirmation").fill("a long first passphrase")
    other.screenshot(
        path=str(screenshot("people-invite").parent / "people-welcome.png"),
        full_page=True,
    )
    other.get_by_role("button", name="Set password and sign in").click()
    expect(other.get_by_text("Welcome! Your password is set")).to_be_visible()
    # Their only workspace opens.
    expect(other).to_have_url(f"{live_server.url}/w/{workspace.public_id}/")

    # Signed out, the invitee signs in with the email in any case.
    other.get_by_text("Nina@acme.test").first.click()
    other.get_by_role("menuitem", name="Sign out").click()
    _sign_in(other, live_server.url, "NINA@ACME.TEST", "a long first passphrase")
    expect(other).to_have_url(f"{live_server.url}/w/{workspace.public_id}/")
    membership = Membership.objects.get(user__email__iexact="nina@acme.test")
    assert membership.role == Role.EDITOR

    # The link worked once.
    other.goto(link)
    expect(other.get_by_role("heading", name="no longer works")).to_be_visible()
    invitee.close()


def test_admin_deletes_a_workspace_after_typing_its_name(
    live_server, page, screenshot, settings, tmp_path
):
    from playwright.sync_api import expect

    from tests.factories import ConnectionFactory

    settings.DUCKDB_DIR = tmp_path
    admin = UserFactory(email="ana@acme.test")
    workspace = WorkspaceFactory(name="Old project")
    MembershipFactory(user=admin, workspace=workspace, role=Role.ADMIN)
    ConnectionFactory(workspace=workspace, name="Faker to DuckDB")
    (tmp_path / str(workspace.public_id)).mkdir()

    _sign_in(page, live_server.url, "ana@acme.test", PASSWORD)
    page.goto(f"{live_server.url}/w/{workspace.public_id}/settings/")
    page.get_by_role("link", name="Delete workspace…").click()
    expect(page.get_by_text("1 connection, with jobs")).to_be_visible()
    confirm = page.get_by_label("Type the workspace's name to confirm")
    confirm.fill("Old")
    page.get_by_role("button", name="Delete this workspace").click()
    error = page.get_by_text("Type the workspace's name, “Old project”, exactly.")
    expect(error).to_be_visible()
    screenshot("people-workspace-delete")
    assert Workspace.objects.filter(pk=workspace.pk).exists()

    page.get_by_label("Type the workspace's name to confirm").fill("Old project")
    page.get_by_role("button", name="Delete this workspace").click()
    expect(page.get_by_text("Workspace “Old project” deleted.")).to_be_visible()
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    assert not (tmp_path / str(workspace.public_id)).exists()


def test_member_chooses_what_notifies_them(live_server, page, screenshot):
    from playwright.sync_api import expect

    from apps.accounts.models import NotificationPreference

    user = UserFactory(email="ana@acme.test")
    workspace = WorkspaceFactory(name="Analytics")
    MembershipFactory(user=user, workspace=workspace, role=Role.VIEWER)

    _sign_in(page, live_server.url, "ana@acme.test", PASSWORD)
    page.locator("summary").filter(has_text="ana@acme.test").click()
    page.get_by_role("menuitem", name="Notification settings").click()
    section = page.locator(f"#prefs-{workspace.public_id}")
    in_app = section.get_by_role("group", name="In the app")
    by_email = section.get_by_role("group", name="By email")
    expect(in_app.get_by_label("Sync failed")).to_be_checked()
    expect(in_app.get_by_label("Sync succeeded")).not_to_be_checked()
    in_app.get_by_label("Sync succeeded").check()
    by_email.get_by_label("Sync failed").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    screenshot("people-notification-settings")
    choice = NotificationPreference.objects.get(user=user, workspace=workspace)
    assert "sync.succeeded" in choice.in_app
    assert choice.email == ["sync.failed"]
