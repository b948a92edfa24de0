"""The "Workspace as code" page: download, upload, plan, apply."""

# The fixtures come from the service tests; pytest passes them by name.
# ruff: noqa: F811
from __future__ import annotations

import json
import re

import yaml
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.api.workspace_code import workspace_export
from apps.audit.models import AuditEvent
from apps.connectors.models import Source
from apps.webhooks.models import WebhookEndpoint
from tests.api.test_workspace_code import (  # noqa: F401
    ENV,
    SECRETS,
    full_workspace,
    source_definition,
)


def _page(workspace, action: str = "") -> str:
    return f"/w/{workspace.public_id}/code/{action}"


def _digest(html: str) -> str:
    """The digest the page's Apply form sends back."""
    found = re.search(r'name="digest" value="([0-9a-f]+)"', html)
    assert found, "no Apply form on the page"
    return found.group(1)


def _env_text() -> str:
    return "\n".join(f"{name}={value}" for name, value in ENV.items())


def _upload(client, workspace, text: str, **extra):
    return client.post(
        _page(workspace, "plan/"),
        {
            "file": SimpleUploadedFile("w.yaml", text.encode()),
            "env": _env_text(),
            **extra,
        },
    )


def test_a_viewer_downloads_the_file_without_secrets(full_workspace, viewer, login):
    client = login(viewer)

    page = client.get(_page(full_workspace))
    assert page.status_code == 200
    assert b"Download YAML" in page.content
    assert b"Show the plan" not in page.content
    download = client.get(_page(full_workspace, "workspace.yaml"))
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    text = download.content.decode()
    for secret in SECRETS.values():
        assert secret not in text
    assert yaml.safe_load(text)["webhooks"][0]["name"] == "Slack alerts"


def test_an_outsider_gets_404_everywhere(full_workspace, outsider, login):
    client = login(outsider)
    assert client.get(_page(full_workspace)).status_code == 404
    assert client.get(_page(full_workspace, "workspace.yaml")).status_code == 404
    assert client.post(_page(full_workspace, "plan/")).status_code == 404
    assert client.post(_page(full_workspace, "apply/")).status_code == 404


def test_a_viewer_cannot_plan_or_apply(full_workspace, viewer, login):
    client = login(viewer)
    text = workspace_export(full_workspace)
    assert _upload(client, full_workspace, text).status_code == 403
    assert client.post(_page(full_workspace, "apply/")).status_code == 403


def test_upload_shows_the_plan_then_apply_changes_the_workspace(
    full_workspace, admin, login, htmx_headers
):
    client = login(admin)
    text = workspace_export(full_workspace).replace("count: 100", "count: 250")
    before = AuditEvent.objects.count()

    shown = client.post(
        _page(full_workspace, "plan/"),
        {"file": SimpleUploadedFile("w.yaml", text.encode()), "env": _env_text()},
        headers=htmx_headers,
    )

    assert shown.status_code == 200
    assert b"<html" not in shown.content
    assert "config.count 100 -&gt; 250" in shown.content.decode()
    assert SECRETS["pw"] not in shown.content.decode()
    assert AuditEvent.objects.count() == before
    digest = _digest(shown.content.decode())

    applied = client.post(_page(full_workspace, "apply/"), {"digest": digest})

    assert applied.status_code == 302
    assert Source.objects.get(workspace=full_workspace).config["count"] == 250
    assert AuditEvent.objects.filter(action="workspace.imported").exists()


def test_apply_is_refused_when_the_workspace_changed_since_the_plan(
    full_workspace, admin, login
):
    client = login(admin)
    text = workspace_export(full_workspace).replace("count: 100", "count: 250")
    shown = _upload(client, full_workspace, text)
    digest = _digest(shown.content.decode())
    Source.objects.filter(workspace=full_workspace).update(config={"count": 1})

    refused = client.post(_page(full_workspace, "apply/"), {"digest": digest})

    assert refused.status_code == 409
    assert "changed since this plan" in refused.content.decode()
    assert Source.objects.get(workspace=full_workspace).config == {"count": 1}


def test_problems_are_listed_and_nothing_can_be_applied(full_workspace, admin, login):
    client = login(admin)
    document = yaml.safe_load(workspace_export(full_workspace))
    document["sources"].append(
        {"name": "Mystery", "connector": {"name": "Nope"}, "config": {}}
    )

    shown = client.post(
        _page(full_workspace, "plan/"),
        {"text": yaml.safe_dump(document), "env": ""},
    )

    body = shown.content.decode()
    assert shown.status_code == 400
    assert "is not set" in body
    assert "unknown source connector “Nope”" in body
    assert 'name="digest"' not in body


def test_a_bad_env_line_is_shown_in_the_plan(
    full_workspace, admin, login, htmx_headers
):
    shown = login(admin).post(
        _page(full_workspace, "plan/"),
        {"text": workspace_export(full_workspace), "env": "not a pair"},
        headers=htmx_headers,
    )

    assert shown.status_code == 400
    assert "Line 1 is not NAME=value" in shown.content.decode()


def test_apply_in_an_older_tab_never_applies_the_newer_plan(
    full_workspace, admin, login
):
    client = login(admin)
    exported = workspace_export(full_workspace)
    tab_a = _upload(
        client, full_workspace, exported.replace("count: 100", "count: 250")
    )
    digest_a = _digest(tab_a.content.decode())
    document = yaml.safe_load(exported)
    document["webhooks"] = []
    tab_b = _upload(client, full_workspace, yaml.safe_dump(document), prune="on")
    assert tab_b.status_code == 200

    refused = client.post(_page(full_workspace, "apply/"), {"digest": digest_a})

    assert refused.status_code == 409
    assert "not the plan you approved" in refused.content.decode()
    assert Source.objects.get(workspace=full_workspace).config["count"] == 100
    assert WebhookEndpoint.objects.filter(workspace=full_workspace).exists()


def test_a_full_page_plan_never_shows_the_typed_values(full_workspace, admin, login):
    client = login(admin)
    text = workspace_export(full_workspace).replace("count: 100", "count: 250")

    for env in (_env_text(), _env_text() + "\nnot a pair"):
        shown = client.post(_page(full_workspace, "plan/"), {"text": text, "env": env})

        body = shown.content.decode()
        assert "<html" in body
        for secret in SECRETS.values():
            assert secret not in body


def test_only_a_plan_without_problems_waits_and_it_waits_encrypted(
    full_workspace, admin, login
):
    client = login(admin)
    document = yaml.safe_load(workspace_export(full_workspace))
    document["sources"][0]["name"] = "Refused source"
    document["sources"][0]["connector"] = {"name": "Nope"}

    refused = _upload(client, full_workspace, yaml.safe_dump(document))

    assert refused.status_code == 400
    assert not [k for k, _ in client.session.items() if k.startswith("workspace_")]
    _upload(client, full_workspace, workspace_export(full_workspace))
    assert [k for k, _ in client.session.items() if k.startswith("workspace_")]
    stored = json.dumps(dict(client.session.items()))
    assert "PG warehouse" not in stored
    for secret in SECRETS.values():
        assert secret not in stored


def test_a_file_nested_too_deep_is_a_form_error(full_workspace, admin, login):
    shown = login(admin).post(
        _page(full_workspace, "plan/"), {"text": "[" * 5000, "env": ""}
    )

    assert shown.status_code == 400
    assert "nests deeper than" in shown.content.decode()


def test_pasted_text_is_held_under_the_upload_limit(full_workspace, admin, login):
    client = login(admin)

    page = client.get(_page(full_workspace)).content.decode()
    shown = client.post(
        _page(full_workspace, "plan/"), {"text": "#" * (2 * 1024 * 1024 + 1)}
    )

    assert 'maxlength="2097152"' in page
    assert shown.status_code == 400
    assert "at most 2097152 characters" in shown.content.decode()
