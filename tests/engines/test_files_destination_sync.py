"""Real syncs into a files destination: faker through the console's own sync path
(request, worker run, job row) into Parquet, JSON lines and CSV on local disk and
in moto's S3 on 127.0.0.1, read back and counted."""

# The fixtures imported below from other test modules are these tests' parameters.
# ruff: noqa: F811

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from unittest import mock

import orjson
import pytest
from django.core.exceptions import ValidationError

from apps.connections.execution import sync_run
from apps.connections.models import SyncJob
from apps.connections.services import sync_request
from apps.connectors.models import Destination
from apps.connectors.spec.config import split_config
from apps.engines.embedded.destinations import files as files_destination
from tests.connections.conftest import (  # noqa: F401 - fixtures used below
    faker_source,
    make_connection,
)
from tests.engines.fixtures import definition
from tests.engines.test_files_destination import (  # noqa: F401 - the S3 server
    FILES_ID,
    s3_server,
)

pytestmark = pytest.mark.django_db(transaction=True)


def run_now(connection, admin) -> SyncJob:
    """Request a sync and run it here, as a worker would."""
    with mock.patch("apps.connections.tasks.sync_job_task.apply_async"):
        job = sync_request(connection=connection, trigger="manual", actor=admin)
    sync_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def files_destination_row(workspace, config: dict) -> Destination:
    """A saved files destination, its secrets stored apart as the forms do."""
    plain, secrets = split_config(config, files_destination.SPEC)
    return Destination.objects.create(
        workspace=workspace,
        name=f"Files {config['format']['format_type']}",
        definition=definition(FILES_ID),
        config=plain,
        secrets=json.dumps(secrets) if secrets else "",
    )


@pytest.fixture
def local_files(workspace, settings, tmp_path):
    settings.FILES_DIR = tmp_path / "files"

    def make(fmt: str) -> tuple[Destination, Path]:
        config = {
            "storage": {"storage_type": "Local", "destination_path": "exports"},
            "format": {"format_type": fmt},
        }
        root = settings.FILES_DIR / str(workspace.public_id) / "exports"
        return files_destination_row(workspace, config), root

    return make


def parquet_rows(folder: Path) -> list[dict]:
    import pyarrow.parquet as pq

    rows = []
    for path in sorted(folder.glob("*.parquet")):
        rows += pq.read_table(path).to_pylist()
    return rows


def test_faker_into_local_parquet_overwrite_then_append(
    admin, workspace, faker_source, local_files, make_connection
):
    destination, root = local_files("Parquet")
    source = faker_source(count=150)
    connection = make_connection(
        source,
        destination,
        [{"name": "users"}, {"name": "products"}],
        namespace="faker",
    )

    first = run_now(connection, admin)
    files_after_first = sorted((root / "faker" / "users").iterdir())
    second = run_now(connection, admin)

    assert first.status == SyncJob.Status.SUCCEEDED, first.failure_message
    assert second.status == SyncJob.Status.SUCCEEDED, second.failure_message
    assert first.records_committed == 150 + 100  # faker makes 100 products at most
    users = parquet_rows(root / "faker" / "users")
    assert len(users) == 150
    assert len({row["id"] for row in users}) == 150
    assert all(json.loads(row["_airbyte_meta"]) == {"changes": []} for row in users)
    assert {row["_airbyte_generation_id"] for row in users} == {
        connection.streams.get(name="users").generation_id
    }
    assert isinstance(users[0]["email"], str) and "@" in users[0]["email"]
    assert len(parquet_rows(root / "faker" / "products")) == 100
    # The second overwrite replaced the folder: new files, the same rows.
    assert not any(path.exists() for path in files_after_first)
    assert not (root / "_airbyte_staging").exists()

    stream = connection.streams.get(name="users")
    stream.destination_sync_mode = "append"
    stream.save()
    third = run_now(connection, admin)

    assert third.status == SyncJob.Status.SUCCEEDED, third.failure_message
    assert len(parquet_rows(root / "faker" / "users")) == 300
    assert len(list((root / "faker" / "users").glob("*.parquet"))) == 2


def test_faker_into_local_csv_incremental_append_reads_only_new(
    admin, faker_source, local_files, make_connection
):
    destination, root = local_files("CSV")
    source = faker_source(count=120, always_updated=False)
    connection = make_connection(
        source,
        destination,
        [
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
            }
        ],
        namespace="faker",
    )

    first = run_now(connection, admin)
    second = run_now(connection, admin)

    assert first.status == SyncJob.Status.SUCCEEDED, first.failure_message
    assert second.status == SyncJob.Status.SUCCEEDED, second.failure_message
    assert second.records_committed == 0
    state = json.loads(
        (root / "_airbyte_state" / f"{connection.public_id}.json").read_text()
    )
    assert [entry[2] for entry in state["states"]] == ["users"]
    rows = []
    for path in sorted((root / "faker" / "users").glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            rows += list(csv.DictReader(handle))
    assert len(rows) == 120
    assert {row["id"] for row in rows} == {str(i) for i in range(1, 121)}


def test_dedup_into_files_is_refused_at_save_and_at_sync_with_the_reason(
    admin, faker_source, local_files, make_connection
):
    destination, root = local_files("JSONL")
    source = faker_source(count=10)
    dedup = [
        {
            "name": "users",
            "sync_mode": "incremental",
            "destination_sync_mode": "append_dedup",
        }
    ]

    with pytest.raises(ValidationError) as refused:
        make_connection(source, destination, dedup, namespace="faker")
    assert (
        "Stream users: Files JSONL does not support the append + deduped mode "
        "(it supports overwrite, append): choose another."
    ) in refused.value.message_dict["streams"]

    # A connection saved before the destination said so fails at its sync.
    connection = make_connection(
        source,
        destination,
        [{**dedup[0], "destination_sync_mode": "append"}],
        namespace="faker",
    )
    connection.streams.update(destination_sync_mode="append_dedup")
    job = run_now(connection, admin)

    assert job.status == SyncJob.Status.FAILED
    assert job.failure_type == "config_error"
    assert job.failure_origin == "destination"
    assert "Append + Deduped" in job.failure_message
    assert "files are only ever added" in job.failure_message
    assert not (root / "faker").exists()


def test_a_sync_that_dies_midway_keeps_the_previous_files(
    admin, workspace, offline_connectors, tiny_definition, local_files, make_connection
):
    from apps.connectors.models import Source
    from apps.connectors.services import source_discover_run

    destination, root = local_files("Parquet")
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
        destination,
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
    before = sorted((root / "tiny" / "things").iterdir())
    source.config = {"mode": "die_midway", "records": 50}
    source.save()

    failed = run_now(connection, admin)

    assert failed.status == "incomplete"
    assert sorted((root / "tiny" / "things").iterdir()) == before
    rows = parquet_rows(root / "tiny" / "things")
    assert (len(rows), max(row["id"] for row in rows)) == (30, 30)
    assert not (root / "_airbyte_staging").exists()


@pytest.mark.parametrize("fmt", ["JSONL", "Parquet"])
def test_faker_into_moto_s3(
    admin, workspace, faker_source, make_connection, s3_server, fmt
):
    bucket = s3_server.bucket()
    destination = files_destination_row(
        workspace,
        {
            "storage": s3_server.storage(bucket, "lake/raw"),
            "format": {"format_type": fmt},
        },
    )
    assert "secret_access_key" not in json.dumps(destination.config)
    connection = make_connection(
        faker_source(count=130),
        destination,
        [{"name": "users", "destination_sync_mode": "append"}],
        namespace="faker",
    )

    first = run_now(connection, admin)
    second = run_now(connection, admin)

    assert first.status == SyncJob.Status.SUCCEEDED, first.failure_message
    assert second.status == SyncJob.Status.SUCCEEDED, second.failure_message
    keys = s3_server.keys(bucket, "lake/raw/faker/users/")
    assert len(keys) == 2  # append keeps the first sync's file
    ids: list[int] = []
    for key in keys:
        body = s3_server.read(bucket, key)
        if fmt == "JSONL":
            ids += [
                orjson.loads(line)["_airbyte_data"]["id"] for line in body.splitlines()
            ]
        else:
            import pyarrow.parquet as pq

            ids += pq.read_table(io.BytesIO(body)).column("id").to_pylist()
    assert len(ids) == 260 and set(ids) == set(range(1, 131))
    assert s3_server.keys(bucket, "lake/raw/_airbyte_state/") == [
        f"lake/raw/_airbyte_state/{connection.public_id}.json"
    ]


def test_a_bucket_that_refuses_writes_fails_the_sync_with_the_reason(
    admin, workspace, faker_source, make_connection, s3_server
):
    bucket = s3_server.bucket()
    destination = files_destination_row(
        workspace,
        {
            "storage": s3_server.storage(bucket, key=s3_server.reader_key),
            "format": {"format_type": "CSV"},
        },
    )
    connection = make_connection(
        faker_source(count=10), destination, [{"name": "users"}], namespace="faker"
    )

    job = run_now(connection, admin)

    assert job.status == SyncJob.Status.FAILED
    assert job.failure_type == "config_error"
    assert f"S3 bucket '{bucket}' refused the request (AccessDenied)" in (
        job.failure_message
    )
    assert s3_server.reader_key[1] not in job.failure_message
    assert s3_server.keys(bucket) == []


def test_a_reset_deletes_the_streams_files_and_the_next_sync_starts_over(
    admin, faker_source, local_files, make_connection
):
    from apps.connections.execution import connection_clear_tables
    from apps.connections.services import connection_reset

    destination, root = local_files("JSONL")
    connection = make_connection(
        faker_source(count=40, always_updated=False),
        destination,
        [
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
            }
        ],
        namespace="faker",
    )
    assert run_now(connection, admin).records_committed == 40
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

    assert not (root / "faker" / "users").exists()
    state_file = root / "_airbyte_state" / f"{connection.public_id}.json"
    assert json.loads(state_file.read_text())["states"] == []
    again = run_now(connection, admin)
    assert again.records_committed == 40
    lines = (root / "faker" / "users").glob("*.jsonl")
    assert sum(len(path.read_bytes().splitlines()) for path in lines) == 40
