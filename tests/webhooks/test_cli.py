"""`airbyte webhook ...`: register with the tool's event names, list, test, remove."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.webhooks import signing
from apps.webhooks.models import WebhookEndpoint


def airbyte(capsys, *args: str) -> str:
    call_command("airbyte", *args)
    return capsys.readouterr().out


def test_register_accepts_the_resource_airbyte_event_names(
    admin, workspace, receiver, capsys
):
    out = airbyte(
        capsys,
        "webhook",
        "register",
        "--name",
        "slack",
        "--url",
        receiver.url,
        "--events",
        "sync_completed,sync_failed",
        "--format",
        "slack",
        "--as",
        admin.email,
    )
    endpoint = WebhookEndpoint.objects.get(name="slack")
    assert endpoint.events == ["sync.succeeded", "sync.failed"]
    assert endpoint.format == "slack"
    assert out.count(endpoint.secret) == 1
    assert AuditEvent.objects.get(action="webhook.created").user_agent == "airbyte-cli"
    listing = airbyte(capsys, "webhook", "list", "--as", admin.email)
    assert "slack" in listing and endpoint.secret not in listing
    rows = json.loads(airbyte(capsys, "webhook", "list", "--json", "--as", admin.email))
    assert rows[0]["events"] == "sync.succeeded,sync.failed"
    assert "secret" not in rows[0]


def test_unknown_event_is_refused_with_the_choices(admin, workspace):
    with pytest.raises(CommandError, match="Unknown event sync_exploded"):
        call_command(
            "airbyte",
            "webhook",
            "register",
            "--name",
            "x",
            "--url",
            "https://hooks.example.com/x",
            "--events",
            "sync_exploded",
            "--as",
            admin.email,
        )


def test_test_sends_a_signed_event_now(admin, workspace, receiver, capsys):
    data = json.loads(
        airbyte(
            capsys,
            "webhook",
            "register",
            "--name",
            "ops",
            "--url",
            receiver.url,
            "--events",
            "sync_failed",
            "--json",
            "--as",
            admin.email,
        )
    )
    out = airbyte(capsys, "webhook", "test", "ops", "--as", admin.email)
    assert "succeeded (HTTP 200" in out
    [got] = receiver.received
    signing.verify(secret=data["secret"], headers=got.headers, body=got.body)


def test_test_exits_non_zero_when_the_receiver_fails(
    admin, workspace, receiver, capsys
):
    airbyte(
        capsys,
        "webhook",
        "register",
        "--name",
        "ops",
        "--url",
        receiver.url,
        "--events",
        "sync_failed",
        "--as",
        admin.email,
    )
    receiver.plan = [(404, {}, b"no such hook")]
    with pytest.raises(SystemExit) as exit_:
        call_command("airbyte", "webhook", "test", "ops", "--as", admin.email)
    assert exit_.value.code == 1
    assert "404" in capsys.readouterr().out


def test_remove(admin, workspace, receiver, capsys):
    airbyte(
        capsys,
        "webhook",
        "register",
        "--name",
        "ops",
        "--url",
        receiver.url,
        "--events",
        "sync_failed",
        "--as",
        admin.email,
    )
    assert "Removed webhook ops" in airbyte(
        capsys, "webhook", "remove", "ops", "--as", admin.email
    )
    assert not WebhookEndpoint.objects.exists()
    with pytest.raises(CommandError, match="No webhook named 'ops'"):
        call_command("airbyte", "webhook", "remove", "ops", "--as", admin.email)


def test_viewer_cannot_register(viewer, workspace):
    with pytest.raises(CommandError, match="needs the editor role"):
        call_command(
            "airbyte",
            "webhook",
            "register",
            "--name",
            "x",
            "--url",
            "https://hooks.example.com/x",
            "--events",
            "sync_failed",
            "--as",
            viewer.email,
        )
    assert not WebhookEndpoint.objects.exists()
