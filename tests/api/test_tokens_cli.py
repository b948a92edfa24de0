"""`airbyte tokens|applications`: create prints the secret once, list never does."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from apps.api.models import ApiApplication, PersonalAccessToken
from apps.audit.models import AuditEvent
from tests.factories import UserFactory


@pytest.fixture
def superuser(db):
    return UserFactory(email="root@acme.test", is_superuser=True, is_staff=True)


def airbyte(capsys, *args: str):
    call_command("airbyte", *args, "--json")
    return json.loads(capsys.readouterr().out)


def test_token_create_list_revoke(superuser, capsys):
    created = airbyte(capsys, "tokens", "create", "nightly", "--expires-days", "0")
    raw = created["token"]
    assert raw.startswith("abc_pat_")
    assert created["expires_at"] is None
    api = Client().get(
        "/api/public/v1/applications", HTTP_AUTHORIZATION=f"Bearer {raw}"
    )
    assert api.status_code == 200
    listed = airbyte(capsys, "tokens", "list")
    assert [r["name"] for r in listed] == ["nightly"]
    assert raw not in json.dumps(listed)
    airbyte(capsys, "tokens", "revoke", "nightly")
    assert PersonalAccessToken.objects.get().revoked_at is not None
    assert AuditEvent.objects.filter(
        action="api.token_revoked", user_agent="airbyte-cli"
    ).exists()


def test_application_create_prints_a_working_secret_once(superuser, capsys):
    created = airbyte(capsys, "applications", "create", "etl")
    token = Client().post(
        "/api/public/v1/applications/token",
        {"client_id": created["client_id"], "client_secret": created["client_secret"]},
        content_type="application/json",
    )
    assert token.status_code == 200
    listed = airbyte(capsys, "applications", "list")
    assert created["client_secret"] not in json.dumps(listed)
    airbyte(capsys, "applications", "revoke", created["id"])
    assert ApiApplication.objects.get().revoked_at is not None


def test_someone_elses_token_cannot_be_revoked(superuser, capsys):
    UserFactory(email="them@acme.test")
    call_command("airbyte", "tokens", "create", "theirs", "--as", "them@acme.test")
    capsys.readouterr()
    with pytest.raises(CommandError, match="No token 'theirs' of yours"):
        call_command("airbyte", "tokens", "revoke", "theirs")
    assert PersonalAccessToken.objects.get().revoked_at is None


def test_a_duplicate_name_is_refused_with_the_reason(superuser, capsys):
    airbyte(capsys, "tokens", "create", "ci")
    with pytest.raises(CommandError, match="already have one named"):
        call_command("airbyte", "tokens", "create", "CI")
