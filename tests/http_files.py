"""A tiny HTTP server on 127.0.0.1 that serves files a test writes: a registry, a CDN.

    with FileServer() as server:
        server.files["/files/registries/v0/oss_registry.json"] = json.dumps(doc)
        server.files["/files/metadata/airbyte/source-x/1.0.0/manifest.yaml"] = text
        settings.CONNECTOR_CDN_URL = server.url("/files")

``files`` maps a path to bytes or text (200), to an int status to answer with, or
to ``("redirect", url)`` (302 to ``url``); anything else is a 404. ``requests``
records every path asked for, in order, so a test can say "the icon was fetched
once".

Two ways to send a body less politely, by path: ``no_length`` (a set) sends it
without a Content-Length (the end of the body is the connection closing), so only
a client's count of the bytes it reads can cap it; ``drip`` (path to seconds)
sends it a byte at a time with that pause between bytes, as a stalled or hostile
CDN does.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FileServer:
    """Serve ``files`` over HTTP on 127.0.0.1 on a free port, in a thread."""

    def __init__(self) -> None:
        self.files: dict[str, Any] = {}
        self.requests: list[str] = []
        self.content_types: dict[str, str] = {}
        self.no_length: set[str] = set()
        self.drip: dict[str, float] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                server.requests.append(path)
                body = server.files.get(path)
                if body is None:
                    self.send_error(404)
                    return
                if isinstance(body, int):
                    self.send_error(body)
                    return
                if isinstance(body, tuple) and body[0] == "redirect":
                    self.send_response(302)
                    self.send_header("Location", body[1])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = body.encode() if isinstance(body, str) else body
                self.send_response(200)
                self.send_header(
                    "Content-Type",
                    server.content_types.get(path, "application/octet-stream"),
                )
                if path not in server.no_length:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                pause = server.drip.get(path)
                if pause is None:
                    self.wfile.write(data)
                    return
                try:
                    for index in range(len(data)):
                        self.wfile.write(data[index : index + 1])
                        self.wfile.flush()
                        time.sleep(pause)
                except OSError:
                    return  # The client gave up, as it should.

            def log_message(self, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
