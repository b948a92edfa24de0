"""Syncs from a Docker connector (the stand-in ``docker``) into DuckDB, end to end."""

from __future__ import annotations

import threading
import time
import uuid
from unittest import mock

import pytest
from django.db import connection as db_connection

from apps.connections.execution import sync_run
from apps.connections.models import SyncAttempt, SyncJob
from apps.connections.services import sync_cancel, sync_request
from apps.connectors.models import ConnectorDefinition, Source
from apps.connectors.services import source_discover_run
from apps.core.pids import pid_alive
from tests.connections.conftest import duckdb_destination, make_connection  # noqa: F401
from tests.connections.test_sync_embedded import duck_rows, run_now
from tests.engines.stand_in_docker import stand_in_docker_fixture  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "right-key"


@pytest.fixture
def docker_source(workspace, stand_in_docker):
    """A source whose connector exists only as a Docker image."""
    definition = ConnectorDefinition.objects.create(
        kind="source",
        definition_id=uuid.uuid4(),
        name="Stand-in (Docker)",
        docker_repository="airbyte/source-standin",
        docker_image_tag="1.0.0",
        pypi_version="1.0.0",
        engines=["embedded"],
    )

    def make(**config):
        source = Source.objects.create(
            workspace=workspace,
            name=f"Docker {uuid.uuid4().hex[:6]}",
            definition=definition,
            config={"api_key": SECRET, "count": 5, **config},
        )
        source_discover_run(pk=source.pk)
        source.refresh_from_db()
        return source

    return make


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def reads(stand_in) -> list[list[str]]:
    return [argv for argv in stand_in.calls_of("run") if "read" in argv]


def test_a_docker_source_syncs_into_duckdb_and_resumes_from_its_state(
    admin,
    stand_in_docker,
    docker_source,
    duckdb_destination,  # noqa: F811
    make_connection,  # noqa: F811
):
    source = docker_source(count=5)
    assert [s["name"] for s in source.catalog["streams"]] == ["things"]
    connection = make_connection(
        source,
        duckdb_destination,
        [
            {
                "name": "things",
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
            }
        ],
        namespace="docker",
    )

    first = run_now(connection, admin)

    assert first.status == SyncJob.Status.SUCCEEDED, first.failure_message
    assert first.records_committed == 5
    assert duck_rows(duckdb_destination, "select count(*) from docker.things") == [(5,)]
    (first_read,) = reads(stand_in_docker)
    assert "--state" not in first_read

    source.config["count"] = 8
    source.save()
    second = run_now(connection, admin)

    assert second.status == SyncJob.Status.SUCCEEDED, second.failure_message
    assert second.records_committed == 3  # only the new ones, from the saved state
    assert duck_rows(
        duckdb_destination, "select count(*), count(distinct id) from docker.things"
    ) == [(8, 8)]
    assert "Resuming from 1 saved state(s)." in second.attempts.get().log
    second_read = reads(stand_in_docker)[-1]
    mount = option(second_read, "--volume").split(":")[0]
    for flag in ("--config", "--catalog", "--state"):
        assert option(second_read, flag).startswith(mount + "/")
    # Every run's container was removed by name, and none is left.
    for argv in stand_in_docker.calls_of("run"):
        assert ["rm", "-f", option(argv, "--name")] in stand_in_docker.calls()
    assert stand_in_docker.containers() == {}
    # The secret reached the container in the mounted file only.
    for argv in stand_in_docker.calls():
        assert not any(SECRET in arg for arg in argv), argv
    for job in (first, second):
        assert SECRET not in job.attempts.get().log


def test_cancel_stops_the_container(
    admin,
    settings,
    stand_in_docker,
    docker_source,
    duckdb_destination,  # noqa: F811
    make_connection,  # noqa: F811
):
    settings.SYNC_HEARTBEAT_SECONDS = 0.5
    source = docker_source(mode="slow_read")
    connection = make_connection(
        source,
        duckdb_destination,
        [
            {
                "name": "things",
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
            }
        ],
        namespace="docker",
    )
    with mock.patch("apps.connections.tasks.sync_job_task.apply_async"):
        job = sync_request(connection=connection, trigger="manual", actor=admin)

    def work() -> None:
        try:
            sync_run(job_id=job.pk)
        finally:
            db_connection.close()

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    deadline = time.monotonic() + 60
    while not (
        SyncAttempt.objects.filter(job=job, records_committed__gt=0).exists()
        and stand_in_docker.containers()
    ):
        assert time.monotonic() < deadline, "the sync never committed a batch"
        time.sleep(0.2)
    ((name, container),) = stand_in_docker.containers().items()
    assert pid_alive(container["pid"])

    sync_cancel(actor=admin, job=job)
    worker.join(timeout=60)

    assert not worker.is_alive()
    job.refresh_from_db()
    assert job.status == SyncJob.Status.CANCELLED
    assert option(reads(stand_in_docker)[0], "--name") == name
    calls = stand_in_docker.calls()
    run_at = next(i for i, argv in enumerate(calls) if "read" in argv)
    assert ["rm", "-f", name] in calls[run_at + 1 :]
    assert not pid_alive(container["pid"])
    assert stand_in_docker.containers() == {}
    kept = duck_rows(duckdb_destination, "select count(*) from docker.things")[0][0]
    assert kept == job.records_committed > 0
