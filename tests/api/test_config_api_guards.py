"""Config API (``/api/v1``): what it refuses instead of losing data or answering 500.

Clearing one namespace's stream leaves a same-named stream of another namespace
alone; ``connections/create`` refuses a stream listed twice, an odd prefix,
nested or empty field paths; ``jobs/list`` answers 400 for dates at the
calendar's edge and offsets past an int32; a scheduler check never hands a saved
connector's stored settings to another connector or workspace.
"""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from django.test import Client

from apps.connections.models import Connection, ConnectionState, SyncJob
from apps.connectors.models import ConnectorDraftCheck
from apps.core.roles import Role
from tests.airbyte.conftest import polls, pushes_now  # noqa: F401 - fixtures
from tests.engines.fixtures import (
    FAKER_ID,
    definition,
    faker_installed,  # noqa: F401 - a fixture
    real_connectors,  # noqa: F401 - a fixture
)
from tests.factories import (
    ConnectionFactory,
    DestinationFactory,
    MembershipFactory,
    SourceFactory,
    WorkspaceFactory,
)

V1 = "/api/v1"


def _raw_post(token: str, path: str, body: dict) -> object:
    """A request the spec-checking client would refuse to send (out of range)."""
    return Client().post(
        V1 + path,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_clearing_a_stream_leaves_the_same_name_in_another_namespace_alone(
    api_client,
    admin,
    workspace,
    airbyte_fake,
    pushes_now,  # noqa: F811 - the fixture imported above
    polls,  # noqa: F811
):
    from tests.airbyte.conftest import connect_to_fake

    connect_to_fake(airbyte_fake, workspace, admin)
    connection = ConnectionFactory(workspace=workspace)
    sales = connection.streams.create(name="users", namespace="sales")
    hr = connection.streams.create(name="users", namespace="hr")
    for namespace in ("sales", "hr"):
        ConnectionState.objects.create(
            connection=connection,
            kind=ConnectionState.Kind.STREAM,
            stream_name="users",
            stream_namespace=namespace,
            state={"cursor": namespace},
        )
    answer = api_client(admin).post(
        f"{V1}/connections/clear/stream",
        json={
            "connectionId": str(connection.public_id),
            "streams": [{"streamName": "users", "streamNamespace": "sales"}],
        },
    )
    assert answer.status_code == 200, answer.content
    job = SyncJob.objects.get(connection=connection)
    assert job.reset_streams == [{"name": "users", "namespace": "sales"}]
    assert answer.json()["job"]["resetConfig"]["streamsToReset"] == [
        {"name": "users", "namespace": "sales"}
    ]
    sales.refresh_from_db()
    hr.refresh_from_db()
    assert (sales.generation_id, hr.generation_id) == (1, 0)
    # hr's saved position survives: its next sync carries on where it was.
    assert list(
        ConnectionState.objects.filter(connection=connection).values_list(
            "stream_namespace", flat=True
        )
    ) == ["hr"]


def test_clearing_a_stream_in_a_namespace_the_connection_lacks_is_422(
    api_client,
    admin,
    workspace,
    airbyte_fake,
    pushes_now,  # noqa: F811
    polls,  # noqa: F811
):
    from tests.airbyte.conftest import connect_to_fake

    connect_to_fake(airbyte_fake, workspace, admin)
    connection = ConnectionFactory(workspace=workspace)
    connection.streams.create(name="users", namespace="sales")
    answer = api_client(admin).post(
        f"{V1}/connections/clear/stream",
        json={
            "connectionId": str(connection.public_id),
            "streams": [{"streamName": "users", "streamNamespace": "hr"}],
        },
    )
    assert answer.status_code == 422
    assert answer.json()["message"] == "Streams not in the connection: hr.users"
    assert not SyncJob.objects.exists()


def _create(client, source, destination, **extra):
    return client.post(
        f"{V1}/connections/create",
        json={
            "sourceId": str(source.public_id),
            "destinationId": str(destination.public_id),
            "status": "active",
            **extra,
        },
    )


def _stream(name: str = "users", **config) -> dict:
    return (
        {"stream": {"name": name}, "config": config}
        if config
        else {"stream": {"name": name}}
    )


@pytest.mark.parametrize(
    ("extra", "status", "message"),
    [
        (
            {"syncCatalog": {"streams": [_stream(), _stream()]}},
            400,
            "The stream users is listed twice.",
        ),
        (
            {"prefix": 'x"; drop table y; --'},
            400,
            "The prefix takes letters, digits and underscores only, at most 40.",
        ),
        (
            {
                "syncCatalog": {
                    "streams": [
                        _stream(
                            syncMode="full_refresh",
                            destinationSyncMode="overwrite",
                            fieldSelectionEnabled=True,
                            selectedFields=[{"fieldPath": ["address", "city"]}],
                        )
                    ]
                }
            },
            422,
            "The console selects top-level fields only",
        ),
        (
            {
                "syncCatalog": {
                    "streams": [
                        _stream(
                            syncMode="full_refresh",
                            destinationSyncMode="overwrite",
                            fieldSelectionEnabled=True,
                            selectedFields=[{"fieldPath": ["id"]}, {"fieldPath": []}],
                        )
                    ]
                }
            },
            422,
            "The console selects top-level fields only",
        ),
        (
            {
                "syncCatalog": {
                    "streams": [
                        _stream(
                            syncMode="incremental",
                            destinationSyncMode="append_dedup",
                            primaryKey=[[]],
                        )
                    ]
                }
            },
            400,
            "primaryKey holds an empty field path",
        ),
        (
            {
                "syncCatalog": {
                    "streams": [
                        _stream(
                            syncMode="incremental",
                            destinationSyncMode="append_dedup",
                            primaryKey=[["id"]],
                            cursorField=[""],
                        )
                    ]
                }
            },
            400,
            "cursorField holds an empty field path",
        ),
    ],
    ids=[
        "stream-twice",
        "prefix",
        "nested-field",
        "empty-field",
        "empty-key",
        "empty-cursor",
    ],
)
def test_connection_create_refuses_what_it_would_store_wrongly(
    api_client, editor, workspace, extra, status, message
):
    source = SourceFactory(workspace=workspace)
    destination = DestinationFactory(workspace=workspace)
    answer = _create(api_client(editor), source, destination, **extra)
    assert answer.status_code == status, answer.content
    assert answer.json()["message"].startswith(message)
    assert not Connection.objects.exists()


def test_connection_create_keeps_a_plain_prefix_and_top_level_fields(
    api_client, editor, workspace
):
    source = SourceFactory(workspace=workspace)
    destination = DestinationFactory(workspace=workspace)
    answer = _create(
        api_client(editor),
        source,
        destination,
        prefix="shop_",
        syncCatalog={
            "streams": [
                _stream(
                    syncMode="full_refresh",
                    destinationSyncMode="overwrite",
                    fieldSelectionEnabled=True,
                    selectedFields=[{"fieldPath": ["id"]}, {"fieldPath": ["name"]}],
                )
            ]
        },
    )
    assert answer.status_code == 200, answer.content
    connection = Connection.objects.get()
    assert connection.table_prefix == "shop_"
    assert connection.streams.get().selected_fields == ["id", "name"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("createdAtEnd", "9999-12-31T23:59:59-05:00"),
        ("createdAtStart", "0001-01-01T00:00:00+05:00"),
        ("updatedAtEnd", "9999-12-31T23:59:59-01:00"),
    ],
)
def test_jobs_list_at_the_calendars_edge_is_400_naming_the_filter(
    api_token, viewer, workspace, field, value
):
    connection = ConnectionFactory(workspace=workspace)
    answer = _raw_post(
        api_token(viewer),
        "/jobs/list",
        {"configTypes": ["sync"], "configId": str(connection.public_id), field: value},
    )
    assert answer.status_code == 400, answer.content
    assert answer.json()["message"].startswith(f"{field} is outside the calendar")


def test_jobs_list_far_dates_still_filter(api_client, viewer, workspace):
    connection = ConnectionFactory(workspace=workspace)
    job = SyncJob.objects.create(connection=connection, trigger="manual")
    answer = api_client(viewer).post(
        f"{V1}/jobs/list",
        json={
            "configTypes": ["sync"],
            "configId": str(connection.public_id),
            "createdAtStart": "0001-01-01T00:00:00Z",
            "createdAtEnd": "9999-12-31T23:59:59Z",
        },
    )
    assert answer.status_code == 200
    assert [j["job"]["id"] for j in answer.json()["jobs"]] == [job.pk]


def test_jobs_list_offset_past_an_int32_is_400_in_both_forms(
    api_token, viewer, workspace
):
    connection = ConnectionFactory(workspace=workspace)
    SyncJob.objects.create(connection=connection, trigger="manual")
    token = api_token(viewer)
    posted = _raw_post(
        token,
        "/jobs/list",
        {
            "configTypes": ["sync"],
            "configId": str(connection.public_id),
            "pagination": {"pageSize": 5, "rowOffset": 2**63},
        },
    )
    got = Client().get(
        f"{V1}/jobs/list",
        {"workspaceId": str(workspace.public_id), "rowOffset": str(2**63)},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    for answer in (posted, got):
        assert answer.status_code == 400, answer.content
        assert "rowOffset 0 to 2147483647" in answer.json()["message"]


@pytest.fixture
def worker_inline(monkeypatch):
    """The worker's part of a check, run in-process once the request commits."""
    from apps.connectors import services, tasks

    monkeypatch.setattr(
        tasks.connector_draft_check_task,
        "delay_on_commit",
        lambda pk: transaction.on_commit(
            lambda: services.connector_draft_check_run(pk=pk)
        ),
    )


@pytest.mark.django_db(transaction=True)
def test_scheduler_check_refuses_a_saved_source_of_another_connector(
    api_client,
    editor,
    workspace,
    real_connectors,  # noqa: F811
    faker_installed,  # noqa: F811
    worker_inline,
):
    faker = definition(FAKER_ID)
    other = SourceFactory(workspace=workspace, config={"api_key": "stored-secret"})
    answer = api_client(editor).post(
        f"{V1}/scheduler/sources/check_connection",
        json={
            "sourceId": str(other.public_id),
            "sourceDefinitionId": str(faker.definition_id),
            "workspaceId": str(workspace.public_id),
            "connectionConfiguration": {"count": 10},
        },
    )
    assert answer.status_code == 422, answer.content
    assert "uses another connector" in answer.json()["message"]
    assert not ConnectorDraftCheck.objects.exists()  # nothing ran


@pytest.mark.django_db(transaction=True)
def test_scheduler_check_refuses_a_saved_source_of_another_workspace(
    api_client,
    editor,
    workspace,
    real_connectors,  # noqa: F811
    faker_installed,  # noqa: F811
    worker_inline,
):
    faker = definition(FAKER_ID)
    elsewhere = WorkspaceFactory(name="Other team")
    MembershipFactory(user=editor, workspace=elsewhere, role=Role.EDITOR)
    theirs = SourceFactory(
        workspace=elsewhere, definition=faker, config={"count": 5, "seed": 3}
    )
    answer = api_client(editor).post(
        f"{V1}/scheduler/sources/check_connection",
        json={
            "sourceId": str(theirs.public_id),
            "sourceDefinitionId": str(faker.definition_id),
            "workspaceId": str(workspace.public_id),
            "connectionConfiguration": {"count": 10},
        },
    )
    assert answer.status_code == 422, answer.content
    assert answer.json()["message"] == (
        f"The source {theirs.public_id} is not in workspace {workspace.public_id}."
    )
    assert not ConnectorDraftCheck.objects.exists()


def test_jobs_get_of_an_id_beyond_int64_is_a_404_not_a_crash(api_client, viewer):
    response = api_client(viewer).post(
        "/api/v1/jobs/get", json={"id": 2**63}, valid_request=False
    )
    assert response.status_code == 404
