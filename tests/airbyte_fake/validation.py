"""Checks the fake's traffic against Airbyte's official OpenAPI specs (v1.8.0).

The specs are read from disk (never copied into the repo) and parsed once per
process. Requests and responses go through openapi-core; Public API error bodies are
checked against the RFC 9457 problem types of ``api-problems.v1.8.0.yaml``.

Everything that is not checked strictly is listed here, each with its reason:

* ``SPEC_DEFECTS``: two places where no payload can satisfy the spec itself.
* Public API error statuses that an operation does not declare (the public spec
  declares almost no error responses, and none with a body): the body must instead
  be one of the problem types, with its constant ``type``, ``title`` and ``status``.
* Config API error statuses that an operation does not declare: the body must be a
  ``KnownExceptionInfo``. A 401 comes from the security filter in front of both APIs,
  so its body (when there is one) must be the ``invalid-api-key`` problem.
* Injected faults (``fail_next``) with a status the operation does not declare are
  deliberate and not checked, unless their body names a known problem type.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.datatypes import PathOperationServer
from openapi_core.templating.paths.exceptions import PathError
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.templating.responses.exceptions import ResponseFinderError
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from werkzeug.datastructures import ImmutableMultiDict

from tests.airbyte_fake.locate import (
    CONFIG_SPEC,
    PROBLEMS_SPEC,
    PUBLIC_SPEC,
    specs_dir,
)

PUBLIC_PREFIX = "/api/public/v1"
CONFIG_PREFIX = "/api/v1"
# The servers the specs declare; requests are rewritten onto them for matching.
PUBLIC_SERVER = "https://api.airbyte.com"  # + "/v1" + path suffix
CONFIG_SERVER = "http://localhost:8000"  # + "/api/v1/..." unchanged


def _read_yaml(path: Path) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open("rb") as handle:
        return yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader


@dataclass(frozen=True)
class ProblemType:
    """One ``*ProblemResponse`` of api-problems.yaml with its constant fields."""

    schema_name: str
    status: int | None
    type: str | None
    title: str


@dataclass
class Specs:
    """The three parsed specs of one directory."""

    directory: Path
    public: OpenAPI
    config: OpenAPI
    config_components: dict[str, Any]
    problem_components: dict[str, Any]
    load_seconds: float

    @cached_property
    def problems_by_title(self) -> dict[str, list[ProblemType]]:
        found: dict[str, list[ProblemType]] = {}
        for name, schema in self.problem_components.get("schemas", {}).items():
            if not name.endswith("ProblemResponse"):
                continue
            props: dict[str, Any] = {}
            for part in schema.get("allOf", []):
                props.update(part.get("properties", {}))
            title = props.get("title", {}).get("default")
            if title:
                found.setdefault(title, []).append(
                    ProblemType(
                        schema_name=name,
                        status=props.get("status", {}).get("default"),
                        type=props.get("type", {}).get("default"),
                        title=title,
                    )
                )
        return found

    def problem_type_url(self, title: str) -> str:
        for problem in self.problems_by_title.get(title, []):
            if problem.type:
                return problem.type
        return "about:blank"

    def schema_validator(self, which: str, name: str) -> OAS30Validator:
        components = (
            self.problem_components if which == "problems" else self.config_components
        )
        key = (which, name)
        with _LOCK:
            validator = self._validators.get(key)
            if validator is None:
                validator = OAS30Validator(
                    {
                        "components": components,
                        "allOf": [{"$ref": f"#/components/schemas/{name}"}],
                    },
                    format_checker=oas30_format_checker,
                )
                self._validators[key] = validator
        return validator

    @cached_property
    def _validators(self) -> dict[tuple[str, str], OAS30Validator]:
        return {}


class _MemoPathFinder(APICallPathFinder):
    """Remembers path lookups: the Config API has ~700 paths to try per request."""

    def __init__(self, spec: Any, base_url: str | None = None) -> None:
        super().__init__(spec, base_url=base_url)
        self._memo: dict[tuple[str, str], PathOperationServer] = {}

    def find(self, method: str, name: str) -> PathOperationServer:
        key = (method, name)
        found = self._memo.get(key)
        if found is None:
            found = super().find(method, name)  # a miss raises and is not kept
            if len(self._memo) > 4096:
                self._memo.clear()
            self._memo[key] = found
        return found


_LOCK = threading.RLock()
_SPECS: dict[Path, Specs] = {}


def load_specs(directory: Path | None = None) -> Specs:
    """Parse the specs of ``directory`` (default ``specs_dir()``), once per process."""
    directory = directory or specs_dir()
    if directory is None:
        raise FileNotFoundError("Airbyte API specs not found (AIRBYTE_API_SPECS_DIR)")
    with _LOCK:
        cached = _SPECS.get(directory)
        if cached is not None:
            return cached
        started = time.perf_counter()
        # The specs fail openapi-spec-validator (the public one has a dangling $ref
        # to DataplaneCreateResponseBody, the config one a `default: null` on a
        # non-nullable string). That is about the documents, not about traffic, so
        # the document check is off; request and response checks stay strict.
        config = Config(spec_validator_cls=None, path_finder_cls=_MemoPathFinder)
        public_doc = _read_yaml(directory / PUBLIC_SPEC)
        config_doc = _read_yaml(directory / CONFIG_SPEC)
        problems_path = directory / PROBLEMS_SPEC
        problems_doc = _read_yaml(problems_path) if problems_path.is_file() else {}
        specs = Specs(
            directory=directory,
            public=OpenAPI.from_dict(public_doc, config=config),
            config=OpenAPI.from_dict(config_doc, config=config),
            config_components=config_doc.get("components", {}),
            problem_components=problems_doc.get("components", {}),
            load_seconds=0.0,
        )
        specs.load_seconds = time.perf_counter() - started
        _SPECS[directory] = specs
        return specs


# --- what was sent -----------------------------------------------------------------


@dataclass
class Exchange:
    """One HTTP request as the fake received it."""

    method: str
    path: str
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_type: str = ""

    @property
    def api(self) -> str | None:
        if self.path == PUBLIC_PREFIX or self.path.startswith(PUBLIC_PREFIX + "/"):
            return "public"
        if self.path.startswith(CONFIG_PREFIX + "/"):
            return "config"
        return None

    def openapi_request(self) -> MockRequest:
        if self.api == "public":
            host, path = PUBLIC_SERVER, "/v1" + self.path[len(PUBLIC_PREFIX) :]
        else:
            host, path = CONFIG_SERVER, self.path
        request = MockRequest(
            host,
            self.method.lower(),
            path,
            headers=self.headers,
            data=self.body,
            content_type=self.content_type.lower(),
        )
        # MockRequest takes a dict; a MultiDict keeps repeated keys (workspaceIds).
        request.parameters.query = ImmutableMultiDict(
            parse_qsl(self.query, keep_blank_values=True)
        )
        return request


@dataclass
class Findings:
    """What one check found: violations fail the test, tolerated ones are noted."""

    violations: list[str] = field(default_factory=list)
    tolerated: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class SpecDefect:
    """A spec error that no payload can satisfy, matched by its exact message."""

    api: str
    message: str
    why: str
    form_only: bool = False


SPEC_DEFECTS = (
    SpecDefect(
        api="config",
        message="'json_schema' is a required property",
        why=(
            "AirbyteStream requires `json_schema` but declares only `jsonSchema` and "
            "forbids additional properties; the server sends `jsonSchema`"
        ),
    ),
    SpecDefect(
        api="public",
        message="'grant_type' is a required property",
        why=(
            "ApplicationTokenRequestWithGrant declares `grant-type` but requires "
            "`grant_type`; openapi-core decodes only declared keys of a form body, "
            "so a form that does send grant_type cannot pass"
        ),
        form_only=True,
    ),
)


def _defect_for(
    api: str, error: Any, exchange: Exchange, *, response: bool
) -> SpecDefect | None:
    message = getattr(error, "message", None)
    for defect in SPEC_DEFECTS:
        if defect.api != api or defect.message != message:
            continue
        if defect.form_only:
            sent = dict(parse_qsl(exchange.body.decode("utf-8", "replace")))
            if response or "x-www-form-urlencoded" not in exchange.content_type:
                continue
            if sent.get("grant_type") != "client_credentials":
                continue
        return defect
    return None


def _short(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _classify(
    exc: Exception, api: str, exchange: Exchange, findings: Findings, *, response: bool
) -> None:
    """Split one openapi-core error into violations and known spec defects."""
    what = "response" if response else "request"
    cause = exc.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    if not schema_errors:
        detail = f"{exc}" + (f" ({cause})" if cause else "")
        findings.violations.append(_short(f"{what}: {detail}"))
        return
    label = type(exc).__name__
    for error in schema_errors:
        where = "/".join(str(part) for part in error.absolute_path) or "<root>"
        text = _short(f"{what}: {label} at {where}: {error.message}")
        defect = _defect_for(api, error, exchange, response=response)
        if defect:
            findings.tolerated.append(f"{text} [spec defect: {defect.why}]")
        else:
            findings.violations.append(text)


def check_request(specs: Specs, exchange: Exchange) -> Findings:
    """Validate a request against its API's spec."""
    findings = Findings()
    api = exchange.api
    if api is None:
        findings.violations.append(
            f"request: {exchange.path} is under neither {PUBLIC_PREFIX} nor "
            f"{CONFIG_PREFIX}"
        )
        return findings
    app = specs.public if api == "public" else specs.config
    started = time.perf_counter()
    with _LOCK:
        errors = list(app.iter_request_errors(exchange.openapi_request()))
    for exc in errors:
        _classify(exc, api, exchange, findings, response=False)
    findings.seconds = time.perf_counter() - started
    return findings


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def check_problem(specs: Specs, body: bytes, status: int) -> tuple[list[str], bool]:
    """Check an RFC 9457 body; returns (errors, whether the title is a known type)."""
    data = _json(body)
    if not isinstance(data, dict):
        return [f"response: problem body is not a JSON object: {body[:200]!r}"], False
    title = data.get("title")
    candidates = specs.problems_by_title.get(title) if isinstance(title, str) else None
    if not candidates:
        return [f"response: unknown problem title {title!r}"], False
    matching = [p for p in candidates if p.status == status] or candidates
    first_errors: list[str] = []
    for problem in matching:
        errors = [
            _short(
                f"response: {problem.schema_name} at "
                f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
            )
            for e in specs.schema_validator(
                "problems", problem.schema_name
            ).iter_errors(data)
        ]
        if problem.status is not None and status != problem.status:
            errors.append(
                f"response: HTTP {status} carries problem {title!r} of status "
                f"{problem.status}"
            )
        if "status" in data and data["status"] != status:
            errors.append(f"response: body status {data['status']} != HTTP {status}")
        if problem.type and data.get("type") not in (None, problem.type):
            errors.append(f"response: problem type {data.get('type')!r} for {title!r}")
        if not errors:
            return [], True
        first_errors = first_errors or errors
    return first_errors, True


def check_response(
    specs: Specs,
    exchange: Exchange,
    *,
    status: int,
    body: bytes,
    content_type: str,
    injected: bool = False,
) -> Findings:
    """Validate a response the fake is about to send (see the module docstring)."""
    findings = Findings()
    api = exchange.api
    if api is None:
        return findings
    app = specs.public if api == "public" else specs.config
    started = time.perf_counter()
    response = MockResponse(body, status_code=status, content_type=content_type)
    undeclared = False
    with _LOCK:
        errors = list(app.iter_response_errors(exchange.openapi_request(), response))
    for exc in errors:
        if isinstance(exc, PathError):
            continue  # an unknown path was already reported with the request
        if isinstance(exc, ResponseFinderError) and status >= 400:
            undeclared = True
            continue
        _classify(exc, api, exchange, findings, response=True)
    if status >= 400 and body.strip():
        if api == "public" or status == 401:
            errors_found, known = check_problem(specs, body, status)
            if known or not injected:
                findings.violations += errors_found
        elif undeclared and not injected:
            data = _json(body)
            validator = specs.schema_validator("config", "KnownExceptionInfo")
            findings.violations += [
                _short(f"response: KnownExceptionInfo: {e.message}")
                for e in validator.iter_errors(data)
            ]
    findings.seconds = time.perf_counter() - started
    return findings
