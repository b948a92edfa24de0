"""A real HTTP receiver on 127.0.0.1 and webhook fixtures."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.webhooks.services import dispatch, endpoints
from tests.factories import ConnectionFactory


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each POST with the next planned response (then 200) and keeps it."""

    url: str
    received: list[Received] = field(default_factory=list)
    # (status, headers, body) per request, in order; 200 "ok" once they run out.
    plan: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    delay: float = 0.0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            raw = self.rfile.read(length)
            state.received.append(
                Received(
                    self.path, {k.lower(): v for k, v in self.headers.items()}, raw
                )
            )
            if state.delay:
                threading.Event().wait(state.delay)
            status, headers, body = (
                state.plan.pop(0) if state.plan else (200, {}, b"ok")
            )
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/hooks/acme"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _webhook_settings(settings) -> None:
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    settings.WEBHOOK_RETRY_SCHEDULE_SECONDS = [0, 0, 0]


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """Deliveries handed to the worker after commit, instead of a broker."""
    ids: list[int] = []
    monkeypatch.setattr(dispatch, "enqueue_delivery", ids.append)
    return ids


@pytest.fixture
def connection(workspace):
    return ConnectionFactory(
        workspace=workspace,
        name="Stripe to Warehouse",
        source__name="Stripe",
        destination__name="Warehouse",
    )


@pytest.fixture
def endpoint_and_secret(workspace, admin, receiver, enqueued):
    return endpoints.webhook_endpoint_create(
        actor=admin,
        workspace=workspace,
        name="ops",
        url=receiver.url,
        events="sync_completed,sync_failed",
    )
