"""`airbyte status`: each workspace's engine, with the Airbyte server's facts."""

from __future__ import annotations

import json
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.airbyte.models import AirbyteServer
from apps.workspaces.models import Workspace
from tests.cli_runner import airbyte
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory


def status(capsys, *args: str) -> tuple[int, str]:
    """Run `airbyte status`; its exit code and what it printed."""
    code, out, _ = airbyte(capsys, "status", *args)
    return code, out


def on_airbyte(workspace: Workspace, url: str, secret: str = "console-secret"):  # noqa: S107
    workspace.engine = Workspace.Engine.AIRBYTE
    workspace.save(update_fields=["engine"])
    return AirbyteServer.objects.create(
        workspace=workspace,
        url=url,
        auth=AirbyteServer.Auth.APPLICATION,
        client_id="console-client",
        client_secret=secret,
    )


def test_embedded_workspace_shows_connectors_directory_and_faker(
    workspace, real_connectors, faker_installed, capsys
):
    code, text = status(capsys)
    assert code == 0
    assert "embedded  ok" in text
    assert f"installed in {real_connectors}" in text
    assert "faker 7.2.1 installed" in text
    assert "workspaces: Acme Data" in text
    code, out = status(capsys, "--json")
    data = json.loads(out)
    assert data["healthy"] is True
    (engine,) = data["engines"]
    assert engine["engine"] == "embedded"
    assert engine["connectors_installed"] >= 1
    assert engine["faker"] == "installed"
    assert data["workspaces"] == [
        {"id": str(workspace.public_id), "name": "Acme Data", "engine": "embedded"}
    ]


def test_unwritable_connectors_directory_makes_status_fail(
    workspace, settings, tmp_path, capsys
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.CONNECTORS_DIR = blocker / "connectors"
    code, text = status(capsys)
    assert code == 1
    assert "embedded  DOWN" in text
    assert f"cannot write to the connectors directory {blocker / 'connectors'}" in text


def test_airbyte_workspace_shows_server_version_edition_and_auth_mode(
    workspace, airbyte_fake, capsys
):
    on_airbyte(workspace, airbyte_fake.url)
    code, text = status(capsys)
    assert code == 0, text
    assert f"airbyte   ok    {airbyte_fake.url}" in text
    assert "version 1.8.0, edition community, auth mode simple" in text
    assert "Connected to Airbyte 1.8.0" in text
    code, out = status(capsys, "--json")
    (engine,) = json.loads(out)["engines"]
    assert engine["url"] == airbyte_fake.url
    assert (engine["version"], engine["edition"], engine["auth_mode"]) == (
        "1.8.0",
        "community",
        "simple",
    )
    assert [s["name"] for s in engine["steps"]] == ["reach", "sign_in", "list"]


def test_airbyte_server_refusing_the_secret_makes_status_fail(
    workspace, airbyte_fake, capsys
):
    on_airbyte(workspace, airbyte_fake.url, secret="stale-secret")
    code, text = status(capsys)
    assert code == 1
    assert "airbyte   DOWN" in text
    assert "Signing in failed" in text
    assert "stale-secret" not in text


def test_unreachable_airbyte_server_is_down_at_once(workspace, capsys):
    on_airbyte(workspace, "http://127.0.0.1:9")
    started = time.monotonic()
    code, text = status(capsys)
    assert code == 1
    assert "Reaching the server failed" in text
    # No retries with backoff while someone waits for `status`.
    assert time.monotonic() - started < 4


def test_a_hung_airbyte_server_cannot_hold_status_up(workspace, airbyte_fake, capsys):
    on_airbyte(workspace, airbyte_fake.url)
    airbyte_fake.delay_next("GET", "/api/v1/instance_configuration", 6)
    started = time.monotonic()
    code, text = status(capsys)
    assert code == 1
    assert "did not answer" in text
    assert time.monotonic() - started < 5.5


def test_workspace_option_checks_only_that_workspace(workspace, admin, capsys):
    broken = WorkspaceFactory(name="Broken Server")
    MembershipFactory(user=admin, workspace=broken, role="admin")
    on_airbyte(broken, "http://127.0.0.1:9")
    code, out = status(
        capsys, "--workspace", "Acme Data", "--as", admin.email, "--json"
    )
    data = json.loads(out)
    assert code == 0
    assert [e["engine"] for e in data["engines"]] == ["embedded"]
    assert [w["name"] for w in data["workspaces"]] == ["Acme Data"]
    code, _ = status(capsys, "--workspace", "Broken Server", "--as", admin.email)
    assert code == 1


def test_workspace_option_respects_membership(workspace, outsider):
    with pytest.raises(CommandError, match="No workspace 'Acme Data'"):
        call_command(
            "airbyte", "status", "--workspace", "Acme Data", "--as", outsider.email
        )


def test_airbyte_workspace_without_a_server_is_reported(db, capsys):
    WorkspaceFactory(name="Half Set Up", engine=Workspace.Engine.AIRBYTE)
    UserFactory(email="root@acme.test", is_superuser=True)
    code, text = status(capsys)
    assert code == 1
    assert "have no server set up" in text
    assert "workspaces: Half Set Up" in text


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["status"], "the database has no tables yet"),
        (["test", "smoke"], "not checked: migrate first"),
    ],
)
def test_a_database_never_migrated_is_explained_not_a_traceback(
    tmp_path, command, says
):
    """What a new user types first, before `manage install`: no traceback."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL"}
    }
    env["CONSOLE_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "manage.py", "airbyte", *command],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert says in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
