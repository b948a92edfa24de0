"""Invite by email from Members, and the invitation's one-time link (#18 item 11)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.core.roles import Role
from apps.workspaces.models import Membership
from tests.factories import PASSWORD, UserFactory

LINK = re.compile(r"https?://\S+/accounts/invitation/[\w-]+/[\w-]+/")


def _invite(client, workspace, email, role=Role.EDITOR, **headers):
    return client.post(
        reverse("workspaces:member_add", args=[workspace.public_id]),
        {"email": email, "role": role},
        headers=headers,
    )


def _flash(client, workspace) -> str:
    page = client.get(reverse("workspaces:members", args=[workspace.public_id]))
    (message,) = (str(m) for m in page.context["messages"])
    return message


def test_invite_creates_the_account_and_mails_a_set_password_link(
    admin, workspace, login, mail_now, smtp
):
    client = login(admin)
    response = _invite(client, workspace, "New.Person@Acme.test")
    assert response.status_code == 302

    user = get_user_model().objects.get(email__iexact="new.person@acme.test")
    assert not user.has_usable_password()
    assert Membership.objects.get(workspace=workspace, user=user).role == Role.EDITOR
    message = _flash(client, workspace)
    assert message.startswith("An invitation is on its way to New.Person@acme.test")
    assert "/accounts/invitation/" not in message  # mail delivers: no link shown

    (sent,) = mail.outbox
    assert sent.to == ["New.Person@acme.test"]
    assert "Acme Data" in sent.subject
    assert "choose your password" in sent.body
    assert LINK.search(sent.body)
    assert list(
        AuditEvent.objects.filter(workspace=workspace).values_list("action", flat=True)
    ) == ["membership.invited"]
    created = AuditEvent.objects.get(action="user.invited")
    assert created.workspace is None


def test_invite_adds_an_existing_account_and_tells_them_to_sign_in(
    admin, workspace, login, mail_now, smtp
):
    known = UserFactory(email="known@elsewhere.test")
    client = login(admin)
    _invite(client, workspace, "KNOWN@elsewhere.test", role=Role.VIEWER)

    known.refresh_from_db()
    assert known.check_password(PASSWORD)  # untouched
    assert Membership.objects.get(workspace=workspace, user=known).role == Role.VIEWER
    (sent,) = mail.outbox
    assert "already have an account" in sent.body
    assert not AuditEvent.objects.filter(action="user.invited").exists()


@pytest.mark.parametrize("htmx", [False, True])
def test_invite_answers_alike_with_or_without_an_account(
    admin, workspace, login, htmx, mail_now, smtp
):
    UserFactory(email="real@elsewhere.test")
    headers = {"HX-Request": "true"} if htmx else {}
    client = login(admin)
    known = _invite(client, workspace, "real@elsewhere.test", **headers)
    known_message = _flash(client, workspace)
    unknown = _invite(client, workspace, "ghost@elsewhere.test", **headers)
    unknown_message = _flash(client, workspace)

    assert known.status_code == unknown.status_code
    assert known.content == unknown.content
    for name in ("Location", "HX-Redirect", "HX-Trigger"):
        assert known.headers.get(name) == unknown.headers.get(name)
    assert known_message.replace("real@", "X@") == unknown_message.replace(
        "ghost@", "X@"
    )


def test_without_mail_an_admin_gets_the_same_words_and_no_link(
    admin, workspace, login, mail_now
):
    UserFactory(email="real@elsewhere.test")
    client = login(admin)
    _invite(client, workspace, "real@elsewhere.test")
    known_message = _flash(client, workspace)
    _invite(client, workspace, "ghost@elsewhere.test")
    unknown_message = _flash(client, workspace)

    assert "sends no email" in unknown_message
    # The link would let the admin choose the password of an email that is not
    # theirs: a workspace admin does not see it, and learns nothing either way.
    assert not LINK.search(known_message) and not LINK.search(unknown_message)
    assert known_message.replace("real@", "X@") == unknown_message.replace(
        "ghost@", "X@"
    )
    # The mail is still written (file or console backend), link included.
    assert len(mail.outbox) == 2
    page = client.get(reverse("workspaces:members", args=[workspace.public_id]))
    assert "ghost@elsewhere.test" in page.text


def test_without_mail_console_staff_see_the_link_to_pass_on(
    admin, workspace, login, mail_now
):
    admin.is_staff = True
    admin.save()
    client = login(admin)
    _invite(client, workspace, "new@elsewhere.test")
    message = _flash(client, workspace)
    assert "pass them this link yourself" in message
    assert LINK.search(message)


def test_an_email_django_would_refuse_as_a_username_is_invited(
    admin, workspace, login, mail_now
):
    _invite(login(admin), workspace, "o'brien@acme.test")
    user = get_user_model().objects.get(email="o'brien@acme.test")
    assert user.username.startswith("invited-")
    assert workspace.memberships.filter(user=user).exists()


def test_invitation_link_sets_the_first_password_once(
    admin, workspace, login, client, mail_now
):
    _invite(login(admin), workspace, "first@acme.test")
    link = LINK.search(mail.outbox[0].body).group(0)

    form = client.get(link, follow=True)
    assert "Choose a password for" in form.text
    assert "first@acme.test" in form.text
    done = client.post(
        form.redirect_chain[-1][0],
        {
            "new_password1": "a long new passphrase",
            "new_password2": "a long new passphrase",
        },
    )
    assert done.status_code == 302
    user = get_user_model().objects.get(email="first@acme.test")
    assert user.check_password("a long new passphrase")
    assert client.get(reverse("workspaces:home")).status_code == 200  # signed in
    assert AuditEvent.objects.filter(
        action="user.invitation_accepted", actor=user
    ).exists()

    client.logout()
    again = client.get(link, follow=True)
    assert "no longer works" in again.text


def test_invitation_link_never_sets_the_password_of_an_existing_account(
    admin, workspace, login, client, mail_now
):
    known = UserFactory(email="known@acme.test")
    _invite(login(admin), workspace, "known@acme.test")
    link = LINK.search(mail.outbox[0].body).group(0)

    page = client.get(link, follow=True)
    assert "You already have an account" in page.text
    client.post(
        link.replace(link.rstrip("/").split("/")[-1], "set-password"),
        {"new_password1": "taken over 12345", "new_password2": "taken over 12345"},
    )
    known.refresh_from_db()
    assert known.check_password(PASSWORD)
    # Nor is its token a password reset token.
    uid, token = link.rstrip("/").split("/")[-2:]
    reset = client.get(
        reverse("accounts:password_reset_confirm", args=[uid, token]), follow=True
    )
    assert "no longer works" in reset.text


def test_reinviting_someone_who_never_signed_in_sends_a_fresh_link(
    admin, workspace, login, mail_now
):
    client = login(admin)
    _invite(client, workspace, "slow@acme.test")
    _invite(client, workspace, "slow@acme.test")
    assert len(mail.outbox) == 2
    assert Membership.objects.filter(user__email="slow@acme.test").count() == 1
    assert AuditEvent.objects.filter(action="membership.invitation_resent").exists()


def test_inviting_a_member_with_a_password_again_is_refused(
    admin, editor, workspace, login, htmx_headers
):
    response = _invite(login(admin), workspace, editor.email, **htmx_headers)
    assert response.status_code == 400
    assert "already a member" in response.text
    assert "<html" not in response.text


def test_viewer_cannot_invite(viewer, workspace, login):
    response = _invite(login(viewer), workspace, "new@acme.test")
    assert response.status_code == 403
    assert not get_user_model().objects.filter(email="new@acme.test").exists()


def test_outsider_cannot_invite(outsider, workspace, login):
    response = _invite(login(outsider), workspace, "new@acme.test")
    assert response.status_code == 404
    assert not get_user_model().objects.filter(email="new@acme.test").exists()


def test_an_email_used_as_someone_elses_username_still_gets_invited(
    admin, workspace, login, mail_now
):
    UserFactory(username="taken@acme.test", email="someone@else.test")
    response = _invite(login(admin), workspace, "taken@acme.test")
    assert response.status_code == 302
    invited = get_user_model().objects.get(email="taken@acme.test")
    assert invited.username != "taken@acme.test"
    assert Membership.objects.filter(workspace=workspace, user=invited).exists()


def test_a_pending_invitee_of_another_workspace_cannot_be_taken_over(
    admin, workspace, outsider, login, client, mail_now
):
    # Invited into Acme, not signed in yet: an admin elsewhere invites the same
    # email and, with no mail sent, holds the link; it must not set the password.
    _invite(login(admin), workspace, "pending@acme.test")
    acme_link = LINK.search(mail.outbox[0].body).group(0)
    elsewhere = outsider.memberships.get().workspace
    mail.outbox.clear()
    other_admin = login(outsider)
    _invite(other_admin, elsewhere, "pending@acme.test")
    # Their page shows no link; even the one mailed must not set the password.
    assert not LINK.search(_flash(other_admin, elsewhere))
    their_link = LINK.search(mail.outbox[-1].body).group(0)

    page = client.get(their_link, follow=True)
    assert "You already have an account" in page.text
    assert "id_new_password1" not in page.text
    client.post(
        their_link.replace(their_link.rstrip("/").split("/")[-1], "set-password"),
        {"new_password1": "taken over 12345", "new_password2": "taken over 12345"},
    )
    pending = get_user_model().objects.get(email="pending@acme.test")
    assert not pending.has_usable_password()
    # Nor does Acme's first link any more: its holder may not choose the
    # password of someone who now belongs to another workspace too.
    assert "no longer works" in client.get(acme_link, follow=True).text
    # Its owner can still choose a password from a reset sent to them.
    client.post(reverse("accounts:password_reset"), {"email": "pending@acme.test"})
    assert "/accounts/password/reset/" in mail.outbox[-1].body


def test_a_switched_off_account_takes_no_password_from_a_link(
    admin, workspace, login, client, mail_now
):
    _invite(login(admin), workspace, "gone@acme.test")
    link = LINK.search(mail.outbox[0].body).group(0)
    get_user_model().objects.filter(email="gone@acme.test").update(is_active=False)
    assert "no longer works" in client.get(link, follow=True).text


def test_inviting_again_with_another_role_says_the_role_kept(
    admin, workspace, login, mail_now
):
    client = login(admin)
    _invite(client, workspace, "twice@acme.test", role=Role.VIEWER)
    _flash(client, workspace)
    _invite(client, workspace, "twice@acme.test", role=Role.ADMIN)
    assert "with the viewer role" in _flash(client, workspace)
