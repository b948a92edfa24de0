"""Icon downloads cannot be steered inside the console's network, nor held forever.

A registry names each icon's URL, so a hostile or broken one must not reach the
console's own network by DNS rebinding (a public answer to the check, loopback to
the connect), nor hold the daily refresh with a server that sends a byte at a
time. The files are served by ``tests/http_files.FileServer`` on 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from apps.connectors.catalog import icons
from apps.core import netguard
from apps.core.pinned_transport import PinnedTransport
from tests.http_files import FileServer

SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect/></svg>'
# A public address (as netguard classifies it) that stands for "the internet".
PUBLIC = "93.184.216.34"


@pytest.fixture(autouse=True)
def _icons_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path


@pytest.fixture
def server():
    with FileServer() as running:
        yield running


def definition(n: int, url: str) -> SimpleNamespace:
    return SimpleNamespace(
        definition_id=f"aaaaaaaa-0000-4000-8000-{n:012d}", icon_url=url, name=f"C{n}"
    )


class Network:
    """This host's DNS and sockets as a rebinding attacker's would see them.

    ``icons.example.com`` answers ``PUBLIC`` to the first lookup and 127.0.0.1 to
    every later one. Every connect is recorded; one to ``PUBLIC`` is refused (the
    tests have no internet), one to 127.0.0.1 reaches the test's server.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lookups: list[str] = []
        self.connects: list[tuple[str, int]] = []
        real_lookup = socket.getaddrinfo
        real_connect = socket.create_connection

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host == "icons.example.com":
                self.lookups.append(host)
                ip = PUBLIC if len(self.lookups) == 1 else "127.0.0.1"
                return real_lookup(ip, *args, **kwargs)
            return real_lookup(host, *args, **kwargs)

        def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
            self.connects.append((address[0], int(address[1])))
            if address[0] == PUBLIC:
                raise ConnectionRefusedError(111, "Connection refused (no internet)")
            return real_connect(address, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(socket, "create_connection", create_connection)


# -- DNS rebinding -----------------------------------------------------------------


def test_a_rebinding_dns_answer_cannot_send_an_icon_download_to_loopback(
    server, monkeypatch
):
    network = Network(monkeypatch)
    server.files["/admin-only.svg"] = SVG
    url = f"http://icons.example.com:{server.port}/admin-only.svg"

    with pytest.raises(ValueError, match="Connection refused"):
        icons.download(url, allow_private=False)

    # One lookup, checked, and the connect went to the address checked.
    assert network.lookups == ["icons.example.com"]
    assert network.connects == [(PUBLIC, server.port)]
    assert server.requests == []


def test_a_rebinding_icon_is_marked_failed_and_never_fetched(server, monkeypatch):
    Network(monkeypatch)
    server.files["/admin-only.svg"] = SVG
    entry = definition(1, f"http://icons.example.com:{server.port}/admin-only.svg")

    counts = icons.icons_fetch([entry], allow_private=False)

    assert counts["failed"] == 1 and counts["fetched"] == 0
    assert icons.cached_icon(entry.definition_id, entry.icon_url) is None
    assert server.requests == []


def _resolve(monkeypatch: pytest.MonkeyPatch, name: str, address: str) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real(address if host == name else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_a_name_on_loopback_is_refused_before_any_request(server, monkeypatch):
    _resolve(monkeypatch, "icons.example.com", "127.0.0.1")
    server.files["/i.svg"] = SVG

    with pytest.raises(ValueError, match=r"127\.0\.0\.1 is not a public address"):
        icons.download(
            f"http://icons.example.com:{server.port}/i.svg", allow_private=False
        )
    assert server.requests == []


def test_a_redirect_from_a_public_server_to_loopback_is_refused(server, monkeypatch):
    """Each hop is checked on its own: a public CDN cannot bounce the console in."""
    _resolve(monkeypatch, "cdn.example.com", PUBLIC)
    real_connect = socket.create_connection

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        # The "public" CDN is the test's server, reached as if over the internet.
        if address[0] == PUBLIC:
            address = ("127.0.0.1", address[1])
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    server.files["/i.svg"] = SVG
    server.files["/go"] = ("redirect", server.url("/i.svg"))

    with pytest.raises(ValueError, match=r"127\.0\.0\.1 is not a public address"):
        icons.download(f"http://cdn.example.com:{server.port}/go", allow_private=False)
    assert server.requests == ["/go"]


class _HostEcho(BaseHTTPRequestHandler):
    """Answers the Host header it got, as an SVG."""

    def do_GET(self) -> None:
        body = f'<svg xmlns="http://www.w3.org/2000/svg">{self.headers["Host"]}</svg>'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        return


def test_the_pinned_connection_keeps_the_name_in_the_host_header(monkeypatch):
    """Virtual hosts keep working: only the address connected to is pinned."""
    _resolve(monkeypatch, "cdn.example.com", "127.0.0.1")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _HostEcho)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        port = httpd.server_address[1]
        data, ext = icons.download(
            f"http://cdn.example.com:{port}/i.svg", allow_private=True
        )
    finally:
        httpd.shutdown()
        httpd.server_close()

    assert ext == "svg"
    assert f"cdn.example.com:{port}".encode() in data


def test_the_transport_the_airbyte_client_shares_reads_its_setting_per_request(
    monkeypatch, server
):
    """``allow_private`` as a callable (AIRBYTE_ALLOW_PRIVATE) is read each time."""
    server.files["/ok"] = "ok"
    allowed = {"private": True}
    transport = PinnedTransport(allow_private=lambda: allowed["private"])

    with httpx.Client(transport=transport) as client:
        assert client.get(server.url("/ok")).text == "ok"
        allowed["private"] = False
        with pytest.raises(netguard.BlockedAddress, match="loopback"):
            client.get(server.url("/ok"))
    assert server.requests == ["/ok"]


# -- deadlines ----------------------------------------------------------------------


def test_an_icon_that_drips_is_given_up_at_the_deadline_and_marked(server, monkeypatch):
    monkeypatch.setattr(icons, "ICON_DEADLINE", 1.0)
    # 450 bytes at one every 50 ms: about 23 s, never 10 s without a byte.
    server.files["/slow.svg"] = SVG[:-6] + " " * 400 + "</svg>"
    server.drip["/slow.svg"] = 0.05
    server.files["/fine.svg"] = SVG
    slow = definition(1, server.url("/slow.svg"))
    fine = definition(2, server.url("/fine.svg"))

    counts = icons.icons_fetch([slow, fine], allow_private=True)

    assert counts == {"fetched": 1, "failed": 1, "cached": 0, "deferred": 0}
    marker = icons._failed_marker(slow.definition_id, slow.icon_url)
    assert marker.read_text() == "did not finish within 1 s"
    assert icons.cached_icon(fine.definition_id, fine.icon_url) is not None
    # Marked, so the next pass does not wait on it again.
    assert icons.icons_fetch([slow, fine], allow_private=True)["cached"] == 2


def test_a_server_that_stalls_before_answering_meets_the_deadline(server, monkeypatch):
    """The per-read timeout is cut to what is left of the icon's deadline."""
    monkeypatch.setattr(icons, "ICON_DEADLINE", 1.0)
    monkeypatch.setattr(icons, "ICON_TIMEOUT", httpx.Timeout(600.0))
    server.files["/stall.svg"] = SVG
    server.drip["/stall.svg"] = 30.0  # the first byte, then nothing for 30 s

    with pytest.raises(ValueError, match="did not finish within 1 s"):
        icons.download(server.url("/stall.svg"), allow_private=True)


def test_a_pass_stops_at_its_budget_and_the_next_pass_takes_the_rest(
    server, monkeypatch
):
    monkeypatch.setattr(icons, "ICON_DEADLINE", 0.5)
    entries = []
    for n in range(3):
        server.files[f"/i{n}.svg"] = SVG
        server.drip[f"/i{n}.svg"] = 0.2
        entries.append(definition(n, server.url(f"/i{n}.svg")))

    # The first icon starts within the budget and takes its whole deadline: the
    # budget is spent, so the two others wait for the next pass.
    first = icons.icons_fetch(entries, allow_private=True, seconds=0.1)

    assert first == {"fetched": 0, "failed": 1, "cached": 0, "deferred": 2}
    tried = set(server.requests)
    assert len(tried) == 1
    server.drip.clear()
    server.requests.clear()

    second = icons.icons_fetch(entries, allow_private=True)

    assert second == {"fetched": 2, "failed": 0, "cached": 1, "deferred": 0}
    assert set(server.requests) == {f"/i{n}.svg" for n in range(3)} - tried


def test_passes_do_not_always_start_with_the_same_icon(server, settings, tmp_path):
    entries = []
    for n in range(5):
        server.files[f"/i{n}.svg"] = SVG
        entries.append(definition(n, server.url(f"/i{n}.svg")))
    firsts = set()
    for attempt in range(12):
        settings.DATA_DIR = tmp_path / f"pass-{attempt}"
        server.requests.clear()
        assert icons.icons_fetch(entries, allow_private=True, limit=1)["deferred"] == 4
        firsts.add(server.requests[0])

    # An icon a killed worker never finished is not the first of every pass.
    assert len(firsts) > 1
