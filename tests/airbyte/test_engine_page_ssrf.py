"""The Engine page cannot be used to reach into the console's network (#13 item 5).

A workspace admin names the Airbyte server, so the page must not become a way to
read internal pages, scan ports, or hold the web server's threads:

* addresses that are not public are refused when saved and again at connect time,
  with a message that names the kind of address; link-local and metadata ones even
  with ``AIRBYTE_ALLOW_PRIVATE=1``;
* probes run on a worker: the view answers at once and the part polls;
* another server's page is never shown, only its status and a short reason;
* an interactive probe is not retried and ends within its deadline.

Servers here are local HTTP servers on 127.0.0.1 (private mode, the tests'
default) or DNS answers patched in; nothing leaves the machine.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from apps.airbyte import services
from apps.airbyte.client import AirbyteClient, AirbyteError
from apps.airbyte.models import AirbyteProbe, AirbyteServer
from apps.audit.models import AuditEvent

CANARY = "Internal-Canary-7d3a"
HX = {"HX-Request": "true"}


def url(name: str, workspace) -> str:
    return reverse(f"engine:{name}", kwargs={"workspace_id": workspace.public_id})


@dataclass
class Answer:
    status: int = 200
    content_type: str = "application/json"
    body: str = "{}"
    delay: float = 0.0


@dataclass
class LocalServer:
    """A server on 127.0.0.1 answering every path with ``answer``; counts requests."""

    url: str = ""
    answer: Answer = field(default_factory=Answer)
    paths: list[str] = field(default_factory=list)


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    state = LocalServer()

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            state.paths.append(self.path)
            answer = state.answer
            if answer.delay:
                time.sleep(answer.delay)
            payload = answer.body.encode()
            try:
                self.send_response(answer.status, "Private " + CANARY)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its deadline): nothing to answer

        do_GET = do_POST = _any

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def dns(monkeypatch):
    """``dns["name"] = [addresses]``: answers for names; literals resolve as is."""
    answers: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def strict(settings):
    settings.AIRBYTE_ALLOW_PRIVATE = False


def save(client, workspace, server_url: str):
    return client.post(
        url("server", workspace),
        {"url": server_url, "auth": "none"},
        headers=HX,
    )


def ask(client, name: str, workspace, probes, data=None):
    asked = client.post(url(name, workspace), data or {}, headers=HX)
    assert asked.status_code == 200, asked.text
    poll = re.search(r'hx-get="([^"]+/probes/[^"]+/)"', asked.text).group(1)
    probes.run()
    return client.get(poll, headers=HX)


def make_server(workspace, server_url: str) -> AirbyteServer:
    # Straight into the table: the point is what the client does at connect time.
    return AirbyteServer.objects.create(
        workspace=workspace, url=server_url, auth="none"
    )


# -- address classes, at save ----------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("127.0.0.1", "a loopback address"),
        ("[::1]", "a loopback address"),
        ("10.0.0.8", "a private-network address"),
        ("192.168.1.20", "a private-network address"),
        ("[fd12::8]", "a private-network address"),
        ("169.254.169.254", "a link-local address"),
        ("[fd00:ec2::254]", "a cloud metadata service address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a reserved or special-purpose address"),
        ("[::ffff:127.0.0.1]", "an IPv6 form of a non-public IPv4 address"),
        ("[64:ff9b::a00:1]", "an IPv6 form of a non-public IPv4 address"),
    ],
)
def test_each_non_public_address_class_is_refused_when_saved(
    strict, admin, workspace, login, address, words
):
    response = save(login(admin), workspace, f"http://{address}:8000")
    assert response.status_code == 400
    assert "<html" not in response.text
    assert f"is not a public address: it is {words}" in response.text
    assert "AIRBYTE_ALLOW_PRIVATE=1" in response.text
    assert not AirbyteServer.objects.filter(workspace=workspace).exists()
    assert not AuditEvent.objects.filter(action="airbyte_server.saved").exists()


def test_a_name_resolving_to_a_private_address_is_refused_when_saved(
    strict, admin, workspace, login, dns
):
    dns["airbyte.internal.example"] = ["93.184.216.34", "10.1.2.3"]
    response = save(login(admin), workspace, "http://airbyte.internal.example")
    assert response.status_code == 400
    assert "airbyte.internal.example resolves to 10.1.2.3 is not a public" in (
        response.text
    )
    assert not AirbyteServer.objects.filter(workspace=workspace).exists()


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("169.254.169.254", "a link-local address"),
        ("[fe80::1]", "a link-local address"),
        ("[fd00:ec2::254]", "a cloud metadata service address"),
        ("[::ffff:169.254.169.254]", "an IPv6 form of a non-public IPv4 address"),
        ("224.0.0.1", "a multicast address"),
    ],
)
def test_metadata_and_link_local_are_refused_even_when_private_is_allowed(
    settings, admin, workspace, login, address, words
):
    settings.AIRBYTE_ALLOW_PRIVATE = True
    response = save(login(admin), workspace, f"http://{address}/")
    assert response.status_code == 400
    assert words in response.text
    # In private mode the message does not send the user to a setting that is on.
    assert "AIRBYTE_ALLOW_PRIVATE=1" not in response.text
    assert not AirbyteServer.objects.filter(workspace=workspace).exists()


def test_loopback_is_allowed_when_private_is_allowed(settings, admin, workspace, login):
    settings.AIRBYTE_ALLOW_PRIVATE = True
    response = save(login(admin), workspace, "http://127.0.0.1:8000")
    assert response.status_code == 204
    assert AirbyteServer.objects.get(workspace=workspace).url == (
        "http://127.0.0.1:8000"
    )


# -- address classes, at connect time -------------------------------------------------


def test_a_name_that_moved_to_a_private_address_is_refused_at_connect_time(
    strict, admin, workspace, login, probes, dns, local_server
):
    # Saved while the name pointed at a public address; now it points inside.
    dns["airbyte.example.com"] = ["93.184.216.34"]
    port = local_server.url.rsplit(":", 1)[1]
    assert save(login(admin), workspace, f"http://airbyte.example.com:{port}")
    assert AirbyteServer.objects.filter(workspace=workspace).exists()
    dns["airbyte.example.com"] = ["127.0.0.1"]

    response = ask(login(admin), "test", workspace, probes)
    assert "Reaching the server failed" in response.text
    assert "resolves to 127.0.0.1 is not a public address" in response.text
    assert local_server.paths == []


def test_metadata_address_is_refused_at_connect_time_in_private_mode(
    settings, workspace, dns
):
    settings.AIRBYTE_ALLOW_PRIVATE = True
    dns["metadata.example.com"] = ["169.254.169.254"]
    server = make_server(workspace, "http://metadata.example.com")
    found = services.server_probe(server)
    assert not found.ok
    assert "is a link-local address" in found.summary


# -- probes run on a worker -----------------------------------------------------------


def test_test_connection_returns_at_once_and_enqueues_after_commit(
    admin, workspace, login, local_server, django_capture_on_commit_callbacks
):
    from apps.airbyte import tasks

    sent: list[tuple] = []
    local_server.answer = Answer(delay=5)
    make_server(workspace, local_server.url)
    client = login(admin)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            tasks.airbyte_probe_task,
            "apply_async",
            lambda args=None, kwargs=None, **options: sent.append(tuple(args)),
        )
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = client.post(url("test", workspace), headers=HX)
        elapsed = time.monotonic() - started
        assert sent == []  # nothing before the commit
        for callback in callbacks:
            callback()
    assert elapsed < 2
    assert response.status_code == 200
    assert 'hx-trigger="every 2s"' in response.text
    assert "Testing…" in response.text
    probe = AirbyteProbe.objects.get(workspace=workspace)
    assert probe.status == AirbyteProbe.Status.PENDING
    assert sent == [(probe.pk,)]
    assert local_server.paths == []  # the web request called nobody
    event = AuditEvent.objects.get(action="airbyte_server.probe_requested")
    assert event.actor == admin and event.changes["probe"] == [None, "test"]


def test_the_poll_shows_the_result_once_the_worker_ran(
    admin, workspace, login, probes, airbyte_fake
):
    AirbyteServer.objects.create(
        workspace=workspace,
        url=airbyte_fake.url,
        client_id=airbyte_fake.client_id,
        client_secret=airbyte_fake.client_secret,
    )
    client = login(admin)
    asked = client.post(url("test", workspace), headers=HX)
    poll = re.search(r'hx-get="([^"]+/probes/[^"]+/)"', asked.text).group(1)
    still = client.get(poll, headers=HX)
    assert 'hx-trigger="every 2s"' in still.text
    probes.run()
    done = client.get(poll, headers=HX)
    assert "<html" not in done.text
    assert "every 2s" not in done.text
    assert "Connected to Airbyte" in done.text
    assert 'data-step="list" data-state="ok"' in done.text


def test_eight_clicks_make_one_probe(admin, workspace, login, probes, local_server):
    make_server(workspace, local_server.url)
    client = login(admin)
    for _ in range(8):
        assert client.post(url("test", workspace), headers=HX).status_code == 200
    assert AirbyteProbe.objects.filter(workspace=workspace).count() == 1
    assert len(probes.queued) == 1
    # Something else while it runs is refused with a reason, not queued.
    other = client.post(url("workspaces", workspace), headers=HX)
    assert other.status_code == 400
    assert "still talking to the server" in other.headers["HX-Trigger"]
    assert len(probes.queued) == 1


def test_outsider_cannot_poll_another_workspaces_probe(
    admin, outsider, workspace, login, local_server
):
    server = make_server(workspace, local_server.url)
    probe = AirbyteProbe.objects.create(workspace=workspace, server=server, kind="test")
    other = outsider.memberships.get().workspace
    response = login(outsider).get(
        reverse(
            "engine:probe",
            kwargs={"workspace_id": other.public_id, "probe_id": probe.public_id},
        )
    )
    assert response.status_code == 404


def test_a_probe_no_worker_finished_says_so(
    admin, workspace, login, local_server, time_machine
):
    server = make_server(workspace, local_server.url)
    probe = AirbyteProbe.objects.create(workspace=workspace, server=server, kind="test")
    time_machine.move_to(probe.created_at + services.PROBE_LOST_AFTER["test"] * 2)
    poll = reverse(
        "engine:probe",
        kwargs={"workspace_id": workspace.public_id, "probe_id": probe.public_id},
    )
    response = login(admin).get(poll, headers=HX)
    assert "every 2s" not in response.text
    assert "is a worker running" in response.text


# -- other servers' pages are never shown ---------------------------------------------


@pytest.mark.parametrize("status", [200, 404, 500])
def test_an_html_answer_shows_its_status_and_none_of_its_body(
    admin, workspace, login, probes, local_server, status
):
    local_server.answer = Answer(
        status=status,
        content_type="text/html",
        body=f"<html><body><h1>Router admin</h1><p>{CANARY} secret</p></body></html>",
    )
    make_server(workspace, local_server.url)
    response = ask(login(admin), "test", workspace, probes)
    assert "Reaching the server failed" in response.text
    assert f"Airbyte answered {status}" in response.text
    assert CANARY not in response.text
    assert "Router admin" not in response.text
    # Nor in what the page keeps and shows later, or in the audit log.
    server = AirbyteServer.objects.get(workspace=workspace)
    assert CANARY not in server.last_check_message
    assert CANARY not in json.dumps(
        list(AuditEvent.objects.values_list("changes", flat=True))
    )
    page = login(admin).get(url("settings", workspace))
    assert CANARY not in page.text


def test_a_json_problem_shows_only_its_title_and_detail_cut_short(
    admin, workspace, login, probes, local_server
):
    local_server.answer = Answer(
        status=422,
        content_type="application/problem+json",
        body=json.dumps(
            {
                "title": "invalid-input",
                "detail": "x" * 1000,
                "data": {"internal": CANARY},
            }
        ),
    )
    make_server(workspace, local_server.url)
    response = ask(login(admin), "test", workspace, probes)
    assert "Airbyte answered 422" in response.text
    assert "invalid-input" in response.text
    assert "x" * 299 in response.text and "x" * 301 not in response.text
    assert CANARY not in response.text


def test_a_reason_phrase_the_server_made_up_is_not_shown(local_server, workspace):
    local_server.answer = Answer(status=503, content_type="text/plain", body=CANARY)
    server = make_server(workspace, local_server.url)
    found = services.server_probe(server, **services.interactive_client_options())
    assert "503" in found.summary and "Service Unavailable" in found.summary
    assert CANARY not in found.summary


# -- no retries, one deadline ---------------------------------------------------------


def test_an_interactive_probe_is_not_retried(
    settings, admin, workspace, login, probes, local_server
):
    settings.AIRBYTE_HTTP_RETRIES = 3
    settings.AIRBYTE_RETRY_BACKOFF_SECONDS = 0.01
    local_server.answer = Answer(status=503, body='{"message": "busy"}')
    make_server(workspace, local_server.url)
    response = ask(login(admin), "test", workspace, probes)
    assert "Reaching the server failed" in response.text
    assert local_server.paths == ["/api/v1/instance_configuration"]
    # A worker's own calls (pushes, polls) still retry: only probes do not.
    local_server.paths.clear()
    server = AirbyteServer.objects.get(workspace=workspace)
    with AirbyteClient.for_server(server) as client, pytest.raises(AirbyteError):
        client.health()
    assert len(local_server.paths) == 4


def test_an_interactive_probe_ends_within_its_deadline(
    settings, workspace, local_server
):
    settings.AIRBYTE_PROBE_DEADLINE_SECONDS = 1
    local_server.answer = Answer(delay=3)
    server = make_server(workspace, local_server.url)
    started = time.monotonic()
    found = services.server_probe(server, **services.interactive_client_options())
    assert time.monotonic() - started < 2.5
    assert not found.ok
    assert "did not answer" in found.summary


def test_a_non_http_service_does_not_show_its_banner(admin, workspace, login, probes):
    # A port scan through "Test connection": an SSH-like banner must not come back.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def banner() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)  # the request, so closing does not reset the connection
        # httpx's own error would quote this line ("illegal status line: ...").
        conn.sendall(f"SSH-2.0-OpenSSH_{CANARY}\r\n\r\n".encode())
        conn.shutdown(socket.SHUT_WR)
        time.sleep(0.5)
        conn.close()

    threading.Thread(target=banner, daemon=True).start()
    make_server(workspace, f"http://127.0.0.1:{listener.getsockname()[1]}")
    response = ask(login(admin), "test", workspace, probes)
    listener.close()
    assert "Reaching the server failed" in response.text
    assert "not HTTP" in response.text
    assert CANARY not in response.text
