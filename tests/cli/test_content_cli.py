"""`airbyte content ...`: sources, destinations and connections from files."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.connections.models import Connection
from apps.connectors.models import Destination, Source
from tests.engines.fixtures import FAKER_ID, definition
from tests.factories import DestinationFactory, SourceFactory

CANARY = "Cli-Secret-Canary-55"


@pytest.fixture
def editor_cli(editor, workspace):
    return ["--as", editor.email, "--workspace", str(workspace.public_id)]


def write(tmp_path, name: str, data: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def test_bad_source_config_names_each_json_path(
    editor_cli, tmp_path, real_connectors, faker_installed
):
    config = write(
        tmp_path,
        "faker.json",
        {
            "name": "Faker",
            "connector": "Sample Data (Faker)",
            "config": {"count": "lots", "parallelism": 0},
        },
    )
    with pytest.raises(CommandError) as caught:
        call_command(
            "airbyte",
            "content",
            "add",
            "--type",
            "source",
            "--config",
            config,
            *editor_cli,
        )
    message = str(caught.value)
    assert "/count:" in message and "/parallelism:" in message
    assert not Source.objects.exists()


def test_postgres_destination_secret_is_stored_and_never_printed(
    editor_cli, workspace, tmp_path, capsys
):
    config = write(
        tmp_path,
        "pg.json",
        {
            "name": "Warehouse",
            "connector": "PostgreSQL",
            "config": {
                "host": "127.0.0.1",
                "port": 5432,
                "database": "postgres",
                "schema": "public",
                "username": "postgres",
                "password": CANARY,
            },
        },
    )
    call_command(
        "airbyte",
        "content",
        "add",
        "--type",
        "destination",
        "--config",
        config,
        *editor_cli,
    )
    destination = Destination.objects.get(name="Warehouse")
    assert "password" not in destination.config
    assert CANARY not in capsys.readouterr().out
    call_command(
        "airbyte",
        "content",
        "get",
        "--id",
        str(destination.public_id),
        "--json",
        *editor_cli,
    )
    shown = capsys.readouterr().out
    assert CANARY not in shown
    assert json.loads(shown)["secrets_set"] == ["/password"]


def test_connection_from_a_file_then_listed(editor_cli, workspace, tmp_path, capsys):
    SourceFactory(workspace=workspace, name="Faker")
    DestinationFactory(workspace=workspace, name="Duck")
    config = write(
        tmp_path,
        "conn.json",
        {
            "name": "Nightly",
            "source": "Faker",
            "destination": "Duck",
            "namespace": "faker",
            "streams": [
                {
                    "name": "users",
                    "sync_mode": "incremental",
                    "destination_sync_mode": "append_dedup",
                }
            ],
        },
    )
    call_command(
        "airbyte",
        "content",
        "add",
        "--type",
        "connection",
        "--config",
        config,
        *editor_cli,
    )
    connection = Connection.objects.get(name="Nightly")
    assert connection.streams.get(name="users").primary_key == [["id"]]
    capsys.readouterr()
    call_command(
        "airbyte", "content", "list", "--type", "connections", "--json", *editor_cli
    )
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["Nightly"]


def test_bad_stream_in_a_connection_file_says_which(editor_cli, workspace, tmp_path):
    SourceFactory(workspace=workspace, name="Faker")
    DestinationFactory(workspace=workspace, name="Duck")
    config = write(
        tmp_path,
        "conn.json",
        {
            "source": "Faker",
            "destination": "Duck",
            "streams": [{"name": "nope"}],
        },
    )
    with pytest.raises(CommandError, match="Stream nope: the source does not have it"):
        call_command(
            "airbyte",
            "content",
            "add",
            "--type",
            "connection",
            "--config",
            config,
            *editor_cli,
        )


def test_remove_is_refused_while_a_connection_uses_it(editor_cli, workspace, tmp_path):
    from tests.factories import ConnectionFactory

    connection = ConnectionFactory(workspace=workspace, name="Uses it")
    with pytest.raises(CommandError, match="used by 1 connection: Uses it"):
        call_command(
            "airbyte",
            "content",
            "remove",
            "--id",
            str(connection.source.public_id),
            *editor_cli,
        )


def test_viewer_cannot_add(workspace, tmp_path, viewer):
    Source.objects.create(
        workspace=workspace, name="x", definition=definition(FAKER_ID)
    )
    config = write(tmp_path, "conn.json", {"source": "x", "destination": "y"})
    with pytest.raises(CommandError, match="needs the editor role"):
        call_command(
            "airbyte",
            "content",
            "add",
            "--type",
            "connection",
            "--config",
            config,
            "--as",
            viewer.email,
            "--workspace",
            str(workspace.public_id),
        )


def test_outsider_workspace_is_unknown(outsider, workspace):
    with pytest.raises(CommandError, match="No workspace"):
        call_command(
            "airbyte",
            "content",
            "list",
            "--type",
            "sources",
            "--as",
            outsider.email,
            "--workspace",
            str(workspace.public_id),
        )


def test_a_connection_to_a_source_never_discovered_finds_its_streams_first(
    editor_cli, workspace, tmp_path, monkeypatch
):
    """`content add --type source` then `--type connection`, as the README shows:
    the source's streams are discovered on the way, or the reason is printed."""
    from apps.connections import cli as connections_cli
    from apps.connectors.services import source_discover_record

    catalog = SourceFactory.build().catalog
    source = SourceFactory(workspace=workspace, name="Fresh", catalog=None)
    DestinationFactory(workspace=workspace, name="Duck")
    conn = write(tmp_path, "conn.json", {"source": "Fresh", "destination": "Duck"})
    answers = iter([None, "found"])

    def discover(*, pk):
        answer = next(answers)
        row = Source.objects.get(pk=pk)
        if answer is None:
            source_discover_record(source=row, catalog=None, message="API said 401.")
            return None
        Source.objects.filter(pk=pk).update(catalog=catalog)
        return answer

    monkeypatch.setattr(connections_cli, "source_discover_run", discover)
    add = ("airbyte", "content", "add", "--type", "connection", "--config", conn)

    with pytest.raises(CommandError, match="Could not find the streams of Fresh: API"):
        call_command(*add, *editor_cli)
    assert not Connection.objects.exists()

    call_command(*add, *editor_cli)
    source.refresh_from_db()
    connection = Connection.objects.get(source=source)
    assert {s.name for s in connection.streams.all()} == {
        s["name"] for s in catalog["streams"]
    }
