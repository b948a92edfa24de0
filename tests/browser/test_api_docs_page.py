"""The API's docs page in Chromium: every operation shows, under the console's
Content-Security-Policy, with no request leaving the console.

It lives with the browser tests so it shares their one Playwright per process
(a second sync Playwright in the same process cannot start).
"""

from __future__ import annotations

import pytest

DOCS = "/api/public/v1/docs"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_docs_page_renders_every_operation_under_the_csp(
    live_server,
    django_db_setup,
    page,
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
