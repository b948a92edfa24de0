"""The HTTP client against the fake server: tokens, retries, errors, pagination."""

from __future__ import annotations

import pytest

from apps.airbyte.client import (
    AirbyteApiError,
    AirbyteAuthError,
    AirbyteClient,
    AirbyteTransientError,
    RetryPolicy,
)
from tests.airbyte_fake import DEFAULT_WORKSPACE_ID

TOKEN_CALLS = "/api/public/v1/applications/token"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _client(fake, **kwargs) -> AirbyteClient:
    kwargs.setdefault("retry", RetryPolicy(attempts=3, base=0.01, cap=0.05))
    return AirbyteClient(
        fake.url,
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        **kwargs,
    )


def test_a_token_is_reused_until_shortly_before_it_expires(airbyte_fake):
    airbyte_fake.token_lifetime = 300
    clock = Clock()
    with _client(airbyte_fake, clock=clock) as client:
        client.public("GET", "/workspaces")
        client.public("GET", "/workspaces")
        assert len(airbyte_fake.calls("POST", TOKEN_CALLS)) == 1
        clock.now += 300 - 61  # a minute and a second left: still good
        client.public("GET", "/workspaces")
        assert len(airbyte_fake.calls("POST", TOKEN_CALLS)) == 1
        clock.now += 2  # within a minute of expiry: a new one first
        client.public("GET", "/workspaces")
        assert len(airbyte_fake.calls("POST", TOKEN_CALLS)) == 2


def test_a_401_fetches_a_new_token_once_and_repeats_the_call(airbyte_fake):
    with _client(airbyte_fake) as client:
        client.public("GET", "/workspaces")
        airbyte_fake.expire_tokens()  # the server forgot it early (a restart)
        page = client.public("GET", "/workspaces")
    assert page["data"]
    assert len(airbyte_fake.calls("POST", TOKEN_CALLS)) == 2
    # The first call, the one refused with 401, and its repeat with the new token.
    assert len(airbyte_fake.calls("GET", "/api/public/v1/workspaces")) == 3


def test_a_wrong_secret_is_an_auth_error_that_says_so(airbyte_fake):
    client = AirbyteClient(
        airbyte_fake.url, client_id=airbyte_fake.client_id, client_secret="nope"
    )
    with client, pytest.raises(AirbyteAuthError) as caught:
        client.public("GET", "/workspaces")
    assert "refused the client id and secret" in caught.value.message


def test_5xx_and_429_are_retried_with_retry_after(airbyte_fake):
    slept: list[float] = []
    airbyte_fake.fail_next("GET", "/api/public/v1/workspaces", 503)
    airbyte_fake.fail_next(
        "GET", "/api/public/v1/workspaces", 429, headers={"Retry-After": "0.02"}
    )
    with _client(airbyte_fake, sleep=slept.append) as client:
        page = client.public("GET", "/workspaces")
    assert page["data"]
    assert len(airbyte_fake.calls("GET", "/api/public/v1/workspaces")) == 3
    assert slept[1] == pytest.approx(0.02)  # the server's Retry-After wins


def test_a_timeout_is_retried(airbyte_fake):
    airbyte_fake.delay_next("GET", "/api/public/v1/workspaces", 1.0)
    with _client(airbyte_fake, timeout=0.3) as client:
        page = client.public("GET", "/workspaces")
    assert page["data"]
    assert len(airbyte_fake.calls("GET", "/api/public/v1/workspaces")) == 2


def test_retries_are_bounded_then_a_transient_error_is_raised(airbyte_fake):
    airbyte_fake.fail_next("GET", "/api/public/v1/workspaces", 502, times=10)
    with _client(airbyte_fake) as client, pytest.raises(AirbyteTransientError):
        client.public("GET", "/workspaces")
    assert len(airbyte_fake.calls("GET", "/api/public/v1/workspaces")) == 4


def test_a_connection_refused_is_transient_and_names_the_server():
    client = AirbyteClient(
        "http://127.0.0.1:9", auth="none", retry=RetryPolicy(attempts=1, base=0.01)
    )
    with client, pytest.raises(AirbyteTransientError) as caught:
        client.instance_configuration()
    assert "Could not reach the Airbyte server at http://127.0.0.1:9" in str(
        caught.value
    )


def test_a_400_carries_the_problem_title_and_detail(airbyte_fake):
    airbyte_fake.fail_next(
        "POST",
        "/api/public/v1/workspaces",
        400,
        problem={"title": "bad-request", "detail": "Name must not be blank."},
    )
    with _client(airbyte_fake) as client, pytest.raises(AirbyteApiError) as caught:
        client.public("POST", "/workspaces", json={"name": "x"})
    error = caught.value
    assert (error.status, error.title) == (400, "bad-request")
    assert "Name must not be blank." in error.message
    # Permanent: asked once, not retried.
    assert len(airbyte_fake.calls("POST", "/api/public/v1/workspaces")) == 1


def test_pagination_rebuilds_offsets_and_ignores_the_next_links(airbyte_fake):
    for n in range(230):
        airbyte_fake.seed_faker_source(name=f"Faker {n:03}")
    with _client(airbyte_fake) as client:
        names = [
            s["name"]
            for s in client.paginate("/sources", {"workspaceIds": DEFAULT_WORKSPACE_ID})
        ]
    assert len(names) == 230 and len(set(names)) == 230
    pages = airbyte_fake.calls("GET", "/api/public/v1/sources")
    # 100 + 100 + 30: the short page ends the walk though it carries a "next".
    assert len(pages) == 3
    assert all("localhost:8001" not in str(r.query) for r in pages)


def test_with_auth_disabled_no_token_is_asked_for(airbyte_fake):
    airbyte_fake.auth_mode = "none"
    client = AirbyteClient(airbyte_fake.url, auth="none")
    with client:
        assert client.instance_configuration()["auth"]["mode"] == "none"
        assert client.public("GET", "/workspaces")["data"]
    assert airbyte_fake.calls("POST", TOKEN_CALLS) == []


def test_basic_auth_for_old_installs(airbyte_fake):
    airbyte_fake.basic_auth = ("airbyte", "password")
    client = AirbyteClient(
        airbyte_fake.url, auth="basic", username="airbyte", password="password"
    )
    with client:
        assert client.public("GET", "/workspaces")["data"]
