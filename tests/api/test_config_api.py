"""Airbyte's Config API served by the console (``/api/v1``), checked against the spec.

Every call goes through ``api_client``, which fails the test on any request or
answer that departs from ``config-api.v1.8.0.yaml`` (errors as
``KnownExceptionInfo``). The connector calls (spec, check, discover) run the real
faker connector; the worker's part runs in this process when the request commits.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import transaction

from apps.audit.models import AuditEvent
from apps.connections.models import Connection, SyncAttempt, SyncJob
from apps.connectors.models import ConnectorDraftCheck, Destination, Source
from tests.airbyte.conftest import polls, pushes_now  # noqa: F401 - fixtures
from tests.engines.fixtures import (
    DUCKDB_ID,
    FAKER_ID,
    definition,
    faker_installed,  # noqa: F401 - a fixture
    real_connectors,  # noqa: F401 - a fixture
)
from tests.factories import ConnectionFactory, DestinationFactory, SourceFactory

V1 = "/api/v1"


@pytest.fixture
def connectors(real_connectors, faker_installed):  # noqa: F811
    """Faker (installed for real) and the built-in DuckDB destination."""
    return definition(FAKER_ID), definition(DUCKDB_ID)


@pytest.fixture
def worker_inline(monkeypatch):
    """The worker's part of a check or discover, run in-process once the request
    commits (the API waits on the row, outside any transaction)."""
    from apps.connectors import services, tasks

    monkeypatch.setattr(
        tasks.connector_draft_check_task,
        "delay_on_commit",
        lambda pk: transaction.on_commit(
            lambda: services.connector_draft_check_run(pk=pk)
        ),
    )
    monkeypatch.setattr(
        tasks.source_discover_task,
        "delay_on_commit",
        lambda pk: transaction.on_commit(lambda: services.source_discover_run(pk=pk)),
    )


def test_instance_configuration_is_anonymous_and_names_no_workspace(api_client):
    answer = api_client().get(f"{V1}/instance_configuration")
    assert answer.status_code == 200
    body = answer.json()
    assert body["edition"] == "community"
    assert body["version"].startswith("1.")
    assert body["auth"] == {"mode": "simple"}
    # Anonymous: it must not hand out a real workspace's id.
    assert body["defaultWorkspaceId"] == "00000000-0000-0000-0000-000000000000"


def test_viewer_lists_the_connectors_the_workspace_can_use(
    api_client, viewer, workspace, connectors
):
    faker, duckdb = connectors
    client = api_client(viewer)
    body = {"workspaceId": str(workspace.public_id)}
    sources = client.post(f"{V1}/source_definitions/list_for_workspace", json=body)
    assert sources.status_code == 200
    ids = {d["sourceDefinitionId"] for d in sources.json()["sourceDefinitions"]}
    assert str(faker.definition_id) in ids
    destinations = client.post(
        f"{V1}/destination_definitions/list_for_workspace", json=body
    )
    names = {d["name"] for d in destinations.json()["destinationDefinitions"]}
    assert duckdb.name in names


def test_outsider_gets_404_for_another_workspace(api_client, outsider, workspace):
    answer = api_client(outsider).post(
        f"{V1}/source_definitions/list_for_workspace",
        json={"workspaceId": str(workspace.public_id)},
    )
    assert answer.status_code == 404
    assert str(workspace.public_id) in answer.json()["message"]
    assert workspace.name not in answer.json()["message"]


def test_spec_of_a_source_and_a_destination(api_client, viewer, workspace, connectors):
    faker, duckdb = connectors
    client = api_client(viewer)
    source = client.post(
        f"{V1}/source_definition_specifications/get",
        json={
            "sourceDefinitionId": str(faker.definition_id),
            "workspaceId": str(workspace.public_id),
        },
    )
    assert source.status_code == 200
    assert "count" in source.json()["connectionSpecification"]["properties"]
    destination = client.post(
        f"{V1}/destination_definition_specifications/get",
        json={
            "destinationDefinitionId": str(duckdb.definition_id),
            "workspaceId": str(workspace.public_id),
        },
    )
    assert destination.status_code == 200
    assert "overwrite" in destination.json()["supportedDestinationSyncModes"]


def test_spec_of_an_unknown_definition_is_404(api_client, viewer, workspace):
    answer = api_client(viewer).post(
        f"{V1}/source_definition_specifications/get",
        json={
            "sourceDefinitionId": str(uuid.uuid4()),
            "workspaceId": str(workspace.public_id),
        },
    )
    assert answer.status_code == 404


@pytest.mark.django_db(transaction=True)
def test_scheduler_check_runs_the_connector_on_a_draft(
    api_client, editor, workspace, connectors, worker_inline
):
    faker, _ = connectors
    answer = api_client(editor).post(
        f"{V1}/scheduler/sources/check_connection",
        json={
            "sourceDefinitionId": str(faker.definition_id),
            "workspaceId": str(workspace.public_id),
            "connectionConfiguration": {"count": 10},
        },
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["status"] == "succeeded"
    assert body["jobInfo"]["succeeded"] is True
    draft = ConnectorDraftCheck.objects.get(workspace=workspace)
    assert draft.status == ConnectorDraftCheck.Status.SUCCEEDED
    assert AuditEvent.objects.filter(
        action="source.test_requested", actor=editor
    ).exists()
    assert not Source.objects.exists()  # a check saves nothing


@pytest.mark.django_db(transaction=True)
def test_scheduler_check_refuses_a_config_the_spec_rejects(
    api_client, editor, workspace, connectors, worker_inline
):
    faker, _ = connectors
    answer = api_client(editor).post(
        f"{V1}/scheduler/sources/check_connection",
        json={
            "sourceDefinitionId": str(faker.definition_id),
            "workspaceId": str(workspace.public_id),
            "connectionConfiguration": {"count": "many"},
        },
    )
    assert answer.status_code == 400
    assert "/count" in answer.json()["message"]
    assert not ConnectorDraftCheck.objects.exists()


def test_viewer_cannot_run_a_check(api_client, viewer, workspace, connectors):
    faker, _ = connectors
    answer = api_client(viewer).post(
        f"{V1}/scheduler/sources/check_connection",
        json={
            "sourceDefinitionId": str(faker.definition_id),
            "workspaceId": str(workspace.public_id),
            "connectionConfiguration": {"count": 10},
        },
    )
    assert answer.status_code == 403
    assert not ConnectorDraftCheck.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_check_for_update_keeps_the_stored_secret_behind_a_mask(
    api_client, editor, workspace, connectors, worker_inline
):
    _, duckdb = connectors
    destination = Destination.objects.create(
        workspace=workspace,
        name="Warehouse",
        definition=duckdb,
        config={"destination_path": "w.duckdb"},
    )
    answer = api_client(editor).post(
        f"{V1}/destinations/check_connection_for_update",
        json={
            "destinationId": str(destination.public_id),
            "name": "Warehouse",
            "connectionConfiguration": {"destination_path": "w.duckdb"},
        },
    )
    assert answer.status_code == 200, answer.content
    assert answer.json()["status"] == "succeeded"
    assert answer.json()["jobInfo"]["configId"] == str(destination.public_id)


@pytest.mark.django_db(transaction=True)
def test_discover_answers_the_catalog_in_airbytes_shape(
    api_client, editor, workspace, connectors, worker_inline
):
    faker, _ = connectors
    source = Source.objects.create(
        workspace=workspace, name="Faker", definition=faker, config={"count": 5}
    )
    answer = api_client(editor).post(
        f"{V1}/sources/discover_schema",
        json={"sourceId": str(source.public_id), "disable_cache": True},
    )
    assert answer.status_code == 200, answer.content
    streams = {s["stream"]["name"]: s for s in answer.json()["catalog"]["streams"]}
    assert {"users", "products", "purchases"} <= set(streams)
    users = streams["users"]
    assert users["stream"]["jsonSchema"]["properties"]["id"]
    assert users["config"]["selected"] is True
    source.refresh_from_db()
    assert source.catalog_discovered_at is not None


def test_sources_create_list_and_get_form_mask_nothing_secret(
    api_client, editor, viewer, workspace, connectors
):
    faker, _ = connectors
    answer = api_client(editor).post(
        f"{V1}/sources/create",
        json={
            "workspaceId": str(workspace.public_id),
            "name": "Fake shop",
            "sourceDefinitionId": str(faker.definition_id),
            "connectionConfiguration": {"count": 25},
        },
    )
    assert answer.status_code == 200, answer.content
    created = answer.json()
    source = Source.objects.get(public_id=created["sourceId"])
    assert source.config["count"] == 25
    assert created["sourceName"] == faker.name
    assert AuditEvent.objects.filter(action="source.created", actor=editor).exists()
    listed = api_client(viewer).post(
        f"{V1}/sources/list", json={"workspaceId": str(workspace.public_id)}
    )
    assert [s["name"] for s in listed.json()["sources"]] == ["Fake shop"]
    got = api_client(viewer).get(
        f"{V1}/sources/list", query={"workspaceId": str(workspace.public_id)}
    )
    assert got.json() == listed.json()


def test_sources_list_is_bounded_in_queries(
    api_client, viewer, workspace, django_assert_max_num_queries
):
    for _ in range(12):
        SourceFactory(workspace=workspace)
    client = api_client(viewer)
    with django_assert_max_num_queries(8):
        answer = client.post(
            f"{V1}/sources/list", json={"workspaceId": str(workspace.public_id)}
        )
    assert len(answer.json()["sources"]) == 12


def test_sources_list_pages_through_many_sources_with_its_cursor(
    api_client, viewer, workspace
):
    from apps.connectors.models import Source

    template = SourceFactory(workspace=workspace, name="Source 0000")
    Source.objects.bulk_create(
        [
            Source(
                workspace=workspace,
                name=f"Source {n:04}",
                definition=template.definition,
                config={},
            )
            for n in range(1, 250)
        ]
    )
    client = api_client(viewer)
    body = {"workspaceId": str(workspace.public_id)}
    first = client.post(f"{V1}/sources/list", json=body).json()["sources"]
    assert len(first) == 100  # bounded without a pageSize
    names = [s["name"] for s in first]
    cursor = first[-1]["sourceId"]
    while True:
        page = client.post(
            f"{V1}/sources/list", json={**body, "pageSize": 100, "cursor": cursor}
        ).json()["sources"]
        if not page:
            break
        names += [s["name"] for s in page]
        cursor = page[-1]["sourceId"]
    assert names == [f"Source {n:04}" for n in range(250)]
    too_big = client.post(f"{V1}/sources/list", json={**body, "pageSize": 5000})
    assert too_big.status_code == 400


def test_destination_list_masks_secrets(api_client, viewer, workspace, connectors):
    _, duckdb = connectors
    DestinationFactory(
        workspace=workspace,
        name="Lake",
        definition=duckdb,
        config={"destination_path": "lake.duckdb"},
        secrets='{"/motherduck_api_key": "md-secret-1"}',
    )
    answer = api_client(viewer).get(
        f"{V1}/destinations/list", query={"workspaceId": str(workspace.public_id)}
    )
    assert answer.status_code == 200
    (lake,) = answer.json()["destinations"]
    assert lake["connectionConfiguration"]["motherduck_api_key"] == "**********"
    assert b"md-secret-1" not in answer.content


def test_viewer_cannot_create_a_source(api_client, viewer, workspace, connectors):
    faker, _ = connectors
    answer = api_client(viewer).post(
        f"{V1}/sources/create",
        json={
            "workspaceId": str(workspace.public_id),
            "name": "Nope",
            "sourceDefinitionId": str(faker.definition_id),
            "connectionConfiguration": {"count": 25},
        },
    )
    assert answer.status_code == 403
    assert not Source.objects.exists()


def test_outsider_cannot_list_sources(api_client, outsider, workspace):
    SourceFactory(workspace=workspace)
    answer = api_client(outsider).post(
        f"{V1}/sources/list", json={"workspaceId": str(workspace.public_id)}
    )
    assert answer.status_code == 404


def test_connection_create_takes_the_sync_catalog(
    api_client, editor, workspace, connectors
):
    source = SourceFactory(workspace=workspace)
    destination = DestinationFactory(workspace=workspace)
    answer = api_client(editor).post(
        f"{V1}/connections/create",
        json={
            "sourceId": str(source.public_id),
            "destinationId": str(destination.public_id),
            "status": "active",
            "name": "Shop to lake",
            "namespaceDefinition": "customformat",
            "namespaceFormat": "shop",
            "syncCatalog": {
                "streams": [
                    {
                        "stream": {"name": "users"},
                        "config": {
                            "syncMode": "incremental",
                            "destinationSyncMode": "append_dedup",
                            "cursorField": ["updated_at"],
                            "primaryKey": [["id"]],
                            "selected": True,
                        },
                    }
                ]
            },
        },
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    connection = Connection.objects.get(public_id=body["connectionId"])
    assert connection.namespace == "shop"
    (users,) = connection.streams.all()
    assert (users.sync_mode, users.destination_sync_mode) == (
        "incremental",
        "append_dedup",
    )
    assert body["syncCatalog"]["streams"][0]["config"]["destinationSyncMode"] == (
        "append_dedup"
    )
    assert AuditEvent.objects.filter(action="connection.created").exists()


def test_connection_create_refuses_a_mode_the_stream_lacks(
    api_client, editor, workspace
):
    source = SourceFactory(workspace=workspace)
    destination = DestinationFactory(workspace=workspace)
    answer = api_client(editor).post(
        f"{V1}/connections/create",
        json={
            "sourceId": str(source.public_id),
            "destinationId": str(destination.public_id),
            "status": "active",
            "syncCatalog": {
                "streams": [
                    {
                        "stream": {"name": "products"},
                        "config": {
                            "syncMode": "incremental",
                            "destinationSyncMode": "append",
                        },
                    }
                ]
            },
        },
    )
    assert answer.status_code == 400
    assert "products" in answer.json()["message"]
    assert not Connection.objects.exists()


def test_runner_syncs_and_a_second_sync_is_409(api_client, runner, workspace):
    connection = ConnectionFactory(workspace=workspace)
    client = api_client(runner)
    answer = client.post(
        f"{V1}/connections/sync", json={"connectionId": str(connection.public_id)}
    )
    assert answer.status_code == 200, answer.content
    job = SyncJob.objects.get(connection=connection)
    assert answer.json()["job"]["id"] == job.pk
    assert answer.json()["job"]["status"] == "pending"
    assert job.trigger == SyncJob.Trigger.API and job.requested_by == runner
    again = client.post(
        f"{V1}/connections/sync", json={"connectionId": str(connection.public_id)}
    )
    assert again.status_code == 409
    assert again.json()["message"] == (
        f"A sync is already running for: {connection.public_id}"
    )


def test_viewer_cannot_sync(api_client, viewer, workspace):
    connection = ConnectionFactory(workspace=workspace)
    answer = api_client(viewer).post(
        f"{V1}/connections/sync", json={"connectionId": str(connection.public_id)}
    )
    assert answer.status_code == 403
    assert not SyncJob.objects.exists()


def test_sync_of_a_paused_connection_is_409(api_client, runner, workspace):
    connection = ConnectionFactory(workspace=workspace, status="paused")
    answer = api_client(runner).post(
        f"{V1}/connections/sync", json={"connectionId": str(connection.public_id)}
    )
    assert answer.status_code == 409
    assert "paused" in answer.json()["message"]


@pytest.fixture
def finished_job(workspace):
    connection = ConnectionFactory(workspace=workspace)
    job = SyncJob.objects.create(
        connection=connection,
        trigger=SyncJob.Trigger.MANUAL,
        status=SyncJob.Status.FAILED,
        records_committed=40,
        failure_message="boom",
    )
    SyncAttempt.objects.create(
        job=job,
        number=1,
        status=SyncAttempt.Status.FAILED,
        records_emitted=50,
        records_committed=40,
        failure_type="system_error",
        failure_origin="destination",
        failure_message="Disk full",
        log="2026-01-01 INFO first line\n2026-01-01 ERROR Disk full",
    )
    return job


def test_jobs_get_has_attempts_logs_and_failures(api_client, viewer, finished_job):
    client = api_client(viewer)
    answer = client.post(f"{V1}/jobs/get", json={"id": finished_job.pk})
    assert answer.status_code == 200
    body = answer.json()
    assert body["job"]["status"] == "failed"
    assert body["job"]["aggregatedStats"]["recordsCommitted"] == 40
    (attempt,) = body["attempts"]
    assert attempt["attempt"]["id"] == 0
    assert attempt["logs"]["logLines"][-1].endswith("Disk full")
    failure = attempt["attempt"]["failureSummary"]["failures"][0]
    assert (failure["failureOrigin"], failure["externalMessage"]) == (
        "destination",
        "Disk full",
    )
    light = client.post(f"{V1}/jobs/get_without_logs", json={"id": finished_job.pk})
    assert "logs" not in light.json()["attempts"][0]
    one = client.post(
        f"{V1}/attempt/get_for_job", json={"jobId": finished_job.pk, "attemptNumber": 0}
    )
    assert one.json()["logs"]["logLines"][0].endswith("first line")
    missing = client.post(
        f"{V1}/attempt/get_for_job", json={"jobId": finished_job.pk, "attemptNumber": 1}
    )
    assert missing.status_code == 404


def test_outsider_cannot_read_a_job(api_client, outsider, finished_job):
    answer = api_client(outsider).post(f"{V1}/jobs/get", json={"id": finished_job.pk})
    assert answer.status_code == 404
    assert answer.json()["message"] == f"Job {finished_job.pk} not found."


def test_jobs_list_newest_first_with_get_form(
    api_client, viewer, workspace, finished_job, django_assert_max_num_queries
):
    connection = finished_job.connection
    newer = SyncJob.objects.create(connection=connection, trigger="api")
    client = api_client(viewer)
    with django_assert_max_num_queries(12):
        answer = client.post(
            f"{V1}/jobs/list",
            json={"configTypes": ["sync"], "configId": str(connection.public_id)},
        )
    body = answer.json()
    assert body["totalJobCount"] == 2
    assert [j["job"]["id"] for j in body["jobs"]] == [newer.pk, finished_job.pk]
    paged = client.get(
        f"{V1}/jobs/list",
        query={"workspaceId": str(workspace.public_id), "pageSize": 1, "rowOffset": 1},
    )
    assert [j["job"]["id"] for j in paged.json()["jobs"]] == [finished_job.pk]


def test_clear_streams_is_refused_on_the_embedded_engine(api_client, editor, workspace):
    connection = ConnectionFactory(workspace=workspace)
    connection.streams.create(name="users")
    answer = api_client(editor).post(
        f"{V1}/connections/clear/stream",
        json={
            "connectionId": str(connection.public_id),
            "streams": [{"streamName": "users"}],
        },
    )
    assert answer.status_code == 422
    assert "Reset page" in answer.json()["message"]
    assert not SyncJob.objects.exists()


def test_sources_create_refuses_a_config_the_spec_rejects(
    api_client, editor, workspace, connectors
):
    faker, _ = connectors
    answer = api_client(editor).post(
        f"{V1}/sources/create",
        json={
            "workspaceId": str(workspace.public_id),
            "name": "Bad",
            "sourceDefinitionId": str(faker.definition_id),
            "connectionConfiguration": {"count": "lots"},
        },
    )
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("/count")
    assert not Source.objects.exists()


def test_viewer_cannot_discover_and_an_outsider_gets_404(
    api_client, viewer, outsider, workspace
):
    source = SourceFactory(workspace=workspace)
    body = {"sourceId": str(source.public_id), "disable_cache": True}
    assert (
        api_client(viewer).post(f"{V1}/sources/discover_schema", json=body).status_code
        == 403
    )
    answer = api_client(outsider).post(f"{V1}/sources/discover_schema", json=body)
    assert answer.status_code == 404
    source.refresh_from_db()
    assert source.discover_status == ""  # nothing was asked of a worker


def test_discover_answers_the_cached_catalog_without_a_worker(
    api_client, editor, workspace
):
    source = SourceFactory(workspace=workspace)
    answer = api_client(editor).post(
        f"{V1}/sources/discover_schema", json={"sourceId": str(source.public_id)}
    )
    assert answer.status_code == 200
    names = [s["stream"]["name"] for s in answer.json()["catalog"]["streams"]]
    assert names == ["users", "products"]
    users = answer.json()["catalog"]["streams"][0]
    # The configuration a new connection starts with: the best mode it has.
    assert users["config"]["syncMode"] == "incremental"
    assert users["config"]["destinationSyncMode"] == "append_dedup"


def test_outsider_cannot_sync_and_gets_404(api_client, outsider, workspace):
    connection = ConnectionFactory(workspace=workspace)
    answer = api_client(outsider).post(
        f"{V1}/connections/sync", json={"connectionId": str(connection.public_id)}
    )
    assert answer.status_code == 404
    assert not SyncJob.objects.exists()


def test_jobs_list_get_form_needs_a_connection_or_workspace(api_client, viewer):
    answer = api_client(viewer).get(f"{V1}/jobs/list")
    assert answer.status_code == 400
    assert "configId" in answer.json()["message"]


def test_clear_streams_on_the_airbyte_engine_starts_a_clear_job(
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
    connection.streams.create(name="users")
    connection.streams.create(name="products")
    answer = api_client(admin).post(
        f"{V1}/connections/clear/stream",
        json={
            "connectionId": str(connection.public_id),
            "streams": [{"streamName": "users"}],
        },
    )
    assert answer.status_code == 200, answer.content
    job = SyncJob.objects.get(connection=connection)
    assert job.trigger == SyncJob.Trigger.RESET
    assert job.reset_streams == [{"name": "users", "namespace": ""}]
    body = answer.json()["job"]
    assert (body["id"], body["configType"]) == (job.pk, "clear")
    assert body["resetConfig"]["streamsToReset"] == [{"name": "users"}]


def test_spec_of_a_connector_never_installed_is_422_not_an_install(
    api_client, viewer, workspace
):
    from tests.factories import DefinitionFactory

    never = DefinitionFactory(
        name="Never installed", pypi_package="airbyte-source-never", pypi_version="1.0"
    )
    answer = api_client(viewer).post(
        f"{V1}/source_definition_specifications/get",
        json={
            "sourceDefinitionId": str(never.definition_id),
            "workspaceId": str(workspace.public_id),
        },
    )
    assert answer.status_code == 422
    assert "not installed" in answer.json()["message"]


@pytest.mark.django_db(transaction=True)
def test_a_failed_discover_answers_200_with_the_jobs_failure_and_no_catalog(
    api_client, editor, workspace, worker_inline, monkeypatch
):
    from apps.connectors import services

    def failing_discover(*, pk):
        source = Source.objects.get(pk=pk)
        services.source_discover_record(
            source=source, catalog=None, message="401: the API key was refused"
        )

    monkeypatch.setattr(services, "source_discover_run", failing_discover)
    source = SourceFactory(workspace=workspace, name="Shop API")
    answer = api_client(editor).post(
        f"{V1}/sources/discover_schema",
        json={"sourceId": str(source.public_id), "disable_cache": True},
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert "catalog" not in body
    assert body["jobInfo"]["succeeded"] is False
    assert (
        "the API key was refused"
        in (body["jobInfo"]["failureReason"]["externalMessage"])
    )


@pytest.mark.django_db(transaction=True)
def test_a_check_the_connector_refuses_answers_failed_with_its_reason(
    api_client, editor, workspace, connectors, worker_inline
):
    _, duckdb = connectors
    answer = api_client(editor).post(
        f"{V1}/scheduler/destinations/check_connection",
        json={
            "destinationDefinitionId": str(duckdb.definition_id),
            "workspaceId": str(workspace.public_id),
            "connectionConfiguration": {"destination_path": "/etc/elsewhere.duckdb"},
        },
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["status"] == "failed"
    assert "/etc/elsewhere.duckdb" in body["message"]
    assert ConnectorDraftCheck.objects.get().status == "failed"
