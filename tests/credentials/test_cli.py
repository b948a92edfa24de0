"""`manage.py airbyte credentials ...`: store, list, remove, rotate-key."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.core.roles import Role
from apps.credentials.models import Credential
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

ACME = ("--workspace", "Acme Data")


def airbyte(*args: str) -> None:
    call_command("airbyte", "credentials", *args)


@pytest.fixture
def cred_file(tmp_path, canary):
    def write(data) -> str:
        path = tmp_path / "cred.json"
        path.write_text(data if isinstance(data, str) else json.dumps(data))
        return str(path)

    return write


@pytest.fixture
def superuser(workspace):
    user = UserFactory(email="root@acme.test", is_superuser=True, is_staff=True)
    MembershipFactory(user=user, workspace=workspace, role=Role.ADMIN)
    return user


def test_store_creates_a_credential_and_prints_no_secret(
    superuser, workspace, cred_file, canary, capsys
):
    path = cred_file({"api_key": f"sk_live_{canary}"})
    airbyte("store", "--name", "Stripe", "--type", "api_key", "--file", path, *ACME)
    out = capsys.readouterr()
    assert "Stored credential Stripe (api_key) in Acme Data." in out.out
    assert canary not in out.out + out.err
    credential = Credential.objects.get(workspace=workspace, name="Stripe")
    assert credential.get_payload() == {"api_key": f"sk_live_{canary}"}
    assert AuditEvent.objects.get(action="credential.created").actor == superuser


def test_store_with_json_reads_stdin_and_updates_by_name(
    superuser, workspace, monkeypatch, canary, capsys
):
    monkeypatch.setattr(
        "sys.stdin", io.StringIO(json.dumps({"username": "a", "password": "1"}))
    )
    airbyte(
        "store",
        "--name",
        "Login",
        "--type",
        "basic_auth",
        "--file",
        "-",
        "--workspace",
        str(workspace.public_id),
        "--json",
    )
    created = json.loads(capsys.readouterr().out)
    assert created["created"] is True
    assert created["hints"] == {"username": "a"}
    monkeypatch.setattr(
        "sys.stdin",
        io.StringIO(json.dumps({"username": "b", "password": f"p-{canary}"})),
    )
    airbyte(
        "store",
        "--name",
        "login",
        "--type",
        "basic_auth",
        "--file",
        "-",
        "--workspace",
        "ACME data",
        "--json",
    )
    out = capsys.readouterr().out
    updated = json.loads(out)
    assert updated["created"] is False
    assert updated["rotated_at"] is not None
    assert canary not in out
    assert (
        Credential.objects.get(name="Login").get_payload()["password"] == f"p-{canary}"
    )


def test_store_names_each_wrong_field(superuser, workspace, cred_file):
    with pytest.raises(CommandError) as caught:
        airbyte(
            "store",
            "--name",
            "DB",
            "--type",
            "database",
            "--file",
            cred_file({"host": "db", "port": "x"}),
            "--workspace",
            "Acme Data",
        )
    message = str(caught.value)
    assert "port: Port must be a whole number." in message
    assert "database: Database is required." in message
    assert "username: Username is required." in message
    assert not Credential.objects.exists()


def test_store_refuses_bad_json_without_echoing_it(
    superuser, workspace, cred_file, canary
):
    with pytest.raises(CommandError) as caught:
        path = cred_file(f'{{"api_key": "{canary}"')
        airbyte("store", "--name", "K", "--type", "api_key", "--file", path, *ACME)
    assert "is not valid JSON (line 1" in str(caught.value)
    assert canary not in str(caught.value)


def test_store_uses_the_clis_current_workspace(
    superuser, workspace, settings, cred_file
):
    MembershipFactory(
        user=superuser, workspace=WorkspaceFactory(name="Other"), role="admin"
    )
    args = [
        "store",
        "--name",
        "K",
        "--type",
        "api_key",
        "--file",
        cred_file({"api_key": "k"}),
    ]
    with pytest.raises(CommandError, match="Which workspace"):
        airbyte(*args)
    settings.CONSOLE_CLI_STATE_FILE.write_text(
        json.dumps({"workspace": str(workspace.public_id)})
    )
    airbyte(*args)
    assert Credential.objects.get(name="K").workspace == workspace


def test_viewer_cannot_store_through_the_cli(viewer, workspace, cred_file):
    with pytest.raises(CommandError, match="needs the editor role"):
        airbyte(
            "store",
            "--name",
            "K",
            "--type",
            "api_key",
            "--file",
            cred_file({"api_key": "k"}),
            "--workspace",
            "Acme Data",
            "--as",
            viewer.email,
        )
    assert not Credential.objects.exists()


def test_outsider_cannot_see_the_workspace(outsider, workspace):
    with pytest.raises(CommandError, match="No workspace 'Acme Data'"):
        airbyte("list", "--workspace", "Acme Data", "--as", outsider.email)


def test_list_text_and_json(
    superuser, workspace, api_key_credential, make_source, capsys, canary
):
    make_source("Payments").credentials.add(api_key_credential)
    airbyte("list", "--workspace", "Acme Data")
    text = capsys.readouterr().out
    assert "NAME" in text and "Stripe" in text and "api_key" in text
    airbyte("list", "--workspace", "Acme Data", "--json")
    out = capsys.readouterr().out
    [row] = json.loads(out)
    assert row["name"] == "Stripe"
    assert row["sources"] == 1
    assert row["destinations"] == 0
    assert canary not in text + out


def test_remove_refuses_while_used_then_removes(
    superuser, workspace, api_key_credential, make_source, capsys
):
    source = make_source("Payments")
    source.credentials.add(api_key_credential)
    with pytest.raises(CommandError, match="used by source “Payments”"):
        airbyte("remove", "--name", "Stripe", "--workspace", "Acme Data")
    source.credentials.clear()
    airbyte("remove", "--name", "stripe", "--workspace", "Acme Data", "--json")
    assert json.loads(capsys.readouterr().out)["removed"] is True
    assert not Credential.objects.exists()


def test_remove_unknown_name(superuser, workspace):
    with pytest.raises(CommandError, match="No credential named 'Nope'"):
        airbyte("remove", "--name", "Nope", "--workspace", "Acme Data")


def test_rotate_key_reports_counts(superuser, api_key_credential, capsys):
    airbyte("rotate-key", "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["rows"]["credentials.Credential"] == 0
    assert data["total"] == 0
    airbyte("rotate-key")
    assert "credentials.Credential: 0 row(s) re-encrypted" in capsys.readouterr().out


def test_rotate_key_needs_a_superuser(editor):
    with pytest.raises(CommandError, match="superuser"):
        airbyte("rotate-key", "--as", editor.email)
