"""Every user signs in by email, in any case; an email names one user."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory


def _login(username: str, password: str = PASSWORD):
    client = Client()
    response = client.post(
        reverse("accounts:login"), {"username": username, "password": password}
    )
    return client, response


def test_a_user_whose_username_is_not_their_email_signs_in_by_email(db):
    # As Django's createsuperuser or the admin make them.
    user = get_user_model().objects.create_user(
        username="jdoe", email="Jane.Doe@Example.com", password=PASSWORD
    )
    client, response = _login("jane.doe@EXAMPLE.com")
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk


def test_the_username_still_works(db):
    user = get_user_model().objects.create_user(
        username="jdoe", email="jane@example.com", password=PASSWORD
    )
    client, response = _login("jdoe")
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == user.pk


def test_the_email_in_another_case_with_a_wrong_password_is_refused(db):
    UserFactory(email="ana@acme.test")
    client, response = _login("ANA@acme.test", "wrong")
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session


def test_two_users_cannot_share_an_email_in_any_case(db):
    User = get_user_model()
    User.objects.create_user(username="a", email="Ops@Acme.test", password=PASSWORD)
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user(username="b", email="ops@acme.TEST", password=PASSWORD)
    # Users without an email are not caught by the rule.
    User.objects.create_user(username="c", email="", password=PASSWORD)
    User.objects.create_user(username="d", email="", password=PASSWORD)
