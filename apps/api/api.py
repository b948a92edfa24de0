"""The console's JSON API: one django-ninja ``NinjaAPI`` mounted at ``/api/``.

Three families of paths share it, each a set of routers:

- ``public/v1/``: Airbyte's Public API (``public-api.v1.8.0.yaml``), so Airbyte's own
  SDK and tools work against the console;
- ``v1/``: Airbyte's Config API for the calls the console's own airbyte engine makes
  and the product brief's endpoints (``config-api.v1.8.0.yaml``), so one console can
  drive another as its Airbyte server;
- ``console/v1/``: the console's own additions (workspaces as code).

Every error is an ``ApiProblem`` rendered in the shape its family's clients read
(``apps.api.problems``); nothing a client sends ends in Django's HTML error pages.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponsePermanentRedirect,
)
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser

from apps.api import problems
from apps.api.auth import bearer
from apps.api.problems import ApiProblem

log = logging.getLogger(__name__)

PUBLIC = "public/v1/"
CONFIG = "v1/"
CONSOLE = "console/v1/"


class ApiParser(Parser):
    """JSON bodies, refusing the NUL character anywhere in them.

    PostgreSQL cannot store U+0000 in text, so a name or a config value holding
    it would fail deep inside a service; it is refused up front with a 400.
    """

    def parse_body(self, request: HttpRequest) -> Any:
        # Python's decoder takes NaN and Infinity, which JSON has not (and the
        # database's JSON columns refuse later, as a 500).
        data = json.loads(request.body, parse_constant=_not_json)
        if _holds_unstorable(data):
            raise problems.bad_request(
                "The body holds a NUL character (\\u0000) or a lone surrogate "
                "(\\ud800-\\udfff), which no text field can store; remove it."
            )
        return data


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _holds_unstorable(value: Any) -> bool:
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(map(_holds_unstorable, [*value.keys(), *value.values()]))
    if isinstance(value, list):
        return any(_holds_unstorable(item) for item in value)
    return False


# The error bodies every operation may answer, for the OpenAPI document: the
# Public API's problem (RFC 9457, api-problems.yaml) and the Config API's
# KnownExceptionInfo.
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title"],
    "properties": {
        "status": {"type": "integer"},
        "type": {"type": "string"},
        "title": {"type": "string"},
        "detail": {"type": "string"},
        "data": {"type": "object"},
    },
}
KNOWN_EXCEPTION_SCHEMA = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "message": {"type": "string"},
        "exceptionClassName": {"type": "string"},
        "exceptionStack": {"type": "array", "items": {"type": "string"}},
        "id": {"type": "string"},
        "validationErrors": {"type": "array", "items": {"type": "object"}},
    },
}
_ERRORS = {
    "400": "The request is not valid: the problem says what and where.",
    "401": "No token, or one that is expired, revoked or unknown (the reason).",
    "403": "The caller's role in the workspace is below the one this needs.",
    "404": "No such object among the caller's workspaces.",
    "409": "The object's state does not allow it now (the reason).",
    "422": "The request is understood but cannot be carried out (the reason).",
    "429": "Too many calls with this token, or too many waiting; see Retry-After.",
    "503": "The console's database, or a worker it waited for, did not answer.",
}
_WRITES = {"post", "put", "patch", "delete"}


def _document_errors(schema: dict[str, Any]) -> None:
    """Add the error answers each operation may give, where it declares none."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    components["KnownExceptionInfo"] = KNOWN_EXCEPTION_SCHEMA
    problem = {"$ref": "#/components/schemas/Problem"}
    either = {"anyOf": [{"$ref": "#/components/schemas/KnownExceptionInfo"}, problem]}
    for path, operations in schema.get("paths", {}).items():
        body = either if path.startswith("/api/v1/") else problem
        for method, operation in operations.items():
            statuses = ["400"]
            if operation.get("security"):
                statuses += ["401", "403", "404", "429", "503"]
            elif path.endswith("/applications/token"):
                statuses += ["401", "429"]
            elif path.endswith("/health"):
                statuses += ["503"]
            if method in _WRITES:
                statuses += ["409", "422"]
            responses = operation.setdefault("responses", {})
            # ninja keys the declared ones by int: compare as text.
            declared = {str(code) for code in responses}
            for status in statuses:
                if status not in declared:
                    responses[status] = {
                        "description": _ERRORS[status],
                        "content": {"application/json": {"schema": body}},
                    }


class ConsoleApi(NinjaAPI):
    """ninja's API, whose OpenAPI document also describes the error answers."""

    def get_openapi_schema(self, **kwargs: Any) -> Any:
        schema = super().get_openapi_schema(**kwargs)
        _document_errors(schema)
        return schema


api = ConsoleApi(
    title="Airbyte Console API",
    version="1.8.0",
    description=(
        "Airbyte's Public API (`/api/public/v1`) and the Config API calls a client "
        "of an Airbyte server makes (`/api/v1`), served by the console over its own "
        "workspaces, plus the console's workspace export and import "
        "(`/api/console/v1`). Authenticate with `POST /api/public/v1/applications/"
        "token` (client credentials of an application made under API tokens, in "
        "the user menu) or a personal access token, sent as "
        "`Authorization: Bearer <token>`."
    ),
    openapi_url=f"/{PUBLIC}openapi.json",
    docs_url=f"/{PUBLIC}docs",
    urls_namespace="api",
    auth=bearer,
    parser=ApiParser(),
)


def _is_config_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/v1/")


def render_problem(request: HttpRequest, problem: ApiProblem) -> HttpResponse:
    """One problem in the shape the caller's API family uses."""
    # Airbyte's security filter sits in front of both APIs: a refused token is the
    # Public API's invalid-api-key problem under /api/v1 too.
    config_shape = _is_config_api(request) and problem.status != 401
    body = problem.config_body() if config_shape else problem.public_body()
    response = api.create_response(request, body, status=problem.status)
    for name, value in problem.headers.items():
        response[name] = value
    return response


def _api_problem(request: HttpRequest, exc: ApiProblem) -> HttpResponse:
    return render_problem(request, exc)


def _invalid_request(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    # Pydantic's errors, one entry per field: where it is and what is wrong.
    errors = [_pydantic_entry(error) for error in exc.errors]
    detail = "; ".join(
        f"{e['path']}: {e['message']}" if e["path"] else e["message"] for e in errors
    )
    return render_problem(
        request,
        problems.bad_request(detail or "The request is not valid.", {"errors": errors}),
    )


def _pydantic_entry(error: dict[str, Any]) -> dict[str, str]:
    # ``loc`` starts with where the value came from (body, query, path).
    location = [str(part) for part in error.get("loc", ())]
    if location and location[0] in {"body", "query", "path", "form", "header"}:
        location = location[1:]
    if location and location[0] in {"body", "payload", "data"} and len(location) > 1:
        location = location[1:]
    message = str(error.get("msg", "is not valid"))
    if error.get("type") == "json_invalid":
        message = "The body is not valid JSON: " + message
    return {"path": ".".join(location), "message": message}


def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return render_problem(
        request,
        problems.unauthorized(
            "This call needs an API token: send `Authorization: Bearer <token>` with "
            "a token from POST /api/public/v1/applications/token or a personal "
            "access token."
        ),
    )


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    status = exc.status_code
    detail = str(exc)
    cause = exc.__cause__
    if isinstance(cause, ApiProblem):
        return render_problem(request, cause)
    if status == 400 and isinstance(cause, ValueError):
        # ninja wraps the JSON decoder's error; its text says where the body broke.
        problem = problems.bad_request(f"The body is not valid JSON: {cause}")
    elif status == 400:
        # ninja raises this for a body it cannot parse (malformed JSON).
        problem = problems.bad_request(detail)
    elif status == 401:
        problem = problems.unauthorized(detail)
    elif status == 403:
        problem = problems.forbidden(detail)
    elif status == 404:
        problem = problems.not_found(detail)
    elif status == 429:
        problem = problems.too_many_requests(60)
    else:
        problem = ApiProblem(status, "http-error", problems.ERRORS_URL, detail)
    return render_problem(request, problem)


def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return render_problem(request, problems.not_found("Not found."))


def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("API call %s %s failed", request.method, request.path)
    return render_problem(
        request,
        problems.unexpected(
            "The console could not complete this call; the error is in its log."
        ),
    )


api.add_exception_handler(ApiProblem, _api_problem)
api.add_exception_handler(ValidationError, _invalid_request)
api.add_exception_handler(AuthenticationError, _unauthenticated)
api.add_exception_handler(HttpError, _http_error)
api.add_exception_handler(Http404, _not_found)


def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    # 400, not 413: Airbyte's problems have no 413, and clients read the title.
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return render_problem(
        request,
        problems.bad_request(
            f"The request body is larger than {limit:,} bytes, the most this console "
            "accepts (DATA_UPLOAD_MAX_MEMORY_SIZE)."
        ),
    )


api.add_exception_handler(RequestDataTooBig, _too_big)
api.add_exception_handler(Exception, _unexpected)


def _register() -> None:
    # Imported here so each router module can import ``api`` helpers above.
    from apps.api.config import routers as config_routers
    from apps.api.console import router as console_router
    from apps.api.public import routers as public_routers

    for prefix, router in public_routers():
        api.add_router(PUBLIC + prefix, router)
    for prefix, router in config_routers():
        api.add_router(CONFIG + prefix, router)
    api.add_router(CONSOLE, console_router)


_register()


@csrf_exempt
def sdk_token_redirect(request: HttpRequest) -> HttpResponse:
    """``/applications/token`` at the site root, where Airbyte's SDK asks by default.

    A 308 keeps the method and body, so the SDK's POST reaches the token call.
    """
    return HttpResponsePermanentRedirect(
        f"/api/{PUBLIC}applications/token", preserve_request=True
    )


def unknown_path(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any other path under ``/api/``: a 404 problem, not the console's HTML page."""
    return render_problem(
        request, problems.not_found(f"There is no API endpoint at {request.path}.")
    )


class MethodNotAllowedMiddleware:
    """Turn ninja's bare 405 under ``/api/`` into a problem body naming the methods."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code != 405 or not request.path.startswith("/api/"):
            return response
        allowed = response.get("Allow", "")
        problem = ApiProblem(
            405,
            "method-not-allowed",
            f"{problems.ERRORS_URL}#method-not-allowed",
            f"{request.method} is not allowed on {request.path}; use {allowed}.",
            headers={"Allow": allowed},
        )
        return render_problem(request, problem)
