"""The one module that speaks HTTP to an Airbyte server (1.x, abctl or Helm).

Everything else in the console goes through ``AirbyteClient``. What it takes care of,
following the server's own behaviour (see Airbyte's API notes, §2-§7):

* Two APIs on one host: the Public API under ``/api/public/v1`` (REST, problem
  bodies) and the Config API under ``/api/v1`` (POST RPC, ``message`` bodies).
* Authentication: an application's client id and secret exchanged for a bearer
  token (``expires_in`` trusted, refreshed a minute before it runs out, fetched again
  once on a 401), basic auth for installs before 1.0 (legacy), or nothing when the
  server runs with auth disabled. Tokens are cached per process, so short tasks do
  not sign in anew. A server whose auth mode changed (a 401 while it was found
  without auth, a 404 from both token endpoints) is asked ``instance_configuration``
  again and followed (``_follow_auth_mode``).
* Explicit timeouts on every call; a long one for the calls that run connectors
  (check, discover, creating a connection) and cancel jobs, at most
  ``MAX_LONG_TIMEOUT`` (below abctl's 600 s ingress timeout).
* Errors in two kinds. ``AirbyteTransientError``: the network, a timeout, 429 or a
  5xx, retried here with exponential backoff and full jitter (``Retry-After`` wins;
  a 429 without it waits longer) a bounded number of times before it is raised.
  Creates are not idempotent: one that timed out or got a 5xx is raised at once
  with ``maybe_done`` for the caller to look for what it may have stored.
  ``AirbyteApiError``: the server understood and said no (a Public API
  ``unexpected-problem`` 500 included); it carries the problem's ``title`` and
  reason for the user and is never retried.
* An SSRF guard at connect time (``apps.core.pinned_transport``, shared with the
  catalog's icon downloads): the host is resolved, every address it has is
  checked by ``apps.core.netguard`` (loopback and private ones only with
  ``AIRBYTE_ALLOW_PRIVATE``; link-local and metadata never), and the request goes
  to that checked address, so a DNS answer that changes after the check cannot
  steer it elsewhere.
* Other servers' words are not echoed: an error carries the status, its standard
  reason, and only the ``title`` and reason of a JSON answer, cut short (a
  problem's ``data.message``, else its ``detail``; Micronaut's
  ``_embedded.errors[].message``; the Config API's ``message``); an HTML or text
  body is never shown. A probe can set a
  total ``deadline`` for all its calls.
* Pagination that does not trust ``next``: abctl builds those links from an
  internal address and sends one on the last page too, so offsets are rebuilt and
  a short page ends the walk.

The typed calls (``job_get``, ``connector_create``, ``definition_spec``, ...) answer
with the frozen dataclasses of ``shapes.py``, parsed once here; enum values the
console does not know are left as they are for the caller to show. The generic
``public()``, ``config()`` and ``paginate()`` stay for anything not typed (and
answer plain JSON).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from apps.airbyte.shapes import (
    REMOTE_CONNECTORS,
    CheckOutcome,
    ConnectorSpecification,
    DiscoverOutcome,
    RemoteAttempt,
    RemoteConnection,
    RemoteConnector,
    RemoteDefinition,
    RemoteJob,
    RemoteWorkspace,
    ServerInfo,
    attempts_from_api,
)
from apps.core import netguard
from apps.core.pinned_transport import PinnedTransport

if TYPE_CHECKING:
    from apps.airbyte.models import AirbyteServer

PUBLIC_PREFIX = "/api/public/v1"
CONFIG_PREFIX = "/api/v1"
PAGE_SIZE = 100  # the Public API's maximum
MAX_PAGES = 200  # 20,000 objects: twice Airbyte's own per-instance cap
DEFAULT_TOKEN_LIFETIME = 180.0  # what 1.0-1.5 servers report; used when absent
TOKEN_REFRESH_MARGIN = 60.0
USER_AGENT = "airbyte-console"
# abctl's ingress gives up on a request after 600 s and answers 504 itself, while
# the server goes on (a connection create still lands): the console's long timeout
# stays well below, so it is the console that decides and knows it may have landed.
MAX_LONG_TIMEOUT = 540.0
# A 429 without Retry-After: the server is throttling and did not say for how
# long, so the wait is at least this, not a jittered fraction of a second.
THROTTLED_MIN_WAIT = 5.0
# The most of another server's own words an error message quotes.
MAX_QUOTED = 300


class AirbyteError(Exception):
    """Something went wrong talking to Airbyte; ``message`` is safe to show a user."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        title: str = "",
        detail: str = "",
        data: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.title = title
        self.detail = detail
        self.data = data


class AirbyteTransientError(AirbyteError):
    """The server could not be reached or was busy, even after the retries.

    ``maybe_done``: a create that timed out or got a 5xx, not retried here (it is
    not idempotent): the server may have stored the object anyway, so the caller
    looks for it before creating again (``mirror._create_once``).
    """

    maybe_done = False


class AirbyteApiError(AirbyteError):
    """The server answered with a permanent error (4xx, or a bad token)."""

    @property
    def try_again_later(self) -> bool:
        """409 ``try-again-later``: a sync is already running for the connection."""
        return self.status == 409 and self.title in {"try-again-later", ""}

    @property
    def not_found(self) -> bool:
        return self.status == 404


class AirbyteAuthError(AirbyteApiError):
    """The server refused the console's credentials."""


class _TokenEndpointGone(AirbyteAuthError):
    """Both token endpoints answered 404: the server may run without auth now."""


class AirbyteAddressError(AirbyteError):
    """The server's address is one the console must not call (never retried)."""


def allow_private() -> bool:
    return bool(getattr(settings, "AIRBYTE_ALLOW_PRIVATE", False))


def address_refusal(url: str) -> str:
    """Why the console may not call the server at ``url`` ("" when it may).

    Resolves the host name: every address it has must be allowed. A name that does
    not resolve is not refused here (the connect says it cannot be reached).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        return ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        netguard.resolve(host, port, allow_private=allow_private())
    except netguard.BlockedAddress as exc:
        return _refused_words(str(exc))
    except (OSError, ValueError):
        return ""
    return ""


def _refused_words(reason: str) -> str:
    hint = (
        ""
        if allow_private()
        else " Airbyte servers on private or loopback addresses need "
        "AIRBYTE_ALLOW_PRIVATE=1 on the console."
    )
    return f"The console does not call this address: {reason}{hint}"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # retries after the first try
    base: float = 0.5
    cap: float = 30.0

    def delay(
        self, retry: int, retry_after: float | None = None, *, throttled: bool = False
    ) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.cap)
        if throttled:
            # A 429 that does not say how long: back off harder than for a blip,
            # doubling from THROTTLED_MIN_WAIT, jitter only in the upper half.
            high = min(self.cap, max(THROTTLED_MIN_WAIT, self.base * 8) * 2**retry)
            low = min(THROTTLED_MIN_WAIT, self.cap)
            return random.uniform(max(low, high / 2), max(low, high))  # noqa: S311
        # Jitter, not cryptography.
        return random.uniform(0, min(self.cap, self.base * 2**retry))  # noqa: S311


@dataclass
class _Token:
    value: str
    expires_at: float


# Bearer tokens per (url, client id), shared by the clients of one process.
_tokens: dict[tuple[str, str, str], _Token] = {}
_tokens_lock = threading.Lock()


def forget_tokens() -> None:
    """Drop every cached token (tests; a changed client secret)."""
    with _tokens_lock:
        _tokens.clear()


def normalize_url(url: str) -> str:
    """The server's root: people paste the UI address or an API base alike."""
    url = url.strip().rstrip("/")
    for suffix in (PUBLIC_PREFIX, CONFIG_PREFIX, "/api/public", "/api"):
        if url.endswith(suffix):
            url = url[: -len(suffix)]
            break
    return url.rstrip("/")


class AirbyteClient:
    """A synchronous client for one Airbyte server; use as a context manager."""

    def __init__(
        self,
        url: str,
        *,
        auth: str = "application",
        client_id: str = "",
        client_secret: str = "",
        username: str = "",
        password: str = "",
        timeout: float | None = None,
        long_timeout: float | None = None,
        retry: RetryPolicy | None = None,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        configured_auth: str = "",
        on_auth_mode: Callable[[str], None] | None = None,
    ) -> None:
        self.url = normalize_url(url)
        self.auth = auth
        # What the Engine page says to sign in with, when ``auth`` is "none" only
        # because the server was last found running without auth: followed when
        # the server's auth mode changes (see ``_follow_auth_mode``).
        self.configured_auth = configured_auth or auth
        self._on_auth_mode = on_auth_mode
        self.client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._sleep = sleep
        # Seconds all calls of this client may take together (an interactive
        # probe's budget); None: each call has only its own timeout.
        self._deadline_at = clock() + deadline if deadline else None
        self.timeout = timeout or settings.AIRBYTE_HTTP_TIMEOUT_SECONDS
        self.long_timeout = min(
            long_timeout or settings.AIRBYTE_LONG_TIMEOUT_SECONDS, MAX_LONG_TIMEOUT
        )
        self.retry = retry or RetryPolicy(
            attempts=settings.AIRBYTE_HTTP_RETRIES,
            base=settings.AIRBYTE_RETRY_BACKOFF_SECONDS,
            cap=settings.AIRBYTE_RETRY_BACKOFF_MAX_SECONDS,
        )
        self._http = httpx.Client(
            base_url=self.url,
            auth=(username, password) if auth == "basic" else None,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
            # The tests' mock transports stand in for a server; everything else
            # connects through the address guard.
            transport=(
                transport
                if transport is not None
                else PinnedTransport(allow_private=allow_private)
            ),
        )

    @classmethod
    def for_server(cls, server: AirbyteServer, **kwargs: Any) -> AirbyteClient:
        # A server last found running with auth disabled takes no token, whatever
        # the settings say (its token endpoints do not exist then).
        kwargs.setdefault(
            "auth", "none" if server.server_auth_mode == "none" else server.auth
        )
        kwargs.setdefault("configured_auth", server.auth)
        kwargs.setdefault("on_auth_mode", _auth_mode_recorder(server))
        return cls(
            server.url,
            client_id=server.client_id,
            client_secret=server.client_secret,
            username=server.username,
            password=server.password,
            **kwargs,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AirbyteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the two APIs -----------------------------------------------------------------
    def public(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        long: bool = False,
        idempotent: bool = True,
    ) -> Any:
        """Call the Public API; ``path`` as in the spec (``/sources/{id}``).

        ``idempotent=False`` (creates): a timeout or 5xx is not retried here but
        raised with ``maybe_done``, since the server may have stored the object.
        """
        return self._call(
            method,
            PUBLIC_PREFIX + path,
            params=params,
            json=json,
            long=long,
            idempotent=idempotent,
        )

    def config(self, path: str, body: Any = None, *, long: bool = False) -> Any:
        """Call a Config API endpoint (all POST); ``path`` like ``/jobs/get``."""
        return self._call(
            "POST", CONFIG_PREFIX + path, json={} if body is None else body, long=long
        )

    def paginate(
        self, path: str, params: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a paginated Public API list, walking offsets ourselves."""
        offset = 0
        for _ in range(MAX_PAGES):
            page = self.public(
                "GET",
                path,
                params={**(params or {}), "limit": PAGE_SIZE, "offset": offset},
            )
            data = (page or {}).get("data") or []
            yield from data
            if len(data) < PAGE_SIZE:
                return
            offset += PAGE_SIZE

    # -- anonymous probes -------------------------------------------------------------
    def instance_configuration(self) -> dict[str, Any]:
        """The raw ``instance_configuration`` answer; ``server_info`` reads it."""
        return self._call(
            "GET", CONFIG_PREFIX + "/instance_configuration", anonymous=True
        )

    def server_info(self) -> ServerInfo:
        """Version, edition and auth mode; anonymous since Airbyte 1.0."""
        return ServerInfo.from_api(self.instance_configuration())

    def health(self) -> bool:
        body = self._call("GET", CONFIG_PREFIX + "/health", anonymous=True)
        return bool((body or {}).get("available"))

    # -- workspaces and definitions ---------------------------------------------------
    def workspace_list(self) -> Iterator[RemoteWorkspace]:
        for item in self.paginate("/workspaces"):
            yield RemoteWorkspace.from_api(item)

    def workspace_get(self, workspace_id: str) -> RemoteWorkspace:
        answer = self.public("GET", f"/workspaces/{workspace_id}")
        return _identified(RemoteWorkspace.from_api(answer), "workspace")

    def workspace_create(self, name: str) -> RemoteWorkspace:
        answer = self.public("POST", "/workspaces", json={"name": name})
        return _identified(RemoteWorkspace.from_api(answer), "workspace")

    def definition_list(
        self, kind: str, workspace_id: str
    ) -> tuple[RemoteDefinition, ...]:
        """The ``kind`` (source | destination) definitions a workspace may use."""
        answer = self.config(
            f"/{kind}_definitions/list_for_workspace", {"workspaceId": workspace_id}
        )
        return tuple(
            RemoteDefinition.from_api(kind, item)
            for item in (answer or {}).get(f"{kind}Definitions") or []
        )

    # -- connectors run on the server -------------------------------------------------
    def definition_spec(
        self, kind: str, definition_id: str, workspace_id: str
    ) -> ConnectorSpecification:
        """A definition's settings form; the server may run the connector for it."""
        answer = self.config(
            f"/{kind}_definition_specifications/get",
            {f"{kind}DefinitionId": definition_id, "workspaceId": workspace_id},
            long=True,
        )
        return ConnectorSpecification.from_api(answer)

    def connector_check(
        self,
        kind: str,
        *,
        definition_id: str,
        workspace_id: str,
        configuration: dict[str, Any],
    ) -> CheckOutcome:
        """Check settings for a connector not saved on the server."""
        answer = self.config(
            f"/scheduler/{kind}s/check_connection",
            {
                f"{kind}DefinitionId": definition_id,
                "connectionConfiguration": configuration,
                "workspaceId": workspace_id,
            },
            long=True,
        )
        return CheckOutcome.from_api(answer)

    def connector_check_for_update(
        self, kind: str, remote_id: str, *, name: str, configuration: dict[str, Any]
    ) -> CheckOutcome:
        """Check changed settings of a saved connector; the server merges its stored
        secrets where ``configuration`` has masks."""
        answer = self.config(
            f"/{kind}s/check_connection_for_update",
            {
                f"{kind}Id": remote_id,
                "connectionConfiguration": configuration,
                "name": name,
            },
            long=True,
        )
        return CheckOutcome.from_api(answer)

    def source_discover(self, source_id: str) -> DiscoverOutcome:
        """A fresh discover of a saved source's streams (the server's cache skipped)."""
        answer = self.config(
            "/sources/discover_schema",
            {"sourceId": source_id, "disable_cache": True},
            long=True,
        )
        return DiscoverOutcome.from_api(answer)

    # -- sources, destinations, connections -------------------------------------------
    def connector_list(self, kind: str, workspace_id: str) -> Iterator[RemoteConnector]:
        """Every source or destination (``kind``) of a workspace, page by page."""
        shape = REMOTE_CONNECTORS[kind]
        for item in self.paginate(f"/{kind}s", {"workspaceIds": workspace_id}):
            yield shape.from_api(item)

    def connector_create(
        self,
        kind: str,
        *,
        workspace_id: str,
        definition_id: str,
        name: str,
        configuration: dict[str, Any],
    ) -> RemoteConnector:
        answer = self.public(
            "POST",
            f"/{kind}s",
            json={
                "name": name,
                "configuration": configuration,
                "workspaceId": workspace_id,
                "definitionId": definition_id,
            },
            idempotent=False,
        )
        return _identified(REMOTE_CONNECTORS[kind].from_api(answer), kind)

    def connector_update(
        self, kind: str, remote_id: str, *, name: str, configuration: dict[str, Any]
    ) -> RemoteConnector:
        """Replace a source's or destination's name and settings (PUT)."""
        answer = self.public(
            "PUT",
            f"/{kind}s/{remote_id}",
            json={"name": name, "configuration": configuration},
        )
        return REMOTE_CONNECTORS[kind].from_api(answer)

    def connection_list(self, workspace_id: str) -> Iterator[RemoteConnection]:
        for item in self.paginate("/connections", {"workspaceIds": workspace_id}):
            yield RemoteConnection.from_api(item)

    def connection_create(
        self, body: dict[str, Any], *, source_id: str, destination_id: str
    ) -> RemoteConnection:
        """Create a connection; ``body`` is the Public API's connection (see
        ``mirror.connection_body``). Long: the server discovers the source first."""
        answer = self.public(
            "POST",
            "/connections",
            json={**body, "sourceId": source_id, "destinationId": destination_id},
            long=True,
            idempotent=False,
        )
        return _identified(RemoteConnection.from_api(answer), "connection")

    def connection_update(
        self, remote_id: str, body: dict[str, Any]
    ) -> RemoteConnection:
        answer = self.public("PATCH", f"/connections/{remote_id}", json=body, long=True)
        return RemoteConnection.from_api(answer)

    def object_delete(self, kind: str, remote_id: str) -> None:
        """Delete a source, destination or connection (``kind``) on the server."""
        self.public("DELETE", f"/{kind}s/{remote_id}")

    # -- jobs -------------------------------------------------------------------------
    def job_create(self, connection_id: str, job_type: str = "sync") -> RemoteJob:
        """Start a job (sync, clear, ...); a 409 ``try-again-later`` means one runs."""
        answer = self.public(
            "POST", "/jobs", json={"connectionId": connection_id, "jobType": job_type}
        )
        return _identified(RemoteJob.from_api(answer), "job")

    def job_latest(
        self, connection_id: str, status: str, *, job_type: str = ""
    ) -> RemoteJob | None:
        """The connection's newest job in ``status``, if it has one.

        Without ``job_type`` the server lists resets (clears) beside syncs.
        """
        params: dict[str, Any] = {
            "connectionId": connection_id,
            "status": status,
            "orderBy": "createdAt|DESC",
            "limit": 1,
        }
        if job_type:
            params["jobType"] = job_type
        page = self.public("GET", "/jobs", params=params)
        found = (page or {}).get("data") or []
        return _identified(RemoteJob.from_api(found[0]), "job") if found else None

    def connection_clear_streams(
        self, connection_id: str, streams: list[tuple[str, str]]
    ) -> RemoteJob:
        """Empty some streams (``(name, namespace)``) of a connection: their
        destination data and state; the Config API answers a ``JobInfoRead``."""
        body = {
            "connectionId": connection_id,
            "streams": [
                {"streamName": name, **({"streamNamespace": ns} if ns else {})}
                for name, ns in streams
            ],
        }
        answer = self.config("/connections/clear/stream", body)
        job = answer.get("job") if isinstance(answer, dict) else None
        job = job if isinstance(job, dict) else {}
        return _identified(
            RemoteJob(
                id=str(job.get("id") or ""),
                status=str(job.get("status") or ""),
                job_type="reset",
                connection_id=connection_id,
            ),
            "job",
        )

    def job_get(self, job_id: str | int) -> RemoteJob:
        return RemoteJob.from_api(self.public("GET", f"/jobs/{job_id}"))

    def job_cancel(self, job_id: str | int) -> None:
        """Cancel a job; long, since the server stops the job's pods before it
        answers. Send it once: ``DELETE /jobs/{id}`` cancels whatever runs on the
        job's connection, so a repeat could stop the next sync."""
        self.public("DELETE", f"/jobs/{job_id}", long=True)

    def job_attempts(
        self, job_id: str | int, *, logs: bool = False
    ) -> tuple[RemoteAttempt, ...]:
        """A job's attempts from the Config API, with their logs when asked (a
        bigger answer: the poll asks once the job has ended)."""
        path = "/jobs/get" if logs else "/jobs/get_without_logs"
        return attempts_from_api(self.config(path, {"id": int(job_id)}))

    def attempt_logs(self, job_id: str | int, attempt_number: int) -> RemoteAttempt:
        """One attempt with its log (``attempt/get_for_job``): one attempt's log per
        answer, not every attempt's at once as ``jobs/get`` sends them."""
        answer = self.config(
            "/attempt/get_for_job",
            {"jobId": int(job_id), "attemptNumber": int(attempt_number)},
        )
        return RemoteAttempt.from_api(answer)

    # -- tokens -----------------------------------------------------------------------
    def _token_key(self) -> tuple[str, str, str]:
        # The secret's digest is in the key: a wrong secret never borrows a token
        # another workspace fetched with the right one.
        digest = hashlib.sha256(self._client_secret.encode()).hexdigest()
        return (self.url, self.client_id, digest)

    def token(self, *, fresh: bool = False) -> str:
        """A bearer token for this server, fetched when missing or nearly expired."""
        key = self._token_key()
        now = self._clock()
        with _tokens_lock:
            cached = _tokens.get(key)
            if cached and not fresh and cached.expires_at > now:
                return cached.value
        token = self._fetch_token()
        with _tokens_lock:
            _tokens[key] = token
        return token.value

    def _fetch_token(self) -> _Token:
        if not self.client_id or not self._client_secret:
            raise AirbyteAuthError(
                "The Airbyte server needs an application's client id and secret "
                "(abctl local credentials prints them).",
                status=401,
            )
        body = {
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "grant_type": "client_credentials",
        }
        try:
            answer = self._call(
                "POST", PUBLIC_PREFIX + "/applications/token", json=body, anonymous=True
            )
        except AirbyteApiError as exc:
            if exc.status != 404:
                raise self._auth_refused(exc) from None
            # Older servers only have the Config API's token endpoint.
            try:
                answer = self._call(
                    "POST",
                    CONFIG_PREFIX + "/applications/token",
                    json=body,
                    anonymous=True,
                )
            except AirbyteApiError as inner:
                if inner.status == 404:
                    # Neither token endpoint exists: the server now runs with
                    # auth disabled (``_call`` probes and follows).
                    raise _TokenEndpointGone(inner.message, status=404) from None
                raise self._auth_refused(inner) from None
        value = (answer or {}).get("access_token")
        if not value:
            raise AirbyteApiError(
                "The Airbyte server's token endpoint answered without a token."
            )
        lifetime = float((answer or {}).get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        margin = min(TOKEN_REFRESH_MARGIN, lifetime / 4)
        return _Token(value=value, expires_at=self._clock() + lifetime - margin)

    @staticmethod
    def _auth_refused(exc: AirbyteApiError) -> AirbyteAuthError:
        if exc.status in {400, 401}:
            # A wrong id or secret is a bare 400 from the token endpoint (no
            # problem body), a 401 on some versions.
            return AirbyteAuthError(
                f"The Airbyte server refused the client id and secret ({exc.status}): "
                "wrong client id or secret. `abctl local credentials` prints the "
                "right ones.",
                status=exc.status,
                title=exc.title,
                detail=exc.detail,
            )
        if exc.status == 403:
            return AirbyteAuthError(
                "The Airbyte server refused the client id and secret "
                f"({exc.status} {exc.title or 'forbidden'}).",
                status=exc.status,
                title=exc.title,
                detail=exc.detail,
            )
        return AirbyteAuthError(exc.message, status=exc.status, title=exc.title)

    # -- the server's auth mode changed ----------------------------------------------
    def _follow_auth_mode(self) -> bool:
        """Ask ``instance_configuration`` how the server signs in now and follow it.

        A server started again with or without ``--disable-auth`` answers 401 to a
        console that sends no token, or 404 from both token endpoints to one that
        asks for a token. True when the console can go on with the new mode (it is
        recorded on the server's row); False when it cannot (the error stands).
        """
        try:
            mode = self.server_info().auth_mode
        except AirbyteError:
            return False
        if mode == "none":
            if self.auth == "none":
                return False
            self.auth = "none"
        elif mode and self.auth == "none":
            if self.configured_auth != "application":
                raise AirbyteAuthError(
                    f"The Airbyte server now requires sign-in (auth mode {mode}): "
                    "enter an application's client id and secret on the workspace's "
                    "Engine page.",
                    status=401,
                )
            self.auth = "application"
        else:
            return False
        if self._on_auth_mode is not None:
            self._on_auth_mode(mode)
        return True

    # -- one call, with retries -------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        long: bool = False,
        anonymous: bool = False,
        idempotent: bool = True,
    ) -> Any:
        refreshed = False
        followed = False
        retry = 0
        while True:
            budget = self.long_timeout if long else self.timeout
            if self._deadline_at is not None:
                budget = min(budget, self._deadline_at - self._clock())
                if budget <= 0:
                    raise AirbyteTransientError(
                        "The Airbyte server did not answer within the test's time "
                        "limit."
                    )
            timeout = httpx.Timeout(budget, connect=min(self.timeout, 10, budget))
            headers = {}
            if not anonymous and self.auth == "application":
                try:
                    headers["Authorization"] = f"Bearer {self.token(fresh=refreshed)}"
                except _TokenEndpointGone:
                    if followed or not self._follow_auth_mode():
                        raise AirbyteAuthError(
                            "The Airbyte server has no token endpoint (404) and "
                            "does not say it runs without auth: check the server "
                            "URL on the Engine page.",
                            status=404,
                        ) from None
                    followed = True
                    continue
            try:
                response = self._http.request(
                    method,
                    path,
                    params=params,
                    json=json,
                    headers=headers,
                    timeout=timeout,
                )
            except netguard.BlockedAddress as exc:
                raise AirbyteAddressError(_refused_words(str(exc))) from None
            except httpx.TimeoutException:
                error: AirbyteError = AirbyteTransientError(
                    f"The Airbyte server did not answer {method} {path} in time."
                )
                retry_after = None
                throttled = repeatable = False
            except httpx.ConnectError as exc:
                # Never reached the server: repeating even a create is safe.
                error = AirbyteTransientError(
                    f"Could not reach the Airbyte server at {self.url}: "
                    f"{_describe_network_error(exc)}."
                )
                retry_after = None
                throttled, repeatable = False, True
            except httpx.TransportError as exc:
                error = AirbyteTransientError(
                    f"Could not reach the Airbyte server at {self.url}: "
                    f"{_describe_network_error(exc)}."
                )
                retry_after = None
                throttled = repeatable = False
            else:
                if response.status_code < 300:
                    return _json_answer(method, path, response)
                if (
                    response.status_code == 401
                    and not anonymous
                    and self.auth == "application"
                    and not refreshed
                ):
                    refreshed = True  # the token died early: fetch one more, once
                    continue
                if (
                    response.status_code == 401
                    and not anonymous
                    and self.auth == "none"
                    and not followed
                ):
                    # Last seen without auth, now asking for it: look again.
                    followed = True
                    if self._follow_auth_mode():
                        continue
                error = _error_from(method, path, response)
                if not isinstance(error, AirbyteTransientError):
                    raise error
                retry_after = _retry_after(response)
                throttled = repeatable = response.status_code == 429
            if not idempotent and not repeatable:
                # A create may have landed even though the answer did not (a
                # timeout, a 500 after the insert): never send it twice blindly.
                error.maybe_done = True
                raise error
            if retry >= self.retry.attempts:
                raise error
            wait = self.retry.delay(retry, retry_after, throttled=throttled)
            if (
                self._deadline_at is not None
                and self._clock() + wait >= self._deadline_at
            ):
                raise error
            self._sleep(wait)
            retry += 1


def _auth_mode_recorder(server: AirbyteServer) -> Callable[[str], None]:
    """Remember the auth mode the server was found in (the next client follows)."""

    def record(mode: str) -> None:
        type(server).objects.filter(pk=server.pk).update(server_auth_mode=mode[:20])
        server.server_auth_mode = mode[:20]

    return record


_Identified = TypeVar(
    "_Identified", RemoteWorkspace, RemoteConnector, RemoteConnection, RemoteJob
)


def _identified(obj: _Identified, what: str) -> _Identified:
    """A created or fetched object the server answered without its id is an error
    the user can read, not a console row linked to nothing."""
    if not obj.id:
        raise AirbyteApiError(f"The Airbyte server answered without the {what}'s id.")
    return obj


def _json_or_none(response: httpx.Response) -> Any:
    """The JSON answer, or None for an empty or non-JSON one (never its text)."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _json_answer(method: str, path: str, response: httpx.Response) -> Any:
    """A 2xx answer's JSON; a body that is not JSON is an error that quotes none
    of it (an HTML page means this is not an Airbyte API)."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        kind = response.headers.get("content-type", "").split(";", 1)[0].strip()
        raise AirbyteApiError(
            f"Airbyte answered {response.status_code} to {method} {path} with "
            f"{_short(kind, 60) or 'a body'}, not JSON",
            status=response.status_code,
        ) from None


def _short(text: str, limit: int = MAX_QUOTED) -> str:
    """One line of another server's words, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return float(value)
    except ValueError:
        return None


def _describe_network_error(exc: httpx.TransportError) -> str:
    """What went wrong, in our words: an exception's text can quote the bytes the
    other end sent (a protocol error on an SSH or Redis port shows its banner)."""
    if isinstance(exc, httpx.ConnectError):
        return "connection refused or host unknown"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the answer was not HTTP, or the server closed the connection"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "the connection broke"
    return type(exc).__name__


def _error_from(method: str, path: str, response: httpx.Response) -> AirbyteError:
    """The error a non-2xx answer means, with the server's own words."""
    status = response.status_code
    body = _json_or_none(response)
    title = detail = ""
    data = None
    if isinstance(body, dict):
        title = str(body.get("title") or "")
        data = body.get("data")
        detail = _reason(body)
    title, detail = _short(title, 100), _short(detail)
    # The standard reason for the status, not the one the server sent: a server's
    # reason phrase is its own text, like its body.
    words = ": ".join(part for part in (title, detail) if part) or (
        httpx.codes.get_reason_phrase(status) or "error"
    )
    message = f"Airbyte answered {status} to {method} {path}: {words}"
    kind: type[AirbyteError]
    if status == 429 or (status >= 500 and title != "unexpected-problem"):
        # A Public API ``unexpected-problem`` 500 is an exception in a handler
        # (a discover that failed while creating a connection): the same request
        # fails the same way again, so it is not retried.
        kind = AirbyteTransientError
    elif status in {401, 403}:
        kind = AirbyteAuthError
    else:
        kind = AirbyteApiError
    return kind(message, status=status, title=title, detail=detail, data=data)


def _reason(body: dict[str, Any]) -> str:
    """The most specific reason a JSON error body gives, in the server's words.

    Public API problems keep their type's generic ``detail`` ("The request could
    not be understood by the server due to malformed syntax.") and put the real
    reason in ``data.message``, so that comes first. Micronaut's own error bodies
    (a request refused before Airbyte's handlers) say only the status in
    ``message`` and the reason in ``_embedded.errors[].message``. The Config API
    says it in ``message``, with ``validationErrors`` on a 400.
    """
    data = body.get("data")
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(message, str) and message.strip():
        return message
    if body.get("detail"):
        return str(body["detail"])
    embedded = body.get("_embedded")
    errors = embedded.get("errors") if isinstance(embedded, dict) else None
    if isinstance(errors, list):
        found = [
            str(item["message"])
            for item in errors
            if isinstance(item, dict) and item.get("message")
        ]
        if found:
            return "; ".join(found)
    if body.get("message"):
        detail = str(body["message"])
        problems = body.get("validationErrors") or []
        if isinstance(problems, list) and problems:
            detail += " " + "; ".join(
                f"{p.get('propertyPath')}: {p.get('message')}"
                for p in problems
                if isinstance(p, dict)
            )
        return detail
    return ""
