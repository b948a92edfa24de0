"""A real Celery worker drives a sync on the fake Airbyte server through the broker.

Nothing is patched here: pushes, the start task and the short poll tasks (with
their countdowns) all go through the broker to a worker process, which talks HTTP
to the fake like it would to Airbyte.
"""

from __future__ import annotations

import pytest

from apps.connections import services as connection_services
from apps.connections.models import SyncJob
from apps.connectors import services as connector_services
from apps.connectors.models import ConnectorDefinition
from tests.airbyte.conftest import connect_to_fake
from tests.airbyte_fake import DUCKDB_DESTINATION_ID, FAKER_SOURCE_ID
from tests.connections.test_worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_worker_starts_follows_and_finishes_a_sync_on_the_server(
    airbyte_fake, worker, workspace, admin, monkeypatch
):
    monkeypatch.setenv("AIRBYTE_POLL_SECONDS", "0.5")
    worker()
    connect_to_fake(airbyte_fake, workspace, admin)
    source = connector_services.connector_create(
        actor=admin,
        workspace=workspace,
        kind="source",
        name="Faker",
        definition=ConnectorDefinition.objects.get(definition_id=FAKER_SOURCE_ID),
        config={"count": 100, "seed": 1},
    )
    destination = connector_services.connector_create(
        actor=admin,
        workspace=workspace,
        kind="destination",
        name="DuckDB",
        definition=ConnectorDefinition.objects.get(definition_id=DUCKDB_DESTINATION_ID),
        config={"destination_path": "/local/w.duckdb"},
    )
    catalog = connector_services.source_discover_run(pk=source.pk)
    source.refresh_from_db()
    connection = connection_services.connection_create(
        actor=admin,
        workspace=workspace,
        name="Faker to DuckDB",
        source=source,
        destination=destination,
        streams=[{"name": s.name} for s in catalog.streams],
    )
    airbyte_fake.script_next_job(
        steps=["running", "running", "running", "succeeded"], rows=321
    )
    job = connection_services.sync_request(
        connection=connection, trigger="manual", actor=admin
    )

    def finished():
        job.refresh_from_db()
        return not job.is_active

    wait_for(finished, timeout=90, what="the worker to finish the Airbyte job")
    connection.refresh_from_db()
    destination.refresh_from_db()
    assert destination.remote_id in airbyte_fake.destinations  # pushed by the worker
    assert connection.remote_id in airbyte_fake.connections
    assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message
    assert job.records_committed == 321
    assert len(airbyte_fake.calls("POST", "/api/public/v1/jobs")) == 1
    assert len(airbyte_fake.calls("POST", "/api/public/v1/connections")) == 1
