"""Field selection: a stream syncs only the chosen columns, plus the ``_airbyte_*``
columns and its primary key and cursor; checked with a real sync into PostgreSQL."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apps.connections.models import Connection, SyncJob
from tests.connections.conftest import pg_rows
from tests.connections.test_sync_embedded import run_now
from tests.factories import DestinationFactory, SourceFactory


def url(name, workspace, *args):
    return reverse(f"connections:{name}", args=[workspace.public_id, *args])


def _post(source, destination, **extra):
    return {
        "name": "Picked",
        "source": source.pk,
        "destination": destination.pk,
        "namespace": "faker",
        "schema_change_policy": "ignore",
        "action": "save",
        "stream-0-selected": "on",
        "stream-0-mode": "incremental:append_dedup",
        "stream-0-cursor": json.dumps(["updated_at"]),
        "stream-0-pk": json.dumps(["id"]),
        "stream-0-fields-shown": "1",
        "stream-1-mode": "full_refresh:overwrite",
        **extra,
    }


@pytest.mark.django_db
def test_chosen_fields_are_saved_with_the_key_and_cursor(
    editor, workspace, login, htmx_headers
):
    source = SourceFactory(workspace=workspace)
    destination = DestinationFactory(workspace=workspace)
    client = login(editor)
    page = client.get(url("streams", workspace), {"source": source.pk}, **{})
    assert "All 4 fields" in page.text
    assert 'name="stream-0-fields" value="name" checked' in page.text
    response = client.post(
        url("create", workspace),
        _post(source, destination, **{"stream-0-fields": "name"}),
    )
    assert response.status_code == 302, response.text[:2000]
    users = Connection.objects.get(name="Picked").streams.get(name="users")
    # The key and the cursor are always synced, whatever was ticked.
    assert users.selected_fields == ["id", "name", "updated_at"]
    assert set(users.synced_json_schema["properties"]) == {"id", "name", "updated_at"}
    page = client.get(url("detail", workspace, users.connection.public_id))
    assert "3 fields: id, name, updated_at" in page.text
    settings = client.get(url("settings", workspace, users.connection.public_id))
    assert "3 of 4 fields" in settings.text
    assert 'name="stream-0-fields" value="address">' in settings.text


@pytest.mark.django_db
def test_every_field_ticked_means_no_selection(editor, workspace, login):
    source = SourceFactory(workspace=workspace)
    destination = DestinationFactory(workspace=workspace)
    fields = ["id", "name", "updated_at", "address"]
    login(editor).post(
        url("create", workspace),
        _post(source, destination, **{"stream-0-fields": fields}),
    )
    users = Connection.objects.get(name="Picked").streams.get(name="users")
    assert users.selected_fields == []  # new fields will sync too


@pytest.mark.django_db(transaction=True)
def test_a_real_sync_writes_only_the_selected_columns(
    admin, faker_source, postgres_destination, make_connection, pg_schema
):
    source = faker_source(count=50, always_updated=False)
    connection = make_connection(
        source,
        postgres_destination,
        [
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
                "cursor_field": ["updated_at"],
                "primary_key": [["id"]],
                "selected_fields": ["email"],
            },
            {"name": "products", "selected_fields": ["make", "model"]},
        ],
        namespace=pg_schema,
    )
    job = run_now(connection, admin)
    assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message

    def columns(table):
        rows = pg_rows(
            "select column_name from information_schema.columns "
            "where table_schema = %s and table_name = %s",
            pg_schema,
            table,
        )
        return {name for (name,) in rows}

    data = {c for c in columns("users") if not c.startswith("_a")}
    assert data == {"id", "updated_at", "email"}
    assert {c for c in columns("products") if not c.startswith("_a")} == {
        "make",
        "model",
    }
    # The fields left out are not kept anywhere, not even in _airbyte_extra.
    assert pg_rows(
        f'select count(*), count(email), count(_airbyte_extra) from "{pg_schema}".users'
    ) == [(50, 50, 0)]


@pytest.mark.django_db
def test_the_airbyte_engine_sends_the_selection_as_selected_fields(workspace):
    from apps.airbyte.mirror import connection_body
    from tests.factories import ConnectionFactory

    connection = ConnectionFactory(workspace=workspace)
    connection.streams.create(
        name="users", selected=True, selected_fields=["id", "email"]
    )
    connection.streams.create(name="products", selected=True)
    streams = {
        s["name"]: s for s in connection_body(connection)["configurations"]["streams"]
    }
    assert streams["users"]["selectedFields"] == [
        {"fieldPath": ["id"]},
        {"fieldPath": ["email"]},
    ]
    assert "selectedFields" not in streams["products"]
