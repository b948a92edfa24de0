"""A paginated JSON API on 127.0.0.1 for the connector builder's tests.

``GET /items?page=N`` with ``X-API-Key: <key>`` answers
``{"data": [...], "next_page": N+1 | null}``: two pages of items, the shape the
``airbyte cdk init`` scaffold reads. A wrong or missing key gets a 401.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

API_KEY = "Canary-builder-key-4821"

PAGES = {
    1: [{"id": 1, "name": "first"}, {"id": 2, "name": "second"}],
    2: [{"id": 3, "name": "third"}],
}


class ItemsApi:
    """Serve ``PAGES`` at ``/items`` (and ``/<stream>``), checking the API key."""

    def __init__(self, *, api_key: str = API_KEY, pages: dict | None = None) -> None:
        self.api_key = api_key
        self.pages = pages or PAGES
        self.requests: list[dict[str, Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                page = int((parse_qs(parts.query).get("page") or ["1"])[0])
                key = self.headers.get("X-API-Key")
                api.requests.append({"path": parts.path, "page": page, "key": key})
                if key != api.api_key:
                    self._send(401, {"error": "bad api key"})
                    return
                records = api.pages.get(page, [])
                more = page + 1 if page + 1 in api.pages else None
                self._send(200, {"data": records, "next_page": more})

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> ItemsApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
