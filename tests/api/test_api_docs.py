"""The API's documentation: a valid OpenAPI document and a docs page that needs
nothing but the console itself (no CDN). The page in Chromium, under the console's
Content-Security-Policy: tests/browser/test_api_docs_page.py.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import schemathesis
from django.contrib.staticfiles import finders
from openapi_spec_validator import validate

DOCS = "/api/public/v1/docs"
OPENAPI = "/api/public/v1/openapi.json"


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    # Swagger UI refuses the whole document over one ("duplicated mapping key").
    assert not twice, f"openapi.json repeats the key(s) {twice} in one object"
    return dict(pairs)


def test_openapi_document_is_valid_openapi(client):
    response = client.get(OPENAPI)

    assert response.status_code == 200
    document = json.loads(response.content, object_pairs_hook=_no_duplicate_keys)
    validate(document)  # raises with the first error
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert any(op.path == "/api/public/v1/health" for op in operations)


def test_docs_page_loads_only_the_consoles_own_static_files(client):
    response = client.get(DOCS)

    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn" not in html.lower()
    links = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert links, html
    for link in links:
        parts = urlsplit(link)
        assert not parts.scheme and not parts.netloc, link
        assert parts.path.startswith("/static/"), link
        assert finders.find(parts.path.removeprefix("/static/")), link
