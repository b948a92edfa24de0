"""The token and application endpoints answer in the shapes of Airbyte's specs."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.test import Client

from apps.api import services
from tests.airbyte_fake.locate import specs_dir
from tests.airbyte_fake.validation import (
    Exchange,
    check_request,
    check_response,
    load_specs,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.skipif(
    specs_dir() is None, reason="Airbyte's API specs not found (AIRBYTE_API_SPECS_DIR)"
)


@pytest.fixture(autouse=True)
def _fresh_rate_counters():
    cache.clear()


@pytest.fixture
def specs():
    return load_specs()


@pytest.fixture
def owner(db):
    return UserFactory(email="owner@acme.test")


def send(specs, method: str, path: str, *, body=None, form=False, token=None):
    """One call through Django, its request and response checked against the spec."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    if body is None:
        raw, content_type = b"", ""
    elif form:
        raw = urlencode(body).encode()
        content_type = "application/x-www-form-urlencoded"
    else:
        raw, content_type = json.dumps(body).encode(), "application/json"
    response = Client().generic(
        method, path, data=raw, content_type=content_type or None, **headers
    )
    exchange = Exchange(
        method=method,
        path=path,
        headers={"Authorization": f"Bearer {token}"} if token else {},
        body=raw,
        content_type=content_type,
    )
    violations = check_response(
        specs,
        exchange,
        status=response.status_code,
        body=response.content,
        content_type=response.get("Content-Type", ""),
    ).violations
    if response.status_code < 400:
        violations += check_request(specs, exchange).violations
    assert not violations, violations
    return response


def test_token_exchange_matches_the_spec_json_and_form(specs, owner):
    app, secret = services.application_create(actor=owner, name="SDK")
    credentials = {
        "client_id": app.client_id,
        "client_secret": secret,
        "grant_type": "client_credentials",
    }
    public = "/api/public/v1/applications/token"
    assert send(specs, "POST", public, body=credentials).status_code == 200
    assert send(specs, "POST", public, body=credentials, form=True).status_code == 200
    config = "/api/v1/applications/token"
    short = {"client_id": app.client_id, "client_secret": secret}
    assert send(specs, "POST", config, body=short).status_code == 200
    bad = {**credentials, "client_secret": "wrong"}
    assert send(specs, "POST", public, body=bad).status_code == 401


def test_application_crud_matches_the_spec(specs, owner):
    _, raw = services.token_create(actor=owner, name="script")
    base = "/api/public/v1/applications"
    created = send(specs, "POST", base, body={"name": "From the API"}, token=raw)
    assert created.status_code == 200
    app = created.json()
    assert app["clientSecret"] != "**********"
    listed = send(specs, "GET", base, token=raw).json()["applications"]
    assert [a["clientSecret"] for a in listed] == ["**********"]
    one = send(specs, "GET", f"{base}/{app['id']}", token=raw)
    assert one.json()["clientId"] == app["clientId"]
    assert send(specs, "DELETE", f"{base}/{app['id']}", token=raw).status_code == 200
    assert send(specs, "GET", f"{base}/{app['id']}", token=raw).status_code == 404
    assert send(specs, "GET", base, token=None).status_code == 401
    # The secret answered at creation works until the delete above revoked it.
    token = Client().post(
        f"{base}/token",
        {"client_id": app["clientId"], "client_secret": app["clientSecret"]},
        content_type="application/json",
    )
    assert token.status_code == 401


def test_config_api_application_calls(specs, owner):
    _, raw = services.token_create(actor=owner, name="script")
    created = send(
        specs, "POST", "/api/v1/applications/create", body={"name": "cfg"}, token=raw
    ).json()
    listed = send(specs, "POST", "/api/v1/applications/list", body={}, token=raw)
    assert [a["id"] for a in listed.json()["applications"]] == [created["id"]]
    deleted = send(
        specs,
        "POST",
        "/api/v1/applications/delete",
        body={"applicationId": created["id"]},
        token=raw,
    )
    assert deleted.status_code == 200
    after = send(specs, "POST", "/api/v1/applications/list", body={}, token=raw)
    assert after.json()["applications"] == []


def test_another_users_application_is_404(specs, owner):
    theirs, _ = services.application_create(
        actor=UserFactory(email="them@acme.test"), name="theirs"
    )
    _, raw = services.token_create(actor=owner, name="script")
    path = f"/api/public/v1/applications/{theirs.public_id}"
    assert send(specs, "GET", path, token=raw).status_code == 404
    assert send(specs, "DELETE", path, token=raw).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
