"""Shared fixtures for the API's tests: tokens and a client that checks the spec.

* ``api_token(user)``: a personal access token of ``user``'s (the raw bearer);
  ``api_token(user, kind="application")`` a signed bearer of a new application of
  theirs, as ``POST /api/public/v1/applications/token`` hands out.
* ``api_client(user)``: an ``ApiClient`` (``tests/api/spec_client.py``) that sends
  ``user``'s bearer and fails the test on any request or answer that departs from
  Airbyte's spec (or, for the console's own paths, from the console's OpenAPI
  document). ``api_client()`` sends no token.
* ``spec_checker``: the checker itself, for real HTTP traffic through
  ``HttpxRecorder`` (the SDK against a live server).

The tests skip without Airbyte's spec files (they fail under REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from tests.airbyte_fake.fixtures import SPECS_MISSING
from tests.airbyte_fake.locate import specs_dir
from tests.api.spec_client import ApiClient, SpecChecker
from tests.services_plugin import skip_or_fail

_names = itertools.count(1)


@pytest.fixture(scope="session")
def spec_checker() -> SpecChecker:
    if specs_dir() is None:
        skip_or_fail(SPECS_MISSING)
    # Imported here: openapi-core takes a second or two to load the specs.
    from tests.airbyte_fake.validation import load_specs

    return SpecChecker(load_specs())


@pytest.fixture
def api_token(db) -> Callable[..., str]:
    """``api_token(user, kind="pat" | "application")`` -> a raw bearer of ``user``."""
    from apps.api import services, tokens

    def make(user, *, kind: str = "pat", name: str = "") -> str:
        name = name or f"test {kind} {next(_names)}"
        if kind == "pat":
            return services.token_create(actor=user, name=name)[1]
        if kind == "application":
            application, _ = services.application_create(actor=user, name=name)
            return tokens.issue_access_token(application)[0]
        raise ValueError(f"unknown token kind {kind!r}")

    return make


@pytest.fixture
def api_client(spec_checker, api_token) -> Callable[..., ApiClient]:
    """``api_client(user=None, token=None)`` -> a spec-checking API client."""

    def make(user=None, *, token: str | None = None) -> ApiClient:
        if token is None and user is not None:
            token = api_token(user)
        return ApiClient(checker=spec_checker, token=token)

    return make
