"""A workspace on the airbyte engine, driving the fake Airbyte server.

Pushes to the server run at once (in the test's process) instead of through the
broker, and polls are recorded rather than queued, so each test drives a job one
poll at a time, the way the fake moves its jobs one step per look.
"""

from __future__ import annotations

import pytest

from apps.airbyte import client as client_module
from apps.airbyte import hooks, jobs
from apps.airbyte import services as server_services
from apps.connections import services as connection_services
from apps.connectors import services as connector_services
from apps.connectors.models import ConnectorDefinition
from tests.airbyte_fake import (
    DEFAULT_WORKSPACE_ID,
    DUCKDB_DESTINATION_ID,
    FAKER_SOURCE_ID,
)


@pytest.fixture(autouse=True)
def _fast_retries(settings):
    settings.AIRBYTE_RETRY_BACKOFF_SECONDS = 0.01
    settings.AIRBYTE_RETRY_BACKOFF_MAX_SECONDS = 0.05
    client_module.forget_tokens()
    yield
    client_module.forget_tokens()


@pytest.fixture
def pushes_now(monkeypatch):
    """Run the push and delete tasks in-process, right when they are queued."""
    from apps.airbyte import mirror, tasks

    monkeypatch.setattr(
        tasks.airbyte_push_task,
        "apply_async",
        lambda args, **kw: hooks.push_now(kind=args[0], pk=args[1]),
    )
    monkeypatch.setattr(
        tasks.airbyte_delete_task,
        "apply_async",
        lambda args, **kw: mirror.remote_delete(
            server_id=args[0], kind=args[1], remote_id=args[2]
        ),
    )


@pytest.fixture
def polls(monkeypatch):
    """The polls the engine asked for, by job id, instead of queued tasks."""
    asked: list[int] = []
    monkeypatch.setattr(
        jobs, "schedule_poll", lambda job_id, countdown=None: asked.append(job_id)
    )
    return asked


def connect_to_fake(fake, workspace, admin):
    """Point ``workspace`` at the fake server through the services, as an admin would
    on the Engine page: save, test, choose its workspace, switch the engine."""
    server = server_services.server_save(
        actor=admin,
        workspace=workspace,
        url=fake.url,
        auth="application",
        client_id=fake.client_id,
        client_secret=fake.client_secret,
    )
    assert server_services.server_test(actor=admin, server=server).ok
    server_services.remote_workspace_choose(
        actor=admin, server=server, remote_workspace_id=DEFAULT_WORKSPACE_ID
    )
    server_services.definitions_refresh(server_id=server.pk)
    server_services.workspace_engine_set(
        actor=admin, workspace=workspace, engine="airbyte"
    )
    workspace.refresh_from_db()
    return workspace


@pytest.fixture
def airbyte_workspace(airbyte_fake, workspace, admin, pushes_now, polls):
    """``workspace`` switched to the airbyte engine on the fake server."""
    return connect_to_fake(airbyte_fake, workspace, admin)


@pytest.fixture
def make_connection(airbyte_workspace, admin, django_capture_on_commit_callbacks):
    """A faker -> DuckDB connection created through the console's services."""

    def make(name: str = "Faker to DuckDB"):
        with django_capture_on_commit_callbacks(execute=True):
            source = connector_services.connector_create(
                actor=admin,
                workspace=airbyte_workspace,
                kind="source",
                name=f"{name} source",
                definition=ConnectorDefinition.objects.get(
                    definition_id=FAKER_SOURCE_ID
                ),
                config={"count": 100, "seed": 1},
            )
            destination = connector_services.connector_create(
                actor=admin,
                workspace=airbyte_workspace,
                kind="destination",
                name=f"{name} destination",
                definition=ConnectorDefinition.objects.get(
                    definition_id=DUCKDB_DESTINATION_ID
                ),
                config={"destination_path": "/local/fake.duckdb"},
            )
        catalog = connector_services.source_discover_run(pk=source.pk)
        assert catalog is not None, source.discover_message
        source.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=True):
            connection = connection_services.connection_create(
                actor=admin,
                workspace=airbyte_workspace,
                name=name,
                source=source,
                destination=destination,
                streams=[{"name": s.name} for s in catalog.streams],
            )
        connection.refresh_from_db()
        return connection

    return make


class ProbeWorker:
    """The Engine page's probes, queued instead of sent to a broker (#13 item 5).

    ``run()`` plays the worker: it runs every queued probe, in order, in this
    process; ``queued`` is what the page asked for so far.
    """

    def __init__(self) -> None:
        self.queued: list[int] = []

    def run(self) -> int:
        ran = 0
        while self.queued:
            server_services.probe_run(probe_id=self.queued.pop(0))
            ran += 1
        return ran


@pytest.fixture
def probes(monkeypatch) -> ProbeWorker:
    from apps.airbyte import tasks

    worker = ProbeWorker()
    monkeypatch.setattr(
        tasks.airbyte_probe_task, "delay_on_commit", worker.queued.append
    )
    return worker
