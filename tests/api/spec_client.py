"""Every request to the console's API and every answer, checked against a spec.

The console's API claims to be Airbyte's: a call under ``/api/public/v1`` must be an
operation of ``public-api.v1.8.0.yaml``, one under ``/api/v1`` an operation of
``config-api.v1.8.0.yaml``, and their error bodies must be the problems of
``api-problems.v1.8.0.yaml`` (Public API) or ``KnownExceptionInfo`` (Config API).
The checks are the ones the fake Airbyte server applies to the console's own
traffic (``tests/airbyte_fake/validation.py``), so the console is held to the same
standard as a client as it is as a server.

What is not in Airbyte's specs is checked against the console's own OpenAPI
document (``/api/public/v1/openapi.json``):

* the console's own paths (``/api/console/v1/...``), problems included;
* the product brief's ``GET`` forms of Config API calls that Airbyte serves as
  ``POST`` only (``GET /api/v1/sources/list?workspaceId=...``), and ``POST
  /api/v1/health`` (Airbyte: ``GET``): the request is checked against the
  console's document and the answer against Airbyte's operation of the other
  method, since the brief asks for the same shape.

Anything else under the two Airbyte prefixes that the specs do not know fails: a
console endpoint that Airbyte's clients cannot find is a mistake, not an extension.
"""

from __future__ import annotations

import json as jsonlib
import threading
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from django.test import Client
from ninja.responses import Response
from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.responses.exceptions import ResponseFinderError
from openapi_core.testing import MockRequest, MockResponse
from werkzeug.datastructures import ImmutableMultiDict

from tests.airbyte_fake.validation import (
    CONFIG_PREFIX,
    PUBLIC_PREFIX,
    Exchange,
    Specs,
    check_problem,
    check_request,
    check_response,
)

if TYPE_CHECKING:
    import httpx
    from django.http import HttpResponse

CONSOLE_PREFIX = "/api/console/v1"
# The API's own documents: served by ninja, described by no spec.
DOCUMENTS = frozenset({f"{PUBLIC_PREFIX}/openapi.json", f"{PUBLIC_PREFIX}/docs"})
_UNKNOWN_OPERATION = ("Path not found for", "not found for http")


def _unknown_operation(violations: list[str]) -> bool:
    return any(marker in v for v in violations for marker in _UNKNOWN_OPERATION)


class SpecChecker:
    """Checks one exchange (request and response) against the spec of its path."""

    def __init__(self, specs: Specs) -> None:
        self.specs = specs
        self._lock = threading.RLock()

    @cached_property
    def console(self) -> OpenAPI:
        """The console's own OpenAPI document, as ``/api/public/v1/openapi.json``."""
        from apps.api.api import api

        # Serialised as the openapi.json view does, so it reads as clients read it
        # (ninja's dict may hold int status keys that JSON turns into strings).
        # Not fetched with Django's test client: that reconnects the signals that
        # close the database connection, which in-process WSGI tests unhook.
        # The document's own validity is test_api_docs.py's business; traffic
        # checks should not all fail with it.
        document = jsonlib.loads(Response(api.get_openapi_schema()).content)
        return OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))

    def check(
        self,
        exchange: Exchange,
        *,
        status: int,
        body: bytes,
        content_type: str,
        request: bool = True,
    ) -> list[str]:
        """Every way the exchange departs from its spec (empty when it conforms).

        ``request=False`` skips the request check, for tests that send a bad
        request on purpose; the answer to it is always checked.
        """
        if exchange.path in DOCUMENTS:
            return []
        if exchange.api is None:
            if exchange.path.startswith(CONSOLE_PREFIX + "/"):
                return self._console(
                    exchange,
                    status=status,
                    body=body,
                    content_type=content_type,
                    request=request,
                )
            return [f"{exchange.path} is not under any API prefix"]
        # Without the request check the body is left out: a generated body may not
        # even be text, and only whether the operation exists matters then.
        probe = exchange if request else replace(exchange, body=b"", content_type="")
        asked = check_request(self.specs, probe)
        if _unknown_operation(asked.violations):
            return self._unknown(
                exchange,
                status=status,
                body=body,
                content_type=content_type,
                request=request,
            )
        answered = check_response(
            self.specs, exchange, status=status, body=body, content_type=content_type
        )
        return (asked.violations if request else []) + answered.violations

    def _unknown(
        self,
        exchange: Exchange,
        *,
        status: int,
        body: bytes,
        content_type: str,
        request: bool,
    ) -> list[str]:
        api = exchange.api
        other = {"GET": "POST", "POST": "GET"}.get(exchange.method)
        twin = replace(
            exchange,
            method=other or exchange.method,
            query="",
            body=b"{}" if other == "POST" else b"",
            content_type="application/json" if other == "POST" else "",
        )
        if (
            api == "config"
            and other
            and not _unknown_operation(check_request(self.specs, twin).violations)
        ):
            # The brief's GET form of a Config API call (and POST /health, which
            # Airbyte serves as GET): Airbyte's answer shape for the other method.
            violations = self._console(
                exchange,
                status=status,
                body=body,
                content_type=content_type,
                request=request,
                response=False,
            )
            answered = check_response(
                self.specs, twin, status=status, body=body, content_type=content_type
            )
            return violations + answered.violations
        spec = "public-api" if api == "public" else "config-api"
        return [
            f"{exchange.method} {exchange.path} is not an operation of Airbyte's "
            f"{spec}.v1.8.0.yaml: Airbyte's clients cannot call it"
        ]

    def _console(
        self,
        exchange: Exchange,
        *,
        status: int,
        body: bytes,
        content_type: str,
        request: bool,
        response: bool = True,
    ) -> list[str]:
        mock = MockRequest(
            "http://testserver",
            exchange.method.lower(),
            exchange.path,
            headers=exchange.headers,
            data=exchange.body,
            content_type=exchange.content_type.lower(),
        )
        mock.parameters.query = ImmutableMultiDict(
            parse_qsl(exchange.query, keep_blank_values=True)
        )
        violations: list[str] = []
        with self._lock:
            if request:
                violations += [
                    f"request (console document): {_explain(e)}"
                    for e in self.console.iter_request_errors(mock)
                ]
            if not response:
                return violations
            answer = MockResponse(body, status_code=status, content_type=content_type)
            for error in self.console.iter_response_errors(mock, answer):
                if isinstance(error, PathError) and request:
                    continue  # already reported with the request
                if isinstance(error, ResponseFinderError) and status >= 400:
                    continue  # undeclared error statuses: checked as problems below
                violations.append(f"response (console document): {_explain(error)}")
        if status >= 400 and body.strip():
            violations += check_problem(self.specs, body, status)[0]
        return violations


def _explain(error: Exception) -> str:
    cause = error.__cause__
    details = getattr(cause, "schema_errors", None)
    if details:
        return "; ".join(
            f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
            for e in details
        )
    return f"{error}" + (f" ({cause})" if cause else "")


def _report(
    method: str, path: str, status: int, body: bytes, violations: list[str]
) -> str:
    lines = "\n".join(f"  - {v}" for v in violations)
    return (
        f"{method} {path} -> {status} does not match the spec:\n{lines}\n"
        f"  body: {body[:600]!r}"
    )


@dataclass
class ApiClient:
    """Django's test client for the API: sends the bearer, checks every exchange.

    ``get``, ``post``, ``put``, ``patch`` and ``delete`` take ``json=`` (a body),
    ``query=`` (a dict; lists repeat the key) and ``form=`` (form-encoded), and
    return Django's response. A request or answer that departs from its spec
    fails the test on the spot with every reason; ``valid_request=False`` is for
    tests that send bad input on purpose (the answer is still checked).
    """

    checker: SpecChecker
    token: str | None = None
    client: Client = field(default_factory=Client)
    exchanges: list[tuple[Exchange, int]] = field(default_factory=list)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        query: dict[str, Any] | None = None,
        form: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "",
        headers: dict[str, str] | None = None,
        token: str | None = None,
        valid_request: bool = True,
    ) -> HttpResponse:
        sent_headers = dict(headers or {})
        bearer = token if token is not None else self.token
        if bearer:
            sent_headers.setdefault("Authorization", f"Bearer {bearer}")
        body = b""
        if raw is not None:
            body, content_type = raw, content_type or "application/json"
        elif form is not None:
            body = urlencode(form).encode()
            content_type = "application/x-www-form-urlencoded"
        elif json is not None:
            body, content_type = jsonlib.dumps(json).encode(), "application/json"
        query_string = urlencode(query or {}, doseq=True)
        url = f"{path}?{query_string}" if query_string else path
        response = self.client.generic(
            method,
            url,
            data=body,
            content_type=content_type or "application/octet-stream",
            headers=sent_headers,
        )
        if content_type:
            sent_headers["Content-Type"] = content_type
        exchange = Exchange(
            method=method.upper(),
            path=path,
            query=query_string,
            headers=sent_headers,
            body=body,
            content_type=content_type,
        )
        self.exchanges.append((exchange, response.status_code))
        content = b"" if response.streaming else response.content
        violations = self.checker.check(
            exchange,
            status=response.status_code,
            body=content,
            content_type=response.get("Content-Type", ""),
            request=valid_request,
        )
        if violations:
            raise AssertionError(
                _report(method.upper(), url, response.status_code, content, violations)
            )
        return response

    def get(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("DELETE", path, **kwargs)


@dataclass
class HttpxRecorder:
    """An httpx response hook that checks real HTTP traffic (the SDK's, a live
    server's) against the spec; the violations are kept for the test to fail on.
    """

    checker: SpecChecker
    violations: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def __call__(self, response: httpx.Response) -> None:
        response.read()
        request = response.request
        exchange = Exchange(
            method=request.method,
            path=request.url.path,
            query=request.url.query.decode(),
            headers=dict(request.headers),
            body=request.content,
            content_type=request.headers.get("content-type", ""),
        )
        self.seen.append(f"{request.method} {request.url.path} {response.status_code}")
        found = self.checker.check(
            exchange,
            status=response.status_code,
            body=response.content,
            content_type=response.headers.get("content-type", ""),
        )
        if found:
            self.violations.append(
                _report(
                    request.method,
                    str(request.url),
                    response.status_code,
                    response.content,
                    found,
                )
            )

    def hooks(self) -> dict[str, list[Any]]:
        """``event_hooks=`` for an ``httpx.Client``."""
        return {"response": [self]}


__all__ = ["CONFIG_PREFIX", "ApiClient", "HttpxRecorder", "SpecChecker"]
