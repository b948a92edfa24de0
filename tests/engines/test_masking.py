"""The secret masker: every form a connector may print a secret in is masked.

Plain, JSON-escaped, URL-encoded (a key sent as a query parameter) and base64
(Basic auth, where the secret sits after ``user:`` at any offset).
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus, urlencode

import pytest

from apps.core.masking import MASK
from apps.engines.masking import SecretMasker, secret_values

SECRET = "Canary/key+9=="


def test_a_key_in_a_query_string_is_masked_however_it_was_encoded():
    masker = SecretMasker([SECRET])

    for url in (
        "https://api.example.com/items?" + urlencode({"api_key": SECRET}),
        f"https://api.example.com/items?api_key={quote(SECRET, safe='')}",
        f"https://api.example.com/items?api_key={quote(SECRET)}&page=2",
        f"https://api.example.com/items?api_key={quote_plus(SECRET)}",
    ):
        masked = masker.mask(url)
        assert masked.startswith("https://api.example.com/items?api_key=")
        assert MASK in masked
        assert "Canary" not in masked


@pytest.mark.parametrize("user", ["u", "us", "reader", "a-much-longer-user-name"])
def test_basic_auth_of_user_and_secret_is_masked_at_every_offset(user):
    masker = SecretMasker([SECRET])
    header = "Basic " + base64.b64encode(f"{user}:{SECRET}".encode()).decode()
    line = json.dumps({"headers": {"Authorization": header}})

    masked = masker.mask(line)

    assert MASK in masked
    # Only the characters the user name (or padding) also decides are left.
    token = json.loads(masked)["headers"]["Authorization"].split(" ", 1)[1]
    before, after = token.split(MASK)
    assert len(before) <= len(f"{user}:") * 4 // 3 + 2
    assert len(after) <= 4


def test_base64_of_the_secret_alone_and_url_safe_base64_are_masked():
    masker = SecretMasker([SECRET])
    plain = base64.b64encode(SECRET.encode()).decode()
    urlsafe = base64.urlsafe_b64encode(f"x:{SECRET}".encode()).decode()

    masked = masker.mask(f"token={plain}")
    assert masked.startswith(f"token={MASK}") and len(masked) <= len("token=") + 14
    masked = masker.mask(urlsafe)
    assert MASK in masked and urlsafe[4:-4] not in masked


def test_a_secret_inside_json_output_and_a_url_password_are_masked():
    masker = SecretMasker(['pa"ss\\word'])

    assert masker.mask(json.dumps({"error": 'bad pa"ss\\word'})) == json.dumps(
        {"error": f"bad {MASK}"}
    )
    assert masker.mask("postgres://app:other-pass@db:5432/x") == (
        f"postgres://app:{MASK}@db:5432/x"
    )


def test_a_secret_that_starts_another_is_masked_whole_and_short_ones_left_alone():
    masker = SecretMasker(["abcdef", "abcdefghij", "no"])

    assert masker.mask("x abcdefghij y abcdefg z") == f"x {MASK} y {MASK}g z"
    assert masker.mask("no, nothing here") == "no, nothing here"


def test_ordinary_output_is_left_as_it_was():
    masker = SecretMasker([SECRET, "s3cr3t-password-123", "tok_abcdefghijklmnop"])
    line = json.dumps(
        {
            "type": "RECORD",
            "record": {
                "stream": "items",
                "data": {"id": 12345, "name": "Some name", "url": "https://a.b/c?d=1"},
            },
        }
    )

    assert masker.mask(line) == line


def test_a_long_secret_such_as_a_private_key_is_masked_in_every_form():
    key = "-----BEGIN PRIVATE KEY-----\n" + "A1b2/C3+" * 500 + "\n-----END-----"
    masker = SecretMasker(secret_values({"private_key": key}))

    assert masker.mask(f"key: {key}") == f"key: {MASK}"
    assert masker.mask(json.dumps(key)) == f'"{MASK}"'
    assert masker.mask(quote(key, safe="")) == MASK
