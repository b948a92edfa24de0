"""`manage.py airbyte ...`: text for people, --json for scripts, clear errors."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.workspaces.models import Workspace
from tests.factories import UserFactory


@pytest.fixture
def superuser(db):
    return UserFactory(email="root@acme.test", is_superuser=True, is_staff=True)


def airbyte(capsys, *args: str) -> str:
    call_command("airbyte", *args)
    return capsys.readouterr().out


def test_workspace_create_and_list(superuser, capsys):
    out = airbyte(capsys, "workspace", "create", "Finance")
    assert "Created workspace Finance" in out
    workspace = Workspace.objects.get(name="Finance")
    assert workspace.memberships.get().user == superuser
    assert (
        AuditEvent.objects.get(action="workspace.created").user_agent == "airbyte-cli"
    )
    listing = airbyte(capsys, "workspace", "list")
    assert "Finance" in listing and "admin" in listing
    rows = json.loads(airbyte(capsys, "workspace", "list", "--json"))
    assert rows == [
        {
            "id": str(workspace.public_id),
            "name": "Finance",
            "slug": "finance",
            "engine": "embedded",
            "role": "admin",
            "current": False,
        }
    ]


def test_workspace_switch_is_remembered(superuser, capsys):
    airbyte(capsys, "workspace", "create", "Finance")
    out = airbyte(capsys, "workspace", "switch", "finance")
    assert "Current workspace: Finance" in out
    rows = json.loads(airbyte(capsys, "workspace", "list", "--json"))
    assert rows[0]["current"] is True


def test_switch_to_unknown_workspace_says_so(superuser):
    with pytest.raises(CommandError, match="No workspace named 'nope'"):
        call_command("airbyte", "workspace", "switch", "nope")


def test_duplicate_workspace_from_cli_is_refused(superuser, capsys):
    airbyte(capsys, "workspace", "create", "Finance")
    with pytest.raises(CommandError, match="already exists"):
        call_command("airbyte", "workspace", "create", "finance")
    assert Workspace.objects.count() == 1


def test_acting_as_unknown_user_is_refused(db):
    with pytest.raises(CommandError, match=r"No active user with the email x@y\.z"):
        call_command("airbyte", "workspace", "list", "--as", "x@y.z")


def test_status_json_reports_each_part(db, capsys):
    call_command("airbyte", "status", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["database"]["ok"] is True
    assert data["broker"]["ok"] is True
    assert data["engine"]["default"] == "embedded"
    assert "version" in data


def test_info_masks_secrets(db, capsys, settings):
    settings.METRICS_TOKEN = "canary-metrics-token"
    text = airbyte(capsys, "info")
    data = json.loads(airbyte(capsys, "info", "--json"))
    assert "canary-metrics-token" not in text + json.dumps(data)
    assert settings.SECRET_KEY not in text
    assert data["metrics_token"] == "**********"


def test_unknown_group_is_an_error():
    with pytest.raises(CommandError):
        call_command("airbyte", "nonsense")


def test_cli_in_a_subprocess_exits_non_zero_with_message_on_stderr(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    environment = dict(os.environ, CONSOLE_DATA_DIR=str(tmp_path))
    environment.pop("DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"],
        cwd=root,
        env=environment,
        check=True,
        timeout=120,
    )
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "airbyte",
            "workspace",
            "switch",
            "nope",
            "--json",
        ],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "No admin user exists yet" in result.stderr
    helped = subprocess.run(
        [sys.executable, "manage.py", "airbyte", "workspace", "--help"],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert helped.returncode == 0
    assert "switch" in helped.stdout and "create" in helped.stdout
