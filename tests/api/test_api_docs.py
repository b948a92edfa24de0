"""The API's documentation: a valid OpenAPI document and a docs page that needs
nothing but the console itself (no CDN), and works under its Content-Security-Policy.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
import schemathesis
from django.contrib.staticfiles import finders
from openapi_spec_validator import validate

from tests.browser.conftest import browser, page  # noqa: F401 - fixtures

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


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_docs_page_renders_every_operation_under_the_csp(
    live_server,
    django_db_setup,
    page,  # noqa: F811
):
    # django_db_setup before ``page``: that one is session-scoped and skips without
    # Chromium, and the suite's teardown hook expects the test database to exist.
    errors: list[str] = []
    elsewhere: list[str] = []
    # A Content-Security-Policy refusal is reported as a console error too.
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "request",
        lambda request: (
            elsewhere.append(request.url)
            if not request.url.startswith(live_server.url)
            and not request.url.startswith("data:")
            else None
        ),
    )

    response = page.goto(live_server.url + DOCS)

    assert response.status == 200
    assert "content-security-policy" in response.headers
    operations = page.locator(".opblock-summary-path")
    # Swagger UI shows a document it cannot read inside the page.
    page.locator(".opblock-summary-path, .errors-wrapper").first.wait_for()
    assert operations.count(), page.locator("#swagger-ui").inner_text()[:2000]
    shown = operations.all_inner_texts()
    assert any("/api/public/v1/health" in path for path in shown), shown
    assert errors == []
    assert elsewhere == []
