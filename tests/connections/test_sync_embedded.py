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
    from apps.engines.embedded.destinations.duckdb import resolve_duckdb_path

    file = resolve_duckdb_path(path, workspace_id=str(destination.workspace.public_id))
    with duckdb.connect(str(file), read_only=True) as conn:
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


MODES = [
    ("full_refresh", "overwrite", 120, 120),
    ("full_refresh", "append", 120, 240),
    ("incremental", "append", 120, 240),  # faker re-sends every user (always_updated)
    ("incremental", "append_dedup", 120, 120),
]


@pytest.mark.parametrize("destination_kind", ["duckdb", "postgres"])
@pytest.mark.parametrize(("sync_mode", "destination_mode", "first", "second"), MODES)
def test_each_mode_into_each_destination(
    request,
    admin,
    faker_source,
    make_connection,
    destination_kind,
    sync_mode,
    destination_mode,
    first,
    second,
):
    destination = request.getfixturevalue(f"{destination_kind}_destination")
    schema = (
        request.getfixturevalue("pg_schema")
        if destination_kind == "postgres"
        else "modes"
    )
    connection = make_connection(
        faker_source(count=120),
        destination,
        [
            {
                "name": "users",
                "sync_mode": sync_mode,
                "destination_sync_mode": destination_mode,
            }
        ],
        namespace=schema,
    )
    for expected in (first, second):
        job = run_now(connection, admin)
        assert job.status == "succeeded", job.failure_message
        sql = f'select count(*), count(distinct id) from "{schema}".users'
        rows = (
            duck_rows(destination, sql)
            if destination_kind == "duckdb"
            else pg_rows(sql)
        )
        assert rows[0][0] == expected
        assert rows[0][1] == 120


def test_an_overwrite_that_fails_midway_leaves_the_previous_table_whole(
    admin,
    workspace,
    offline_connectors,
    tiny_definition,
    duckdb_destination,
    make_connection,
):
    import json

    from apps.connectors.models import Source
    from apps.connectors.services import source_discover_run

    source = Source.objects.create(
        workspace=workspace,
        name="Tiny",
        definition=tiny_definition,
        config={"mode": "ok", "records": 30},
        secrets=json.dumps({"/api_key": "k" * 8}),
    )
    source_discover_run(pk=source.pk)
    source.refresh_from_db()
    connection = make_connection(
        source,
        duckdb_destination,
        [
            {
                "name": "things",
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
        ],
        namespace="tiny",
    )
    assert run_now(connection, admin).status == "succeeded"
    source.config = {"mode": "die_midway", "records": 50}
    source.save()
    failed = run_now(connection, admin)
    assert failed.status == "incomplete"
    # The old table is whole: 30 rows from the good sync, none of the failed one.
    assert duck_rows(
        duckdb_destination, "select count(*), max(id) from tiny.things"
    ) == [(30, 30)]
