"""API tokens: client credentials for a bearer, personal tokens, each 401's reason."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from apps.api import services, tokens
from apps.api.models import ApiApplication, PersonalAccessToken
from apps.audit.models import AuditEvent
from tests.factories import UserFactory

PUBLIC = "/api/public/v1"
CONFIG = "/api/v1"
APPS = f"{PUBLIC}/applications"


@pytest.fixture(autouse=True)
def _fresh_rate_counters():
    # The local-memory cache outlives a test; counters must not leak between them.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def owner(db):
    return UserFactory(email="owner@acme.test")


@pytest.fixture
def application(owner):
    app, secret = services.application_create(actor=owner, name="CI pipeline")
    return app, secret


def exchange(client: Client, app: ApiApplication, secret: str, **extra):
    return client.post(
        f"{APPS}/token",
        data=json.dumps(
            {
                "client_id": app.client_id,
                "client_secret": secret,
                "grant_type": "client_credentials",
            }
        ),
        content_type="application/json",
        **extra,
    )


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def call(client: Client, token: str | None, **extra):
    """An authenticated call: the caller's applications."""
    headers = bearer(token) if token else {}
    return client.get(APPS, **headers, **extra)


def access_token(app: ApiApplication, secret: str) -> str:
    response = exchange(Client(), app, secret)
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def assert_401(response, detail: str) -> None:
    assert response.status_code == 401, response.content
    body = response.json()
    assert body["title"] == "invalid-api-key"
    assert body["detail"] == detail
    assert response["WWW-Authenticate"].startswith("Bearer")


# The exchange


def test_new_secrets_work_as_command_line_arguments(owner):
    # One in 64 URL-safe secrets began with "-": `--client-secret SECRET` then
    # failed with "expected one argument". Letters and digits only, every time.
    made = [
        services.application_create(actor=owner, name=f"App {n}")[1] for n in range(64)
    ]
    assert all(secret.isalnum() and secret.isascii() for secret in made)
    assert len(set(made)) == 64


def test_client_credentials_give_a_bearer_that_works(application):
    app, secret = application
    response = exchange(Client(), app, secret)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    listed = call(Client(), body["access_token"])
    assert listed.status_code == 200
    assert [a["clientId"] for a in listed.json()["applications"]] == [app.client_id]


def test_form_encoded_exchange_works_as_airbyte_sdk_sends_it(application):
    app, secret = application
    response = Client().post(
        f"{APPS}/token",
        data=(
            f"client_id={app.client_id}&client_secret={secret}"
            "&grant_type=client_credentials"
        ),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert call(Client(), response.json()["access_token"]).status_code == 200


def test_token_lifetime_follows_the_setting(application, settings):
    settings.API_TOKEN_SECONDS = 180
    app, secret = application
    assert exchange(Client(), app, secret).json()["expires_in"] == 180


def test_config_api_exchange_answers_access_token_only(application):
    app, secret = application
    response = Client().post(
        f"{CONFIG}/applications/token",
        data={"client_id": app.client_id, "client_secret": secret},
        content_type="application/json",
    )
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["access_token"]
    assert call(Client(), body["access_token"]).status_code == 200


def test_wrong_secret_is_refused_with_a_reason(application):
    app, _ = application
    assert_401(exchange(Client(), app, "not-the-secret"), tokens.BAD_CLIENT)


def test_unknown_client_id_is_refused_like_a_wrong_secret(application, owner):
    _, secret = application
    ghost = ApiApplication(client_id="no-such-client")
    assert_401(exchange(Client(), ghost, secret), tokens.BAD_CLIENT)


def test_config_api_refusal_carries_the_reason(application):
    app, _ = application
    response = Client().post(
        f"{CONFIG}/applications/token",
        data={"client_id": app.client_id, "client_secret": "wrong"},
        content_type="application/json",
    )
    assert response.status_code == 401
    assert tokens.BAD_CLIENT in response.content.decode()


def test_missing_fields_and_a_wrong_grant_are_400_naming_them(application):
    app, secret = application
    missing = Client().post(
        f"{APPS}/token",
        data={"client_id": app.client_id},
        content_type="application/json",
    )
    assert missing.status_code == 400
    assert [e["path"] for e in missing.json()["data"]["errors"]] == ["client_secret"]
    wrong = Client().post(
        f"{APPS}/token",
        data={
            "client_id": app.client_id,
            "client_secret": secret,
            "grant_type": "password",
        },
        content_type="application/json",
    )
    assert wrong.status_code == 400
    assert "client_credentials" in wrong.json()["detail"]
    malformed = Client().post(
        f"{APPS}/token", data="{not json", content_type="application/json"
    )
    assert malformed.status_code == 400


def test_revoked_or_expired_application_cannot_exchange(application, owner):
    app, secret = application
    services.application_revoke(actor=owner, application=app)
    response = exchange(Client(), app, secret)
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    old, old_secret = services.application_create(
        actor=owner, name="Old", expires_at=timezone.now() + timedelta(days=1)
    )
    ApiApplication.objects.filter(pk=old.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = exchange(Client(), old, old_secret)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


# Bearers and their reasons


def test_missing_header_is_401_with_what_to_send(db):
    response = call(Client(), None)
    assert response.status_code == 401
    assert "Authorization: Bearer" in response.json()["detail"]
    basic = Client().get(APPS, HTTP_AUTHORIZATION="Basic YWlyYnl0ZTpwYXNzd29yZA==")
    assert basic.status_code == 401
    assert "Authorization: Bearer" in basic.json()["detail"]


def test_a_forged_or_tampered_token_is_unknown(application):
    app, secret = application
    token = access_token(app, secret)
    assert_401(call(Client(), token[:-2] + "xx"), tokens.UNKNOWN)
    assert_401(call(Client(), "eyJhbGciOiJIUzI1NiJ9.e30.abc"), tokens.UNKNOWN)
    assert_401(call(Client(), "abc_pat_doesnotexist"), tokens.UNKNOWN)


def test_bearer_expires_after_its_lifetime(application, time_machine):
    time_machine.move_to("2026-03-02 10:00:00Z", tick=False)
    app, secret = application
    token = access_token(app, secret)
    time_machine.move_to("2026-03-02 10:14:59Z", tick=False)
    assert call(Client(), token).status_code == 200
    time_machine.move_to("2026-03-02 10:15:00Z", tick=False)
    assert_401(call(Client(), token), tokens.EXPIRED)


def test_revoking_the_application_stops_its_bearer_at_once(application, owner):
    app, secret = application
    token = access_token(app, secret)
    assert call(Client(), token).status_code == 200
    services.application_revoke(actor=owner, application=app)
    assert_401(call(Client(), token), tokens.REVOKED)


def test_an_application_expiring_stops_its_bearer_at_once(owner, time_machine):
    time_machine.move_to("2026-03-02 10:00:00Z", tick=False)
    app, secret = services.application_create(
        actor=owner, name="Short", expires_at=timezone.now() + timedelta(minutes=5)
    )
    token = access_token(app, secret)
    time_machine.move_to("2026-03-02 10:05:00Z", tick=False)
    response = call(Client(), token)
    assert response.status_code == 401
    assert "application has expired" in response.json()["detail"]


def test_a_deactivated_owner_gets_401(application, owner):
    app, secret = application
    token = access_token(app, secret)
    owner.is_active = False
    owner.save()
    response = call(Client(), token)
    assert response.status_code == 401
    assert "deactivated" in response.json()["detail"]
    assert exchange(Client(), app, secret).status_code == 401


def test_personal_access_token_works_until_revoked(owner):
    pat, raw = services.token_create(actor=owner, name="laptop")
    assert raw.startswith("abc_pat_")
    assert call(Client(), raw).status_code == 200
    services.token_revoke(actor=owner, token=pat)
    assert_401(call(Client(), raw), tokens.REVOKED)


def test_personal_access_token_expires(owner, time_machine):
    time_machine.move_to("2026-03-02 10:00:00Z", tick=False)
    _, raw = services.token_create(
        actor=owner, name="laptop", expires_at=timezone.now() + timedelta(days=7)
    )
    time_machine.move_to("2026-03-09 10:00:00Z", tick=False)
    response = call(Client(), raw)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_authenticate_names_the_caller(application, owner):
    app, _ = application
    token, _ = tokens.issue_access_token(app)
    caller = tokens.authenticate(token, ip="10.0.0.1")
    assert (caller.user, caller.kind, caller.token_id) == (owner, "application", app.pk)
    pat, raw = services.token_create(actor=owner, name="laptop")
    caller = tokens.authenticate(raw, ip="10.0.0.1")
    assert (caller.user, caller.kind, caller.token_id) == (owner, "pat", pat.pk)


# Rate limit


def test_over_the_rate_limit_is_429_with_retry_after(owner, settings, time_machine):
    settings.API_RATE_LIMIT = 3
    time_machine.move_to("2026-03-02 10:00:20Z", tick=False)
    _, raw = services.token_create(actor=owner, name="busy")
    other_owner = UserFactory(email="other@acme.test")
    _, other = services.token_create(actor=other_owner, name="calm")
    for _ in range(3):
        assert call(Client(), raw).status_code == 200
    refused = call(Client(), raw)
    assert refused.status_code == 429
    assert refused["Retry-After"] == "40"
    assert refused.json()["status"] == 429
    # Per token: another token is not held back by this one.
    assert call(Client(), other).status_code == 200
    # The next minute starts a new window.
    time_machine.move_to("2026-03-02 10:01:00Z", tick=False)
    assert call(Client(), raw).status_code == 200


# Audit and last use


def test_create_and_revoke_are_audited(owner):
    app, secret = services.application_create(actor=owner, name="CI")
    pat, raw = services.token_create(actor=owner, name="laptop")
    services.application_revoke(actor=owner, application=app)
    services.token_revoke(actor=owner, token=pat)
    services.token_revoke(actor=owner, token=pat)  # again: nothing more to record
    actions = list(
        AuditEvent.objects.filter(actor=owner)
        .order_by("id")
        .values_list("action", "target_id")
    )
    assert actions == [
        ("api.application_created", str(app.public_id)),
        ("api.token_created", str(pat.public_id)),
        ("api.application_revoked", str(app.public_id)),
        ("api.token_revoked", str(pat.public_id)),
    ]
    dumped = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert secret not in dumped
    assert raw not in dumped


def test_use_from_a_new_address_is_audited_once_per_address(owner, time_machine):
    time_machine.move_to("2026-03-02 10:00:00Z", tick=False)
    pat, raw = services.token_create(actor=owner, name="laptop")
    for address in ["10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2"]:
        assert call(Client(), raw, REMOTE_ADDR=address).status_code == 200
    events = AuditEvent.objects.filter(action="api.token_used_from_new_address")
    assert [e.changes["last_used_ip"] for e in events.order_by("id")] == [
        [None, "10.0.0.1"],
        ["10.0.0.1", "10.0.0.2"],
    ]
    pat.refresh_from_db()
    assert pat.last_used_ip == "10.0.0.2"
    assert pat.last_used_at == timezone.now()


def test_last_use_is_written_at_most_once_a_minute(owner, time_machine):
    time_machine.move_to("2026-03-02 10:00:00Z", tick=False)
    pat, raw = services.token_create(actor=owner, name="laptop")
    call(Client(), raw)
    first = timezone.now()
    time_machine.move_to("2026-03-02 10:00:30Z", tick=False)
    call(Client(), raw)
    pat.refresh_from_db()
    assert pat.last_used_at == first
    time_machine.move_to("2026-03-02 10:01:05Z", tick=False)
    call(Client(), raw)
    pat.refresh_from_db()
    assert pat.last_used_at == timezone.now()


def test_exchange_counts_as_a_use_of_the_application(application):
    app, secret = application
    exchange(Client(), app, secret, REMOTE_ADDR="192.0.2.7")
    app.refresh_from_db()
    assert app.last_used_ip == "192.0.2.7"
    assert AuditEvent.objects.filter(
        action="api.token_used_from_new_address", target_id=str(app.public_id)
    ).exists()


def test_secrets_are_stored_only_as_hashes(owner):
    app, secret = services.application_create(actor=owner, name="CI")
    pat, raw = services.token_create(actor=owner, name="laptop")
    assert app.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert pat.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    rows = json.dumps(
        [
            *ApiApplication.objects.values(),
            *PersonalAccessToken.objects.values(),
        ],
        default=str,
    )
    assert secret not in rows
    assert raw not in rows
    assert raw[:16] == pat.prefix
