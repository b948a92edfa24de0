"""What every endpoint shares: the call, the reply, errors and lookups.

Handlers run with the fake's lock held and return a ``Reply``; they raise
``ApiError`` for errors, which the server renders as a Public API problem or a
Config API ``KnownExceptionInfo`` depending on where the request went.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jsonschema import Draft7Validator

from tests.airbyte_fake.state import (
    Actor,
    Connection,
    Definition,
    Job,
    State,
    Workspace,
)

if TYPE_CHECKING:
    from tests.airbyte_fake.server import AirbyteFake


@dataclass
class Reply:
    """What a handler answers; ``body`` is JSON-able, or bytes/str sent as is."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    # Why this reply may break the spec on purpose; its findings are then tolerated.
    tolerate: str | None = None

    def encode(self) -> tuple[bytes, str]:
        if self.status == 204 or self.body is None:
            return b"", ""
        if isinstance(self.body, bytes):
            return self.body, self.content_type
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type
        return json.dumps(self.body).encode(), self.content_type


class ApiError(Exception):
    """An error: ``title`` and ``data`` make the problem, ``config`` the Config body."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        data: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.data = data if data is not None else {"message": detail}
        self.config = config


def scripted(*jobs: Job) -> str | None:
    """The tolerance for jobs whose test asked for out-of-spec values."""
    if any(job.script.allow_invalid_response for job in jobs):
        return "scripted with allow_invalid_response=True"
    return None


def not_found(resource_type: str, resource_id: Any) -> ApiError:
    detail = f"Could not find a {resource_type} with id {resource_id}."
    return ApiError(
        404,
        "resource-not-found",
        detail,
        data={"resourceType": resource_type, "resourceId": str(resource_id)},
        config={"message": detail, "id": str(resource_id)},
    )


def bad_request(detail: str) -> ApiError:
    return ApiError(400, "bad-request", detail)


@dataclass
class Call:
    """One request as a handler sees it."""

    fake: AirbyteFake
    api: str
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: Any

    @property
    def state(self) -> State:
        return self.fake.state

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        # Repeated keys are the spec's form; comma-joined values are what the
        # server's own links use, so both are read.
        return [part for value in self.query.get(name, []) for part in value.split(",")]

    def int_arg(self, name: str, default: int) -> int:
        value = self.arg(name)
        try:
            return int(value) if value is not None else default
        except ValueError:
            raise bad_request(f"{name} must be an integer") from None

    def bool_arg(self, name: str) -> bool:
        return (self.arg(name) or "").lower() == "true"

    def field(self, name: str, default: Any = None) -> Any:
        return self.body.get(name, default) if isinstance(self.body, dict) else default


def workspace_or_404(call: Call, workspace_id: str | None) -> Workspace:
    workspace = call.state.workspaces.get(workspace_id or "")
    if workspace is None or workspace.deleted:
        raise not_found("workspace", workspace_id)
    return workspace


def definition_or_404(call: Call, definition_id: str | None, kind: str) -> Definition:
    definition = call.state.definitions.get(definition_id or "")
    if definition is None or definition.kind != kind:
        raise not_found(f"{kind}_definition", definition_id)
    return definition


def actor_or_404(call: Call, kind: str, actor_id: str | None) -> Actor:
    store = call.state.sources if kind == "source" else call.state.destinations
    actor = store.get(actor_id or "")
    if actor is None or actor.deleted:
        raise not_found(kind, actor_id)
    return actor


def connection_or_404(call: Call, connection_id: str | None) -> Connection:
    connection = call.state.connections.get(connection_id or "")
    if connection is None:
        raise not_found("connection", connection_id)
    return connection


def job_or_404(call: Call, job_id: Any) -> Job:
    try:
        job = call.state.jobs.get(int(job_id))
    except (TypeError, ValueError):
        job = None
    if job is None:
        raise not_found("job", job_id)
    return job


def config_errors(configuration: Any, definition: Definition) -> list[tuple[str, str]]:
    """(JSON path, message) for each way ``configuration`` misses the spec."""
    validator = Draft7Validator(definition.connection_specification)
    found = []
    for error in sorted(validator.iter_errors(configuration), key=str):
        path = "$" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}"
            for part in error.absolute_path
        )
        found.append((path, error.message))
    return found


def ensure_valid_config(configuration: Any, definition: Definition) -> None:
    errors = config_errors(configuration, definition)
    if errors:
        listed = "; ".join(f"{path}: {message}" for path, message in errors)
        detail = (
            "The provided configuration does not fulfill the specification. "
            f"Errors: {listed}"
        )
        raise ApiError(
            422,
            "unprocessable-entity",
            detail,
            config={
                "message": detail,
                "validationErrors": [
                    {"propertyPath": path, "message": message}
                    for path, message in errors
                ],
            },
        )


def issue_token(call: Call) -> tuple[str, int]:
    lifetime = int(call.fake.token_lifetime)
    claims = {
        "iss": "airbyte-server",
        "sub": call.fake.client_id,
        "exp": int(time.time()) + lifetime,
    }

    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    # JWT-shaped so a client that peeks at `exp` works; nobody checks the signature.
    token = ".".join(
        [part({"alg": "HS256", "typ": "JWT"}), part(claims), secrets.token_urlsafe(16)]
    )
    call.state.tokens[token] = time.monotonic() + lifetime
    return token, lifetime


def check_client(call: Call) -> None:
    if call.fake.auth_mode != "simple":
        # With auth disabled the server has no ApplicationService: nothing answers.
        raise not_found("endpoint", call.path)
    body = call.body if isinstance(call.body, dict) else {}
    if (body.get("client_id"), body.get("client_secret")) != (
        call.fake.client_id,
        call.fake.client_secret,
    ):
        # The real server answers a bare 400, no problem body (#12 point 9).
        raise ApiError(400, "", "")


def for_kind(kind: str, handler: Callable[[Call, str], Reply]) -> Callable:
    def bound(call: Call) -> Reply:
        return handler(call, kind)

    bound.__name__ = f"{handler.__name__}_{kind}"
    return bound
