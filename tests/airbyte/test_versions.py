"""Sync modes by server version (#12 point 8).

1.0-1.5 know four Public API sync modes, 1.6 adds ``full_refresh_overwrite_deduped``,
1.8 and 2.0 the ``*_update`` / ``*_soft_delete`` modes the console cannot express.
The console sends only what the server's version has (refusing, with a message that
says why, before anything is sent) and sends the server's own modes back unchanged.
"""

from __future__ import annotations

import httpx
import pytest

from apps.airbyte import services as server_services
from apps.airbyte.importer import airbyte_import
from apps.airbyte.models import AirbyteServer
from apps.connections import services as connection_services
from apps.connections.models import Connection
from apps.connectors import services as connector_services
from tests.airbyte_fake import DEFAULT_WORKSPACE_ID, POSTGRES_DESTINATION_ID


def _seed_pipeline(fake, modes: dict[str, str]):
    """A faker -> Postgres connection made in Airbyte, its streams' modes set there
    (as someone does in Airbyte's UI); Postgres given the update modes too."""
    postgres = fake.state.definitions[POSTGRES_DESTINATION_ID]
    for extra in ("update", "soft_delete"):
        if extra not in postgres.supported_destination_sync_modes:
            postgres.supported_destination_sync_modes.append(extra)
    source = fake.seed_faker_source(name="Their faker")
    destination = fake.seed_actor(
        "destination",
        name="Their warehouse",
        definition_id=POSTGRES_DESTINATION_ID,
        configuration={
            "host": "db",
            "port": 5432,
            "database": "dw",
            "schema": "public",
            "username": "loader",
            "password": "only-the-server-knows",
        },
        workspace_id=DEFAULT_WORKSPACE_ID,
    )
    remote = fake.seed_connection(source, destination, name="Their pipeline")
    with fake.lock:
        for stream in remote.streams:
            if stream.name in modes:
                stream.sync_mode = modes[stream.name]
                if modes[stream.name].startswith("incremental"):
                    stream.cursor_field = ["updated_at"]
                stream.primary_key = [["id"]]
    return remote


def _rename(admin, connection, name, capture):
    with capture(execute=True):
        connection_services.connection_update(
            actor=admin, connection=connection, name=name
        )
    connection.refresh_from_db()
    return connection


def _remote_modes(fake, remote_id: str) -> dict[str, str]:
    return {s.name: s.sync_mode for s in fake.state.connections[remote_id].streams}


def test_the_fake_refuses_modes_its_version_lacks_and_reports_its_version(
    airbyte_fake,
):
    """The fake's switch: 1.5 refuses full_refresh_overwrite_deduped and the update
    modes with a 400 problem, 1.8 and 2.0 take them; instance_configuration says
    which version answers."""
    source = airbyte_fake.seed_faker_source()
    destination = airbyte_fake.seed_actor(
        "destination",
        name="Warehouse",
        definition_id=POSTGRES_DESTINATION_ID,
        configuration={
            "host": "db",
            "port": 5432,
            "database": "dw",
            "schema": "public",
            "username": "loader",
            "password": "pw",
        },
        workspace_id=DEFAULT_WORKSPACE_ID,
    )
    body = {
        "sourceId": source.id,
        "destinationId": destination.id,
        "configurations": {
            "streams": [
                {
                    "name": "purchases",
                    "syncMode": "full_refresh_overwrite_deduped",
                    "primaryKey": [["id"]],
                }
            ]
        },
    }
    headers = {"Authorization": f"Bearer {airbyte_fake.issue_token()}"}
    url = f"{airbyte_fake.url}/api/public/v1/connections"
    config_url = f"{airbyte_fake.url}/api/v1/instance_configuration"

    airbyte_fake.version = "1.5.0"
    refused = httpx.post(url, json=body, headers=headers)
    assert refused.status_code == 400
    assert "full_refresh_overwrite_deduped" in refused.text
    assert refused.json()["type"].endswith("bad-request")
    assert httpx.get(config_url).json()["version"] == "1.5.0"
    assert not airbyte_fake.state.connections

    for version in ("1.8.0", "2.0.0"):
        airbyte_fake.version = version
        assert httpx.post(url, json=body, headers=headers).status_code == 200
        assert httpx.get(config_url).json()["version"] == version
    assert not airbyte_fake.violations


def test_an_imported_update_mode_goes_back_unchanged_and_shows_read_only(
    airbyte_fake, airbyte_workspace, admin, login, django_capture_on_commit_callbacks
):
    remote = _seed_pipeline(
        airbyte_fake,
        {"users": "incremental_update", "purchases": "full_refresh_soft_delete"},
    )
    airbyte_import(actor=admin, workspace=airbyte_workspace)
    connection = Connection.objects.get(workspace=airbyte_workspace)

    # Any change in the console pushes the connection back: the modes stay.
    _rename(admin, connection, "Our pipeline", django_capture_on_commit_callbacks)
    assert connection.status_reason == ""
    modes = _remote_modes(airbyte_fake, remote.id)
    assert modes["users"] == "incremental_update"
    assert modes["purchases"] == "full_refresh_soft_delete"
    assert modes["products"] == "full_refresh_overwrite"
    assert airbyte_fake.state.connections[remote.id].name == "Our pipeline"

    page = login(admin).get(
        f"/w/{airbyte_workspace.public_id}/connections/{connection.public_id}/"
    )
    assert page.status_code == 200
    assert "set in Airbyte: incremental_update" in page.content.decode()
    assert connection.streams.get(name="users").remote_sync_mode == (
        "incremental_update"
    )
    assert connection.streams.get(name="products").remote_sync_mode == ""
    assert not airbyte_fake.violations


def test_choosing_a_mode_in_the_console_replaces_the_servers_own(
    airbyte_fake, airbyte_workspace, admin, django_capture_on_commit_callbacks
):
    remote = _seed_pipeline(airbyte_fake, {"users": "incremental_update"})
    airbyte_import(actor=admin, workspace=airbyte_workspace)
    connection = Connection.objects.get(workspace=airbyte_workspace)
    assert connector_services.source_discover_run(pk=connection.source_id)
    streams = [
        {
            "name": s.name,
            "sync_mode": s.sync_mode,
            "destination_sync_mode": s.destination_sync_mode,
            "cursor_field": s.cursor_field,
            "primary_key": s.primary_key,
        }
        for s in connection.streams.all()
    ]
    for item in streams:
        if item["name"] == "users":
            item["destination_sync_mode"] = "append_dedup"
    with django_capture_on_commit_callbacks(execute=True):
        connection_services.connection_update(
            actor=admin, connection=connection, streams=streams
        )
    assert connection.streams.get(name="users").remote_sync_mode == ""
    modes = _remote_modes(airbyte_fake, remote.id)
    assert modes["users"] == "incremental_deduped_history"


def test_a_mode_the_servers_version_lacks_is_refused_before_sending(
    airbyte_fake, airbyte_workspace, admin, django_capture_on_commit_callbacks
):
    """Imported from a 1.8 server, the workspace is then pointed at a 1.5 one (a
    downgrade, a second install): the console says which mode needs which version
    and sends nothing, instead of the server's enum error."""
    remote = _seed_pipeline(
        airbyte_fake, {"purchases": "full_refresh_overwrite_deduped"}
    )
    airbyte_import(actor=admin, workspace=airbyte_workspace)
    connection = Connection.objects.get(workspace=airbyte_workspace)
    airbyte_fake.version = "1.5.0"
    server = AirbyteServer.objects.get(workspace=airbyte_workspace)
    assert server_services.server_test(actor=admin, server=server).ok
    server.refresh_from_db()
    assert server.server_version == "1.5.0"
    sent = len(airbyte_fake.requests)

    _rename(admin, connection, "Our pipeline", django_capture_on_commit_callbacks)
    assert "full_refresh_overwrite_deduped needs Airbyte 1.6 or later" in (
        connection.status_reason
    )
    assert "1.5.0" in connection.status_reason
    # The console refused it; the server never saw it.
    assert connection.status_reason.startswith(
        "This change was not sent to the Airbyte server"
    )
    assert not [
        r
        for r in airbyte_fake.requests[sent:]
        if r.method in {"PATCH", "POST"} and "/connections" in r.path
    ]
    assert airbyte_fake.state.connections[remote.id].name == "Their pipeline"
    assert _remote_modes(airbyte_fake, remote.id)["purchases"] == (
        "full_refresh_overwrite_deduped"
    )


@pytest.mark.parametrize(
    ("mode", "version", "expected"),
    [
        ("full_refresh_overwrite", "1.0.0", True),
        ("full_refresh_overwrite_deduped", "1.5.2", False),
        ("full_refresh_overwrite_deduped", "1.6.0", True),
        ("incremental_update", "1.7.1", False),
        ("incremental_soft_delete", "1.8.0", True),
        ("incremental_update", "2.0.0", True),
        ("incremental_update", "", True),  # never probed: taken as current
    ],
)
def test_which_modes_a_version_has(mode, version, expected):
    from apps.airbyte.mapping import supports_sync_mode

    assert supports_sync_mode(mode, version) is expected
