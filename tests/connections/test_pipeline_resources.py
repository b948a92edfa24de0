"""`airbyte pipeline resources` on real syncs run by a real Celery worker.

Each attempt records what it cost on the worker (the engine's process, the
connector's process tree, through the bubblewrap sandbox when it is on), and the
worker reports the CPU and memory it uses now.
"""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from apps.connections import optimize
from apps.connections.models import SyncJob
from apps.connections.services import sync_request
from apps.engines.embedded import resources
from apps.engines.models import WorkerStatus
from tests.connections.test_worker import wait_for

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not resources.available(), reason="needs Linux /proc"),
]

MB = 1024 * 1024


def _sync(connection, admin) -> SyncJob:
    job = sync_request(connection=connection, trigger="manual", actor=admin)
    wait_for(
        lambda: SyncJob.objects.get(pk=job.pk).status in SyncJob.TERMINAL_STATUSES,
        timeout=180,
        what="the sync to end",
    )
    job.refresh_from_db()
    return job


def _cli(capsys, *args: str) -> str:
    call_command("airbyte", "pipeline", *args)
    return capsys.readouterr().out


def test_real_syncs_record_their_cost_and_the_cli_reports_it(
    capsys,
    admin,
    workspace,
    worker,
    faker_source,
    duckdb_destination,
    make_connection,
):
    connection = make_connection(
        faker_source(count=5000),
        duckdb_destination,
        [
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
            }
        ],
        namespace="faker",
    )
    worker("meter")
    jobs = [_sync(connection, admin) for _ in range(2)]

    for job in jobs:
        assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message
        attempt = job.attempts.get()
        # A Python connector holds tens of MB; the worker process more.
        assert attempt.connector_peak_rss_bytes > 10 * MB
        assert attempt.connector_cpu_seconds > 0
        assert attempt.engine_peak_rss_bytes > 20 * MB
        assert attempt.engine_cpu_seconds > 0

    status = wait_for(
        lambda: WorkerStatus.objects.filter(name__startswith="meter-").first(),
        timeout=30,
        what="the worker's first report",
    )
    assert status.rss_bytes > 20 * MB
    assert status.processes >= 2  # the worker and its pool process
    assert status.host_memory_bytes > status.host_memory_available_bytes > 0
    assert "syncs" in status.queues.split(",")

    who = ["--workspace", str(workspace.public_id), "--as", admin.email]
    data = json.loads(_cli(capsys, "resources", *who, "--json"))
    [mine] = [w for w in data["workers"] if w["worker"] == status.name]
    assert mine["state"] == "up"
    assert mine["memory_mb"] > 20
    [row] = data["connections"]
    assert row["connection"] == connection.name
    assert (row["attempts"], row["measured"]) == (2, 2)
    largest = max(j.attempts.get().connector_peak_rss_bytes for j in jobs)
    assert row["connector_peak_mb"] == round(largest / MB, 1)

    text = _cli(capsys, "resources", "--connection-id", str(connection.public_id), *who)
    assert status.name in text
    assert f"Attempts of {connection.name}, newest first" in text
    assert str(jobs[1].public_id) in text and str(jobs[0].public_id) in text

    # The same real history holds nothing to change for this connection.
    assert optimize.connection_recommendations(connection=connection) == []
    assert "No recommendations" in _cli(
        capsys, "optimize", "--connection-id", connection.name, *who
    )


def test_resources_without_workers_or_attempts_says_so(capsys, admin, workspace):
    out = _cli(
        capsys,
        "resources",
        "--workspace",
        str(workspace.public_id),
        "--as",
        admin.email,
    )
    assert "no worker has reported" in out
