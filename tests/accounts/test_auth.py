"""Sign in, sign out, password change, lockout and their audit rows."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from apps.audit.models import AuditEvent
from tests.factories import PASSWORD, UserFactory


def test_login_rotates_session_key_and_is_audited(db):
    user = UserFactory(email="ana@acme.test")
    client = Client()
    client.get(reverse("accounts:login"))
    client.session.save()
    before = client.session.session_key
    response = client.post(
        reverse("accounts:login"), {"username": "ana@acme.test", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert client.session.session_key != before
    assert int(client.session["_auth_user_id"]) == user.pk
    event = AuditEvent.objects.get(action="user.logged_in")
    assert event.actor == user
    assert event.ip == "127.0.0.1"


def test_wrong_password_is_refused_audited_and_keeps_username(db):
    UserFactory(email="ana@acme.test")
    response = Client().post(
        reverse("accounts:login"), {"username": "ana@acme.test", "password": "nope"}
    )
    assert response.status_code == 400
    assert "correct" in response.text  # Django's "Please enter a correct ..." message
    assert 'value="ana@acme.test"' in response.text
    event = AuditEvent.objects.get(action="user.login_failed")
    assert event.outcome == AuditEvent.Outcome.FAILURE
    assert event.actor_label == "ana@acme.test"
    assert "nope" not in str(event.changes)


def test_repeated_failures_lock_the_account_out(db, settings):
    settings.AXES_FAILURE_LIMIT = 3
    UserFactory(email="ana@acme.test")
    client = Client()
    for _ in range(3):
        client.post(
            reverse("accounts:login"), {"username": "ana@acme.test", "password": "x"}
        )
    response = client.post(
        reverse("accounts:login"), {"username": "ana@acme.test", "password": PASSWORD}
    )
    assert response.status_code in (403, 429)
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="user.login_locked_out").exists()


def test_logout_ends_the_session(db):
    user = UserFactory()
    client = Client()
    client.force_login(user)
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert client.get(reverse("workspaces:home")).status_code == 302
    assert AuditEvent.objects.filter(
        action="user.logged_out", actor_id=user.pk
    ).exists()


def test_logout_by_get_is_refused(db):
    user = UserFactory()
    client = Client()
    client.force_login(user)
    assert client.get(reverse("accounts:logout")).status_code == 405
    assert client.get(reverse("workspaces:home")).status_code == 200


def test_password_change_keeps_this_session(db):
    user = UserFactory()
    client = Client()
    client.force_login(user)
    response = client.post(
        reverse("accounts:password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-much-better-passphrase-42",
            "new_password2": "a-much-better-passphrase-42",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-much-better-passphrase-42")
    assert client.get(reverse("workspaces:home")).status_code == 200
    event = AuditEvent.objects.get(action="user.password_changed")
    assert "a-much-better" not in str(event.changes)


def test_password_change_with_wrong_old_password_shows_error(db):
    user = UserFactory()
    client = Client()
    client.force_login(user)
    response = client.post(
        reverse("accounts:password_change"),
        {
            "old_password": "wrong",
            "new_password1": "x-Y-z-123456",
            "new_password2": "x-Y-z-123456",
        },
    )
    assert response.status_code == 400
    assert "old password was entered incorrectly" in response.text


def test_login_ignores_offsite_next(db):
    UserFactory(email="ana@acme.test")
    response = Client().post(
        reverse("accounts:login"),
        {
            "username": "ana@acme.test",
            "password": PASSWORD,
            "next": "https://evil.test/",
        },
    )
    assert response["Location"] == reverse("home")
