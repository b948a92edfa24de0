"""Errors the JSON API answers with, in the shape Airbyte's own clients expect.

A router raises ``ApiProblem``; ``apps.api.api`` renders it. Under the Public API
(``/api/public/v1/``) that is an RFC 9457 problem from Airbyte's
``api-problems.yaml`` (``status``, ``type``, ``title``, ``detail``, ``data``);
under the Config API (``/api/v1/``) the same problem becomes Airbyte's
``KnownExceptionInfo`` (or ``InvalidInputExceptionInfo`` for a 422), because
that is what Airbyte's Config API clients read. The console's own endpoints
(``/api/console/v1/``) answer with the Public API's problem shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

ERRORS_URL = "https://reference.airbyte.com/reference/errors"
_KNOWN = "io.airbyte.commons.server.errors.ApplicationErrorKnownException"


@dataclass
class ApiProblem(Exception):
    """One problem with a request: HTTP status, Airbyte's type and title, detail."""

    status: int
    title: str
    type: str
    detail: str
    data: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}"

    def public_body(self) -> dict[str, Any]:
        """The Public API's problem body."""
        body: dict[str, Any] = {
            "status": self.status,
            "type": self.type,
            "title": self.title,
            "detail": self.detail,
        }
        if self.data is not None:
            body["data"] = self.data
        return body

    def config_body(self) -> dict[str, Any]:
        """The Config API's error body (``KnownExceptionInfo`` and its kin)."""
        body: dict[str, Any] = {
            "message": self.detail,
            "exceptionClassName": _CONFIG_EXCEPTIONS.get(
                self.status,
                _KNOWN,
            ),
            "exceptionStack": [],
        }
        if self.status == 422:
            body["validationErrors"] = [
                {"propertyPath": e.get("path", ""), "message": e.get("message", "")}
                for e in (self.data or {}).get("errors", [])
            ]
        elif self.status == 404 and self.data and self.data.get("resourceId"):
            body["id"] = str(self.data["resourceId"])
        return body


_CONFIG_EXCEPTIONS = {
    400: "io.airbyte.commons.server.errors.BadObjectSchemaKnownException",
    401: "io.micronaut.security.authentication.AuthenticationException",
    403: "io.airbyte.commons.server.errors.ForbiddenException",
    404: "io.airbyte.commons.server.errors.IdNotFoundKnownException",
    409: "io.airbyte.commons.server.errors.ConflictException",
    422: "io.airbyte.commons.server.errors.InvalidInputExceptionMapper",
    429: "io.airbyte.commons.server.errors.TooManyRequestsException",
}


def _message_data(detail: str, data: dict[str, Any] | None) -> dict[str, Any]:
    # ProblemMessageData requires ``message``; extra keys (``errors``) are allowed.
    return {"message": detail, **(data or {})}


def bad_request(detail: str, data: dict[str, Any] | None = None) -> ApiProblem:
    return ApiProblem(
        400,
        "bad-request",
        f"{ERRORS_URL}#bad-request",
        detail,
        _message_data(detail, data),
    )


def unauthorized(detail: str) -> ApiProblem:
    return ApiProblem(
        401,
        "invalid-api-key",
        f"{ERRORS_URL}#invalid-api-key",
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="airbyte-console"'},
    )


def forbidden(detail: str) -> ApiProblem:
    return ApiProblem(
        403, "forbidden", f"{ERRORS_URL}#forbidden", detail, _message_data(detail, None)
    )


def not_found(
    detail: str, *, resource_type: str = "", resource_id: str = ""
) -> ApiProblem:
    data: dict[str, Any] = {"resourceId": str(resource_id)}
    if resource_type:
        data["resourceType"] = resource_type
    return ApiProblem(
        404, "resource-not-found", f"{ERRORS_URL}#resource-not-found", detail, data
    )


def conflict(detail: str, data: dict[str, Any] | None = None) -> ApiProblem:
    return ApiProblem(
        409,
        "state-conflict",
        f"{ERRORS_URL}#409-state-conflict",
        detail,
        _message_data(detail, data),
    )


def try_again_later(detail: str) -> ApiProblem:
    return ApiProblem(
        409,
        "try-again-later",
        f"{ERRORS_URL}#try-again-later",
        detail,
        _message_data(detail, None),
    )


def unprocessable(detail: str, data: dict[str, Any] | None = None) -> ApiProblem:
    return ApiProblem(
        422,
        "unprocessable-entity",
        f"{ERRORS_URL}#unprocessable-entity",
        detail,
        _message_data(detail, data),
    )


def too_many_requests(retry_after: int, detail: str = "") -> ApiProblem:
    # Airbyte's problems file has no 429; the shape is the common one.
    detail = detail or (
        f"Too many requests with this token; try again in {retry_after} s."
    )
    return ApiProblem(
        429,
        "rate-limited",
        f"{ERRORS_URL}#rate-limited",
        detail,
        _message_data(detail, None),
        headers={"Retry-After": str(retry_after)},
    )


def unexpected(detail: str) -> ApiProblem:
    return ApiProblem(
        500, "unexpected-problem", ERRORS_URL, detail, _message_data(detail, None)
    )


def service_unavailable(detail: str) -> ApiProblem:
    return ApiProblem(503, "service-unavailable", ERRORS_URL, detail)


def validation_errors(exc: ValidationError) -> list[dict[str, str]]:
    """Django's ValidationError as ``[{"path", "message"}]``, one entry per message.

    A message written as ``"/json/pointer: text"`` (how the connector spec checks
    report a config problem) is split into its path and its text.
    """
    errors: list[dict[str, str]] = []
    if hasattr(exc, "error_dict"):
        for name, items in exc.error_dict.items():
            for item in items:
                for message in item.messages:
                    errors.append(_entry(message, default_path=name))
    else:
        for message in exc.messages:
            errors.append(_entry(message, default_path=""))
    return errors


def _entry(message: str, *, default_path: str) -> dict[str, str]:
    if message.startswith("/") and ": " in message:
        path, text = message.split(": ", 1)
        return {"path": path, "message": text}
    path = "" if default_path == "__all__" else default_path
    return {"path": path, "message": message}


def problem_from_validation(exc: ValidationError, status: int = 400) -> ApiProblem:
    """A service's ValidationError as a problem; ``data.errors`` lists each message."""
    errors = validation_errors(exc)
    detail = "; ".join(
        f"{e['path']}: {e['message']}" if e["path"] else e["message"] for e in errors
    )
    build = unprocessable if status == 422 else bad_request
    return build(detail or "The request is not valid.", {"errors": errors})
