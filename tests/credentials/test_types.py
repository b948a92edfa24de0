"""Per-type validation: each message names the field that is wrong."""

from __future__ import annotations

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from apps.credentials.types import CREDENTIAL_TYPES, hints_for, validate_payload


def errors(type_value: str, data: dict) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        validate_payload(CREDENTIAL_TYPES[type_value], data)
    return caught.value.message_dict


def test_api_key_requires_the_key():
    assert errors("api_key", {}) == {"api_key": ["API key is required."]}


def test_basic_auth_requires_username_and_password():
    assert errors("basic_auth", {"username": "  "}) == {
        "username": ["Username is required."],
        "password": ["Password is required."],
    }


def test_oauth2_requires_client_id_and_secret_and_checks_token_url():
    assert errors("oauth2", {"client_id": "abc", "token_url": "ftp://x"}) == {
        "client_secret": ["Client secret is required."],
        "token_url": ["Token URL must be an http:// or https:// URL."],
    }


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("abc", "Port must be a whole number."),
        (70000, "Port must be between 1 and 65535."),
        (True, "Port must be a whole number."),
    ],
)
def test_database_port_must_be_a_port_number(port, message):
    data = {"host": "db", "database": "app", "username": "u", "port": port}
    assert errors("database", data) == {"port": [message]}


def test_database_accepts_port_as_text_and_drops_empty_optionals():
    cleaned = validate_payload(
        CREDENTIAL_TYPES["database"],
        {
            "host": " db ",
            "port": "5432",
            "database": "app",
            "username": "u",
            "password": "",
        },
    )
    assert cleaned == {"host": "db", "port": 5432, "database": "app", "username": "u"}


def test_unknown_fields_are_named_with_the_expected_ones():
    message = errors("api_key", {"api_key": "k", "apikey": "k"})[NON_FIELD_ERRORS][0]
    assert message == "Unknown field(s) for type api_key: apikey. Expected: api_key."


def test_generic_needs_at_least_one_pair_and_valid_keys():
    assert errors("generic", {}) == {"pairs": ["Add at least one key and value."]}
    problems = errors("generic", {"9lives": "x", "TOKEN": ""})["pairs"]
    assert any("Key '9lives' is not valid" in p for p in problems)
    assert "Give a value for TOKEN." in problems


def test_secrets_keep_their_spaces_but_names_are_trimmed():
    cleaned = validate_payload(
        CREDENTIAL_TYPES["basic_auth"], {"username": " bob ", "password": " pw "}
    )
    assert cleaned == {"username": "bob", "password": " pw "}


def test_hints_hold_no_secret():
    spec = CREDENTIAL_TYPES["database"]
    payload = {"host": "db", "database": "app", "username": "u", "password": "hunter2"}
    assert "hunter2" not in str(hints_for(spec, payload))
    short_key = hints_for(CREDENTIAL_TYPES["api_key"], {"api_key": "short-key"})
    assert short_key == {}
    long_key = hints_for(
        CREDENTIAL_TYPES["api_key"], {"api_key": "sk_live_0123456789abcd"}
    )
    assert long_key == {"last4": "abcd"}
