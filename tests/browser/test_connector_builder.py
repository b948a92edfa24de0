"""The connector builder in a real browser, with a real worker and the real CDK.

An editor starts a connector from the template, breaks the manifest and sees
Validate point at the line, fixes it, enters the local API's address and key,
presses Test and sees both request pages (the key masked) with their records,
then publishes it and finds it offered for a new source.
"""

from __future__ import annotations

import json

import pytest

from apps.connectors.builder.models import BuilderProject
from apps.core.roles import Role
from tests.browser.test_accessibility import _violations, axe_script  # noqa: F401
from tests.connectors.builder_api import API_KEY, ItemsApi
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The worker runs the CDK: a few seconds a run, more on a busy machine.
WAIT = 60_000


def _serious(page) -> list[dict]:
    return [v for v in _violations(page) if v["impact"] in ("serious", "critical")]


def test_edit_validate_test_and_publish_a_connector(
    live_server,
    page,
    screenshot,
    worker,
    workspace,
    real_connectors,
    cdk_installed,
    axe_script,  # noqa: F811
):
    from playwright.sync_api import expect

    page.context.add_init_script(path=str(axe_script))

    user = UserFactory(email="bo@acme.test")
    MembershipFactory(user=user, workspace=workspace, role=Role.EDITOR)
    worker("builder")
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.set_default_timeout(60_000)
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Email or username").fill("bo@acme.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{live_server.url}/w/{workspace.public_id}/")
    page.get_by_role("link", name="Builder").click()
    page.get_by_label("Name").fill("Items API")
    page.get_by_role("button", name="Create from the template").click()
    editor = page.get_by_label("Manifest (YAML)")
    text = editor.input_value()
    assert "CursorPagination" in text

    # A schema error: Validate names the line, and the edit is still there.
    broken = text.replace("  stream_names:\n    - items\n", "  stream_names: items\n")
    editor.fill(broken)
    page.get_by_role("button", name="Validate").click()
    line = broken.splitlines().index("  stream_names: items") + 1
    problems = page.get_by_test_id("problems")
    expect(problems).to_contain_text(f"line {line}", timeout=WAIT)
    expect(problems).to_contain_text("check.stream_names")
    expect(page.get_by_label("Manifest (YAML)")).to_have_value(broken)
    # Line numbers beside the editor; "line N" puts the cursor on that line.
    expect(page.locator(".line-gutter")).to_contain_text(str(line))
    problems.get_by_role("link", name=f"line {line}").click()
    selected = page.get_by_label("Manifest (YAML)").evaluate(
        "area => area.value.slice(area.selectionStart, area.selectionEnd)"
    )
    assert selected == "  stream_names: items"
    screenshot("connector-builder-validate")
    assert _serious(page) == []

    with ItemsApi() as api:
        page.get_by_label("Manifest (YAML)").fill(text)
        page.get_by_label("Stream to test").select_option("items")
        page.get_by_label("Test config (JSON)").fill(
            json.dumps({"base_url": api.url, "api_key": API_KEY})
        )
        page.get_by_role("button", name="Test").click()
        expect(page.get_by_test_id("run-status")).to_contain_text(
            "Read 3 record(s) in 2 page(s) of items", timeout=WAIT
        )
    pages = page.get_by_test_id("page")
    expect(pages).to_have_count(2)
    expect(pages.nth(1)).to_contain_text("/items?page=2")
    expect(page.get_by_test_id("page-records").first).to_contain_text('"second"')
    assert API_KEY not in page.content()
    screenshot("connector-builder-test")
    assert _serious(page) == []

    page.get_by_test_id("publish").click()
    expect(page.locator(".flash-success, .toast").first).to_contain_text(
        "Published Items API 0.1.0"
    )
    project = BuilderProject.objects.get(workspace=workspace)
    assert project.definition.pypi_version == "0.1.0"

    page.goto(f"{live_server.url}/w/{workspace.public_id}/sources/new/")
    expect(page.get_by_text("Items API").first).to_be_visible()
    assert not violations, violations
