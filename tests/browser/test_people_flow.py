"""In Chromium: invite by email, then the invitee's first sign-in (#18 item 11)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core import mail

from apps.core.roles import Role
from apps.core.tasks import send_email_task
from apps.workspaces.models import Membership
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

    admin = UserFactory(email="ana@acme.test")
    workspace = WorkspaceFactory(name="Analytics")
    MembershipFactory(user=admin, workspace=workspace, role=Role.ADMIN)

    _sign_in(page, live_server.url, "ana@acme.test", PASSWORD)
    page.goto(f"{live_server.url}/w/{workspace.public_id}/members/")
    invite = page.locator("#member-add-form")
    invite.get_by_label("Email").fill("Nina@Acme.test")
    invite.locator("select[name=role]").select_option("editor")
    invite.get_by_role("button", name="Invite").click()

    # No mail server is set up, so the admin is given the link to pass on.
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
