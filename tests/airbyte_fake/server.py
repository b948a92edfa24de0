"""``AirbyteFake``: a real HTTP server on 127.0.0.1 that plays Airbyte 1.8.

See the package docstring for what it does; this module holds the HTTP plumbing,
authentication, fault injection and the bookkeeping tests assert on.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import json
import threading
import time
import traceback
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, parse_qsl, urlsplit

from tests.airbyte_fake.core import ApiError, Call, Reply, issue_token
from tests.airbyte_fake.public_api import build_streams
from tests.airbyte_fake.quirks import generic_detail, micronaut_error
from tests.airbyte_fake.routes import Route, match_route
from tests.airbyte_fake.state import (
    DEFAULT_WORKSPACE_ID,
    FAKER_SOURCE_ID,
    Actor,
    Connection,
    Definition,
    Job,
    JobScript,
    State,
    Workspace,
    new_id,
)
from tests.airbyte_fake.validation import (
    CONFIG_PREFIX,
    PUBLIC_PREFIX,
    Exchange,
    Findings,
    Specs,
    check_request,
    check_response,
    load_specs,
)


class RecordedRequest(NamedTuple):
    """One request the fake received; ``query`` maps a key to one value or a list."""

    method: str
    path: str
    query: dict[str, Any]
    json: Any


class Violation(NamedTuple):
    """A request or response that does not match the spec."""

    method: str
    path: str
    error: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}: {self.error}"


@dataclass
class _Rule:
    """A queued fault or delay for requests matching ``method`` and ``pattern``."""

    method: str
    pattern: str
    times: int
    status: int = 0
    problem: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    body: bytes | str | None = None
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and fnmatch.fnmatchcase(path, self.pattern)


# The problem an injected fault carries when the test names none.
_DEFAULT_PROBLEMS = {
    400: "bad-request",
    401: "invalid-api-key",
    403: "forbidden",
    404: "resource-not-found",
    408: "Request timeout exceeded",
    409: "try-again-later",
    422: "unprocessable-entity",
    500: "unexpected-problem",
    501: "API not implemented in Airbyte OSS",
    503: "service-unavailable",
}


# Problem types whose `data` is ProblemMessageData ({"message": ...}).
_MESSAGE_DATA_TITLES = {
    "bad-request",
    "forbidden",
    "state-conflict",
    "try-again-later",
    "unexpected-problem",
    "unprocessable-entity",
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real server
    server_version = "AirbyteFake/1.8"
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle plus the
    # client's delayed ACK add 40 ms to every keep-alive response.
    disable_nagle_algorithm = True

    def _any(self) -> None:
        self.server.fake._serve(self)  # type: ignore[attr-defined]

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read fake.requests instead of a noisy stderr


class AirbyteFake:
    """An in-memory Airbyte 1.8 whose every request and response is spec-checked."""

    def __init__(self, specs_directory: Path | None = None) -> None:
        self.specs: Specs = load_specs(specs_directory)
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> AirbyteFake:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="airbyte-fake",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> AirbyteFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("AirbyteFake is not running; call start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def reset(self) -> None:
        """Back to a fresh instance: data, settings, scripts, faults and records."""
        with self.lock:
            self.state = State()
            self.version = "1.8.0"
            self.auth_mode = "simple"  # or "none" (abctl --disable-auth)
            self.client_id = "console-client"
            self.client_secret = "console-secret"
            self.token_lifetime = 900
            self.empty_401_body = False
            self.basic_auth: tuple[str, str] | None = None
            self.bad_password = "wrong-password"
            self.discover_failure: str | None = None
            self.public_api_host = "http://localhost:8001/api/public"
            self.next_on_last_page = True
            self.null_sync_modes = False
            self.max_request_bytes = 10 * 1024 * 1024  # Micronaut max-request-size
            self.violations: list[Violation] = []
            self.tolerated: list[str] = []
            self.requests: list[RecordedRequest] = []
            self.validation_seconds = 0.0
            self.validations = 0
            self._faults: list[_Rule] = []
            self._delays: list[_Rule] = []
            self._after_store: list[_Rule] = []
            # Polls a cancelled job still reads "running" (the server stops its
            # pods first); 0: cancelled at once.
            self.cancel_polls = 0

    # --- what tests read ------------------------------------------------------------

    @property
    def definitions(self) -> dict[str, Definition]:
        return self.state.definitions

    @property
    def workspaces(self) -> dict[str, Workspace]:
        return self.state.workspaces

    @property
    def sources(self) -> dict[str, Actor]:
        return self.state.sources

    @property
    def destinations(self) -> dict[str, Actor]:
        return self.state.destinations

    @property
    def connections(self) -> dict[str, Connection]:
        return self.state.connections

    @property
    def jobs(self) -> dict[int, Job]:
        return self.state.jobs

    def calls(
        self, method: str = "*", path_pattern: str = "*"
    ) -> list[RecordedRequest]:
        """Recorded requests matching a method and an fnmatch pattern on the path."""
        rule = _Rule(method=method.upper(), pattern=path_pattern, times=0)
        with self.lock:
            return [r for r in self.requests if rule.matches(r.method, r.path)]

    def check_violations(self) -> None:
        """Raise AssertionError listing every spec violation seen so far."""
        with self.lock:
            found = list(self.violations)
        if found:
            listed = "\n".join(f"  - {v}" for v in found)
            raise AssertionError(
                f"Airbyte fake saw {len(found)} spec violation(s):\n{listed}"
            )

    # --- what tests set up ----------------------------------------------------------

    def script_next_job(
        self,
        steps: list[str] | None = None,
        *,
        rows: int = 100,
        bytes: int | None = None,
        failure: dict[str, Any] | None = None,
        attempt_failures: list[dict[str, Any]] | None = None,
        connection_id: str | None = None,
        allow_invalid_response: bool = False,
    ) -> JobScript:
        """Queue the behaviour of the next job (on ``connection_id``, or any).

        ``POST /jobs`` shows ``steps[0]``; each observation (``GET /jobs/{id}``,
        Config ``jobs/get*``) shows the next step, and the last one then stays.
        ``rows`` are reached on ``succeeded`` and grow across ``running`` steps.
        """
        script = JobScript(
            rows=rows,
            bytes=bytes,
            failure=copy.deepcopy(failure),
            attempt_failures=copy.deepcopy(attempt_failures or []),
            allow_invalid_response=allow_invalid_response,
        )
        if steps is not None:
            script.steps = list(steps)
        with self.lock:
            if connection_id:
                self.state.connection_scripts.setdefault(connection_id, []).append(
                    script
                )
            else:
                self.state.scripts.append(script)
        return script

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int,
        problem: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
        body: bytes | str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status``.

        ``path_pattern`` is an fnmatch pattern on the full path, e.g.
        ``/api/public/v1/jobs/*``. ``problem`` fields override the default problem
        (Public API) or make up the whole body (Config API); ``body`` sends raw
        bytes instead. ``status=0`` drops the connection without an answer.
        """
        with self.lock:
            self._faults.append(
                _Rule(
                    method=method.upper(),
                    pattern=path_pattern,
                    times=times,
                    status=status,
                    problem=copy.deepcopy(problem),
                    headers=dict(headers or {}),
                    body=body,
                )
            )

    def delay_next(
        self, method: str, path_pattern: str, seconds: float, times: int = 1
    ) -> None:
        """Sleep ``seconds`` before answering the next ``times`` matching requests."""
        with self.lock:
            self._delays.append(
                _Rule(
                    method=method.upper(),
                    pattern=path_pattern,
                    times=times,
                    seconds=seconds,
                )
            )

    def fail_after_store(
        self,
        method: str,
        path_pattern: str,
        status: int,
        *,
        seconds: float = 0.0,
        times: int = 1,
    ) -> None:
        """Handle the next ``times`` matching requests (the object is stored), then
        answer ``status`` instead, after ``seconds``; status 0 sends nothing (with
        ``seconds`` beyond the client's timeout: a create that timed out). What the
        real server does when the insert commits and the answer is lost, or when
        an exception follows the insert (#12 point 7)."""
        with self.lock:
            self._after_store.append(
                _Rule(
                    method=method.upper(),
                    pattern=path_pattern,
                    times=times,
                    status=status,
                    seconds=seconds,
                )
            )

    def expire_tokens(self) -> None:
        """Every token issued so far stops working now."""
        with self.lock:
            self.state.tokens.clear()

    def issue_token(self) -> str:
        """A valid token without the HTTP exchange, for tests that need one."""
        with self.lock:
            token, _ = issue_token(self._call("public", "POST", "", None))
        return token

    # Seeding helpers: create data directly, as if another client had made it.

    def seed_workspace(self, name: str = "Seeded workspace") -> Workspace:
        with self.lock:
            workspace = Workspace(id=new_id(), name=name)
            self.state.workspaces[workspace.id] = workspace
            return workspace

    def seed_actor(
        self,
        kind: str,
        *,
        name: str,
        definition_id: str,
        configuration: dict[str, Any],
        workspace_id: str = DEFAULT_WORKSPACE_ID,
    ) -> Actor:
        with self.lock:
            actor = Actor(
                id=new_id(),
                kind=kind,
                name=name,
                definition_id=definition_id,
                workspace_id=workspace_id,
                configuration=copy.deepcopy(configuration),
            )
            store = self.state.sources if kind == "source" else self.state.destinations
            store[actor.id] = actor
            return actor

    def seed_connection(
        self, source: Actor, destination: Actor, *, name: str | None = None
    ) -> Connection:
        with self.lock:
            streams = build_streams(
                self.state.definitions[source.definition_id],
                self.state.definitions[destination.definition_id],
                None,
            )
            connection = Connection(
                id=new_id(),
                name=name or f"{source.name} → {destination.name}",
                source_id=source.id,
                destination_id=destination.id,
                workspace_id=source.workspace_id,
                streams=streams,
            )
            self.state.connections[connection.id] = connection
            return connection

    # --- decisions the server takes on its own (#12 points 5 and 6) ----------------

    def delete_on_server(self, kind: str, object_id: str) -> None:
        """Delete as Airbyte's UI does: a source or destination becomes a tombstone
        (200 with its configuration emptied), its connections and a deleted
        connection read back as ``deprecated`` (a PATCH with ``active`` revives)."""
        with self.lock:
            if kind == "connection":
                self.state.connections[object_id].status = "deprecated"
                return
            store = self.state.sources if kind == "source" else self.state.destinations
            actor = store[object_id]
            actor.deleted = True
            actor.configuration = {}
            for connection in self.state.connections.values():
                if object_id in (connection.source_id, connection.destination_id):
                    connection.status = "deprecated"

    def disable_on_server(self, connection_id: str) -> None:
        """Airbyte turns a connection off by itself (a breaking schema change,
        repeated failures): ``inactive``, which a PATCH with ``active`` undoes."""
        with self.lock:
            self.state.connections[connection_id].status = "inactive"

    def seed_faker_source(self, name: str = "Faker", count: int = 100) -> Actor:
        return self.seed_actor(
            "source",
            name=name,
            definition_id=FAKER_SOURCE_ID,
            configuration={"count": count, "seed": 1},
        )

    # --- HTTP -----------------------------------------------------------------------

    def _call(self, api: str, method: str, path: str, body: Any, **kw: Any) -> Call:
        return Call(
            fake=self,
            api=api,
            method=method,
            path=path,
            params=kw.get("params", {}),
            query=kw.get("query", {}),
            body=body,
        )

    def _record(self, exchange: Exchange, findings: Findings) -> None:
        with self.lock:
            self.validations += 1
            self.validation_seconds += findings.seconds
            for error in findings.violations:
                self.violations.append(Violation(exchange.method, exchange.path, error))
            for note in findings.tolerated:
                self.tolerated.append(f"{exchange.method} {exchange.path}: {note}")

    def _take(self, rules: list[_Rule], method: str, path: str) -> _Rule | None:
        with self.lock:
            for rule in rules:
                if rule.matches(method, path):
                    rule.times -= 1
                    if rule.times <= 0:
                        rules.remove(rule)
                    return rule
        return None

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        exchange = Exchange(
            method=handler.command,
            path=split.path,
            query=split.query,
            headers=dict(handler.headers.items()),
            body=handler.rfile.read(length) if length else b"",
            content_type=handler.headers.get("Content-Type", ""),
        )
        parsed = _parse_body(exchange)
        query = parse_qs(split.query, keep_blank_values=True)
        with self.lock:
            self.requests.append(
                RecordedRequest(
                    exchange.method,
                    exchange.path,
                    {k: v[0] if len(v) == 1 else v for k, v in query.items()},
                    parsed,
                )
            )
        request_findings = check_request(self.specs, exchange)
        self._record(exchange, request_findings)

        delay = self._take(self._delays, exchange.method, exchange.path)
        if delay:
            time.sleep(delay.seconds)
        fault = self._take(self._faults, exchange.method, exchange.path)
        too_big = len(exchange.body) > self.max_request_bytes
        if too_big and not fault:  # Micronaut refuses it before Airbyte sees it
            fault = _Rule(exchange.method, exchange.path, 0, status=413)
            fault.body = json.dumps(
                micronaut_error(
                    "Request Entity Too Large",
                    exchange.path,
                    f"The content length [{len(exchange.body)}] exceeds the maximum "
                    f"allowed content length [{self.max_request_bytes}]",
                )
            )
            fault.headers = {"Content-Type": "application/json"}
        if fault and fault.status == 0:
            handler.close_connection = True
            return
        if fault:
            reply = self._fault_reply(exchange, fault)
        else:
            reply = self._dispatch(exchange, parsed, query, request_findings)
            after = self._take(self._after_store, exchange.method, exchange.path)
            if after is not None:  # stored, but the answer is lost (#12 point 7)
                time.sleep(after.seconds)
                if after.status == 0:
                    handler.close_connection = True
                    return
                fault = after
                reply = self._fault_reply(exchange, after)

        payload, content_type = reply.encode()
        response_findings = check_response(
            self.specs,
            exchange,
            status=reply.status,
            body=payload,
            content_type=content_type,
            injected=fault is not None,
        )
        if reply.tolerate and response_findings.violations:
            response_findings.tolerated += [
                f"{v} [{reply.tolerate}]" for v in response_findings.violations
            ]
            response_findings.violations = []
        self._record(exchange, response_findings)

        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if content_type:
            handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _dispatch(
        self,
        exchange: Exchange,
        parsed: Any,
        query: dict[str, list[str]],
        request_findings: Findings,
    ) -> Reply:
        api = exchange.api
        if api is None:
            return Reply(status=404, body={"message": "Not Found"})
        prefix = PUBLIC_PREFIX if api == "public" else CONFIG_PREFIX
        suffix = exchange.path[len(prefix) :] or "/"
        matched = match_route(api, exchange.method, suffix)
        if matched is None:
            if not request_findings.violations:
                self._record(
                    exchange,
                    Findings(violations=["the fake does not implement this operation"]),
                )
            return self._error(
                api, ApiError(404, "resource-not-found", f"No route for {suffix}")
            )
        route, params = matched
        denied = self._authenticate(exchange, route)
        if denied is not None:
            return denied
        if request_findings.violations:
            return self._invalid_request(api, request_findings.violations)
        call = self._call(
            api, exchange.method, exchange.path, parsed, params=params, query=query
        )
        try:
            with self.lock:
                return route.handler(call)
        except ApiError as error:
            return self._error(api, error)
        except Exception:  # a bug in the fake: make it loud, keep serving
            self._record(
                exchange,
                Findings(violations=[f"the fake crashed:\n{traceback.format_exc()}"]),
            )
            return self._error(api, ApiError(500, "unexpected-problem", "Fake crashed"))

    def _authenticate(self, exchange: Exchange, route: Route) -> Reply | None:
        header = next(
            (v for k, v in exchange.headers.items() if k.lower() == "authorization"), ""
        )
        if self.basic_auth is not None:
            # Old installs: a proxy in front of everything but health checks.
            if route.template == "/health":
                return None
            user, password = self.basic_auth
            expected = base64.b64encode(f"{user}:{password}".encode()).decode()
            if header != f"Basic {expected}":
                return Reply(
                    status=401,
                    headers={"WWW-Authenticate": 'Basic realm="Airbyte"'},
                )
            return None
        if route.anonymous or self.auth_mode != "simple":
            return None
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        with self.lock:
            expiry = self.state.tokens.get(token)
        if expiry is not None and expiry > time.monotonic():
            return None
        if self.empty_401_body:
            return Reply(status=401)
        return Reply(
            status=401,
            body=self._problem(
                401,
                "invalid-api-key",
                "The API key in the Authorization header is invalid.",
                None,
            ),
        )

    def _problem(
        self, status: int, title: str, detail: str, data: dict[str, Any] | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": status,
            "type": self.specs.problem_type_url(title),
            "title": title,
            "detail": detail,
        }
        if data is not None:
            body["data"] = data
        return body

    def _error(self, api: str, error: ApiError) -> Reply:
        if not error.title:
            return Reply(status=error.status)  # a bare status, no body (quirks)
        if api == "public" or error.status == 401:
            # The real server keeps its type's generic detail; the reason is in
            # data.message (see quirks).
            detail = generic_detail(self.specs, error.title) or error.detail
            body = self._problem(error.status, error.title, detail, error.data)
        else:
            body = error.config or {"message": error.detail}
        return Reply(status=error.status, body=body)

    def _invalid_request(self, api: str, violations: list[str]) -> Reply:
        detail = "The request does not match the Airbyte API spec: " + "; ".join(
            violations
        )
        if api == "public":
            return self._error(api, ApiError(400, "bad-request", detail))
        return Reply(
            status=400,
            body={
                "message": "Some properties contained invalid input.",
                "validationErrors": [
                    {"propertyPath": "body", "message": text} for text in violations
                ],
            },
        )

    def _fault_reply(self, exchange: Exchange, rule: _Rule) -> Reply:
        headers = dict(rule.headers or {})
        if rule.body is not None:
            content_type = headers.pop("Content-Type", "text/plain")
            return Reply(
                status=rule.status,
                body=rule.body,
                headers=headers,
                content_type=content_type,
            )
        if exchange.api == "config" and rule.status != 401:
            body = rule.problem or {"message": f"Injected failure ({rule.status})"}
            return Reply(status=rule.status, body=body, headers=headers)
        problem = rule.problem or {}
        title = problem.get("title") or _DEFAULT_PROBLEMS.get(
            rule.status, HTTPStatus(rule.status).phrase.lower().replace(" ", "-")
        )
        detail = problem.get("detail") or f"Injected failure ({title})"
        data = {"message": detail} if title in _MESSAGE_DATA_TITLES else None
        body = {**self._problem(rule.status, title, detail, data), **problem}
        return Reply(status=rule.status, body=body, headers=headers)


def _parse_body(exchange: Exchange) -> Any:
    if not exchange.body:
        return None
    text = exchange.body.decode("utf-8", "replace")
    if "x-www-form-urlencoded" in exchange.content_type:
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        return json.loads(text)
    except ValueError:
        return text
