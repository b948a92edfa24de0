"""Real connectors into real destinations through the console's own sync path."""

from __future__ import annotations

import duckdb
import pytest

from apps.connections.execution import sync_run
from apps.connections.models import ConnectionState, SyncJob
from apps.connections.services import sync_request
from tests.connections.conftest import pg_rows

pytestmark = pytest.mark.django_db(transaction=True)


def run_now(connection, admin) -> SyncJob:
    """Request a sync and run it here, as a worker would."""
    from unittest import mock

    with mock.patch("apps.connections.tasks.sync_job_task.apply_async"):
        job = sync_request(connection=connection, trigger="manual", actor=admin)
    sync_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def duck_rows(destination, sql: str):
    path = destination.config["destination_path"]
    from apps.engines.embedded.destinations.checks import resolve_duckdb_path

    with duckdb.connect(str(resolve_duckdb_path(path)), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_faker_into_duckdb_full_refresh_overwrite(
    admin, faker_source, duckdb_destination, make_connection
):
    source = faker_source(count=200)
    connection = make_connection(
        source,
        duckdb_destination,
        [{"name": "users"}, {"name": "products"}],
        namespace="faker",
    )
    job = run_now(connection, admin)
    assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message
    assert duck_rows(duckdb_destination, "select count(*) from faker.users") == [(200,)]
    assert job.records_committed == 200 + 100  # faker makes 100 products at most
    # A second overwrite replaces, it does not add.
    job = run_now(connection, admin)
    assert job.status == SyncJob.Status.SUCCEEDED
    assert duck_rows(duckdb_destination, "select count(*) from faker.users") == [(200,)]
    attempt = job.attempts.get()
    assert "Attempt 1 of job" in attempt.log


def test_faker_into_postgres_incremental_dedup_reads_only_new(
    admin, faker_source, postgres_destination, make_connection, pg_schema
):
    source = faker_source(count=300, always_updated=False)
    connection = make_connection(
        source,
        postgres_destination,
        [
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
            }
        ],
        namespace=pg_schema,
    )
    first = run_now(connection, admin)
    assert first.status == SyncJob.Status.SUCCEEDED, first.failure_message
    assert pg_rows(f'select count(*), count(distinct id) from "{pg_schema}".users') == [
        (300, 300)
    ]
    assert ConnectionState.objects.filter(
        connection=connection, stream_name="users"
    ).exists()
    second = run_now(connection, admin)
    assert second.status == SyncJob.Status.SUCCEEDED
    assert second.records_committed == 0
    assert pg_rows(f'select count(*) from "{pg_schema}".users') == [(300,)]


def test_config_error_from_the_source_fails_without_retry(
    admin, faker_source, duckdb_destination, make_connection
):
    source = faker_source(count=10)
    connection = make_connection(source, duckdb_destination, [{"name": "users"}])
    source.config["count"] = 0  # faker's spec: minimum 1
    source.save()
    job = run_now(connection, admin)
    assert job.status == SyncJob.Status.FAILED
    assert job.failure_origin == "source"
    assert job.failure_type == "config_error"
    assert job.failure_message


def test_reset_makes_the_next_sync_start_over(
    admin, faker_source, duckdb_destination, make_connection
):
    from unittest import mock

    from apps.connections.execution import connection_clear_tables
    from apps.connections.services import connection_reset

    source = faker_source(count=150, always_updated=False)
    connection = make_connection(
        source,
        duckdb_destination,
        [
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
            }
        ],
        namespace="faker",
    )
    assert run_now(connection, admin).records_committed == 150
    assert run_now(connection, admin).records_committed == 0  # nothing new
    with mock.patch(
        "apps.connections.tasks.connection_clear_tables_task.delay_on_commit"
    ) as clear:
        connection_reset(
            actor=admin, connection=connection, streams=["users"], drop_tables=True
        )
    connection_clear_tables(
        connection_id=clear.call_args.args[0],
        streams=clear.call_args.args[1],
        empty_tables=clear.call_args.args[2],
    )
    assert duck_rows(duckdb_destination, "select count(*) from faker.users") == [(0,)]
    again = run_now(connection, admin)
    assert again.records_committed == 150
    assert duck_rows(duckdb_destination, "select count(*) from faker.users") == [(150,)]
