"""Data quality on real synced data: a low-code source into PostgreSQL and DuckDB.

A local HTTP server serves ten known records (three with no name, two whose price
is not a number); the real CDK reads them and the console's own sync path writes
them, then the quality check reads the tables back through the engine.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import subprocess
import sys
import threading
import uuid
from datetime import timedelta

import duckdb
import psycopg
import pytest
from django.core.management.base import CommandError
from django.utils import timezone

from apps.connections.models import SyncJob
from apps.connections.quality import connection_quality, drift_of
from apps.connectors.models import Destination, Source
from apps.connectors.services import source_discover_run
from apps.engines.base import ProfileStream
from apps.engines.declarative import MANIFEST_KEY
from apps.engines.embedded import quality as embedded_quality
from apps.engines.embedded.destinations.duckdb import resolve_duckdb_path
from apps.engines.embedded.writers import StreamConfig
from apps.engines.embedded.writers import duckdb as duckdb_writer
from apps.engines.embedded.writers.base import DestinationError
from tests.connections.conftest import PG_DSN, pg_rows
from tests.connections.test_sync_embedded import run_now
from tests.connections.test_sync_manifest import MANIFEST
from tests.engines.fixtures import DUCKDB_ID, MANIFEST_ID, POSTGRES_ID, definition
from tests.engines.test_files_destination_sync import files_destination_row
from tests.engines.test_mysql_destination import MYSQL_ID
from tests.engines.test_mysql_destination import config as mysql_config
from tests.engines.writers.test_mysql_writer import root_query
from tests.transforms.cli_helpers import airbyte, as_user

pytestmark = pytest.mark.django_db(transaction=True)

ITEMS = [
    {
        "id": n,
        "name": None if n in (2, 5, 9) else f"item {n}",
        "price": "not a number" if n in (3, 7) else 1.5 * n,
        "updated_at": f"2024-02-{n:02d}T00:00:00Z",
    }
    for n in range(1, 11)
]
FULL_APPEND = {
    "name": "items",
    "sync_mode": "full_refresh",
    "destination_sync_mode": "append",
}


@pytest.fixture
def items_api(tmp_path):
    """The ten items on one page (and an empty second one), over HTTP."""
    pages = tmp_path / "api" / "items"
    pages.mkdir(parents=True)
    (pages / "page_1.json").write_text(json.dumps(ITEMS))
    (pages / "page_2.json").write_text("[]")
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "api")
    )
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def items_source(workspace, items_api, real_connectors, cdk_installed):
    source = Source.objects.create(
        workspace=workspace,
        name=f"Items {uuid.uuid4().hex[:6]}",
        definition=definition(MANIFEST_ID),
        config={"base_url": items_api, MANIFEST_KEY: MANIFEST},
    )
    assert source_discover_run(pk=source.pk) is not None
    source.refresh_from_db()
    return source


def by_name(report, name="items"):
    return next(s for s in report.streams if s.name == name)


def nulls(stream) -> dict[str, tuple[int, float]]:
    return {c.name: (c.nulls, c.null_ratio) for c in stream.columns}


def test_postgres_rows_nulls_casts_and_duplicates_after_two_appends(
    admin, items_source, postgres_destination, make_connection, pg_schema
):
    connection = make_connection(
        items_source, postgres_destination, [FULL_APPEND], namespace=pg_schema
    )
    for _ in range(2):
        job = run_now(connection, admin)
        assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message
    assert pg_rows(f'select count(*) from "{pg_schema}".items') == [(20,)]

    report = connection_quality(connection=connection)

    assert report.error == ""
    items = by_name(report)
    assert items.location == f"{pg_schema}.items"
    assert items.rows == 20
    assert items.sample_rows == 20
    # Three of ten records have no name; two prices were not numbers (NULLed).
    assert nulls(items)["name"] == (6, 0.3)
    assert nulls(items)["price"] == (4, 0.2)
    assert nulls(items)["id"] == (0, 0.0)
    assert items.failed_casts == 4
    assert items.cast_failures == [
        {
            "field": "price",
            "change": "NULLED",
            "reason": "DESTINATION_SERIALIZATION_ERROR",
            "count": 4,
        }
    ]
    # Every id came twice: ten keys, ten extra rows.
    assert items.primary_key == [["id"]]
    assert (items.duplicate_keys, items.duplicate_rows) == (10, 10)
    assert items.appeared == [] and items.vanished == []
    assert not items.drift.anomaly
    assert items.drift.verdict.startswith("not enough history (1 of 5")


def test_a_smaller_sample_counts_only_the_latest_rows(
    admin, items_source, postgres_destination, make_connection, pg_schema
):
    connection = make_connection(
        items_source, postgres_destination, [FULL_APPEND], namespace=pg_schema
    )
    run_now(connection, admin)

    items = by_name(connection_quality(connection=connection, sample_rows=4))

    assert items.rows == 10
    assert items.sample_rows == 4


@pytest.fixture
def duckdb_items(items_source, duckdb_destination, make_connection):
    """The items into DuckDB's ``api`` schema, replaced by each sync."""
    return make_connection(
        items_source,
        duckdb_destination,
        [{**FULL_APPEND, "destination_sync_mode": "overwrite"}],
        namespace="api",
    )


def test_duckdb_dropped_and_added_columns_show_as_vanished_and_appeared(
    admin, duckdb_items
):
    connection = duckdb_items
    job = run_now(connection, admin)
    assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message
    before = by_name(connection_quality(connection=connection))
    assert before.rows == 10
    assert nulls(before)["name"] == (3, 0.3)
    assert before.failed_casts == 2
    assert before.duplicate_keys == 0
    assert before.vanished == [] and before.appeared == []

    path = resolve_duckdb_path(
        "warehouse.duckdb", workspace_id=str(connection.workspace.public_id)
    )
    with duckdb.connect(str(path)) as conn:
        conn.execute("ALTER TABLE api.items DROP COLUMN price")
        conn.execute("ALTER TABLE api.items ADD COLUMN colour VARCHAR")

    after = by_name(connection_quality(connection=connection))

    assert after.vanished == ["price"]
    assert after.appeared == ["colour"]
    assert nulls(after)["colour"] == (10, 1.0)
    assert "price" not in nulls(after)


def test_a_sync_far_below_its_history_is_flagged_as_drift(admin, duckdb_items):
    connection = duckdb_items
    earlier = timezone.now() - timedelta(days=10)
    for day, count in enumerate([100, 104, 98, 101, 99]):
        SyncJob.objects.create(
            connection=connection,
            trigger=SyncJob.Trigger.SCHEDULED,
            status=SyncJob.Status.SUCCEEDED,
            started_at=earlier + timedelta(days=day),
            finished_at=earlier + timedelta(days=day, minutes=1),
            records_committed=count,
            stream_stats={"items": {"records_committed": count, "status": "COMPLETE"}},
        )
    job = run_now(connection, admin)  # brings the 10 items
    assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message

    drift = by_name(connection_quality(connection=connection)).drift

    assert drift.anomaly
    assert drift.last == 10
    assert drift.prior_syncs == 5
    assert drift.median == 100
    assert drift.verdict == "anomaly: 10 records, 90% fewer than the median 100"


def test_drift_rule_needs_history_and_a_large_robust_deviation():
    steady = [200, 200, 200, 200, 200]
    assert not drift_of(201, steady).anomaly  # beyond 3 MADs, but 0.5% off
    assert drift_of(90, steady).anomaly  # 55% off a flat history
    noisy = [100, 300, 150, 400, 250]
    assert not drift_of(500, noisy).anomaly  # 100% off, within 3 MADs
    assert drift_of(2_000, noisy).anomaly
    assert not drift_of(0, [100, 100, 100, 100]).anomaly  # only four earlier syncs
    assert drift_of(0, [100, 100, 100, 100]).verdict.startswith("not enough")


def test_unreachable_postgres_is_reported_without_its_password(
    workspace, admin, items_source, make_connection
):
    destination = Destination.objects.create(
        workspace=workspace,
        name="Nowhere",
        definition=definition(POSTGRES_ID),
        config={
            "host": "127.0.0.1",
            "port": 1,
            "database": "postgres",
            "schema": "public",
            "username": "postgres",
            "ssl_mode": "disable",
        },
        secrets=json.dumps({"/password": "Canary-Pass-4417"}),
    )
    connection = make_connection(items_source, destination, [FULL_APPEND])

    report = connection_quality(connection=connection)

    assert report.error.startswith("Could not connect to PostgreSQL at 127.0.0.1:1")
    assert "Canary-Pass-4417" not in json.dumps(report.as_dict())
    assert by_name(report).found is False


def test_cli_prints_a_table_and_json(
    capsys, admin, workspace, items_source, postgres_destination, make_connection
):
    connection = make_connection(
        items_source,
        postgres_destination,
        [FULL_APPEND],
        namespace=postgres_destination.config["schema"],
    )
    run_now(connection, admin)
    run_now(connection, admin)
    args = ("pipeline", "quality", "--connection-id", str(connection.public_id))

    code, out, err = airbyte(capsys, *args, *as_user(admin, workspace))

    assert code == 0, err
    assert "the latest 10,000 rows of each table" in out
    header, row = out.split("\n\n")[1].splitlines()[:2]
    assert header.split() == [
        "STREAM",
        "ROWS",
        "SAMPLED",
        "FAILED_CASTS",
        "DUP_KEYS",
        "APPEARED",
        "VANISHED",
        "DRIFT",
    ]
    assert row.split()[:6] == ["items", "20", "20", "4", "10", "(10"]
    assert re.search(r"^name +6 +30\.0%$", out, re.MULTILINE), out

    code, out, err = airbyte(
        capsys, *args, "--sample", "5", "--json", *as_user(admin, workspace)
    )
    data = json.loads(out)
    stream = data["streams"][0]
    assert (stream["rows"], stream["sample_rows"], stream["duplicate_keys"]) == (
        20,
        5,
        10,
    )
    assert data["sample_limit"] == 5


def test_quality_tab_loads_the_report_with_htmx(
    client,
    htmx_headers,
    admin,
    workspace,
    items_source,
    postgres_destination,
    make_connection,
):
    connection = make_connection(
        items_source,
        postgres_destination,
        [FULL_APPEND],
        namespace=postgres_destination.config["schema"],
    )
    run_now(connection, admin)
    client.force_login(admin)
    page = client.get(
        f"/w/{workspace.public_id}/connections/{connection.public_id}/quality/"
    )
    html = page.content.decode()
    assert page.status_code == 200
    assert "Checking…" in html
    report_url = (
        f"/w/{workspace.public_id}/connections/{connection.public_id}/quality/report/"
    )
    assert f'hx-get="{report_url}"' in html
    assert 'aria-current="page">Quality</a>' in html

    fragment = client.get(report_url, headers=htmx_headers)

    text = fragment.content.decode()
    assert fragment.status_code == 200
    assert "<html" not in text
    assert 'data-stream="items"' in text
    assert '<td class="num">10</td>' in text  # rows
    name_row = (
        '<tr data-column="name"><td><code>name</code></td><td class="num">3</td>'
        '<td class="num">30.0%</td></tr>'
    )
    assert name_row in text
    assert "UTC" in text  # the check's time has its zone


def test_airbyte_engine_says_quality_needs_a_console_destination(
    workspace, items_source, postgres_destination, make_connection
):
    connection = make_connection(items_source, postgres_destination, [FULL_APPEND])
    workspace.engine = "airbyte"
    workspace.save(update_fields=["engine"])
    connection.refresh_from_db()

    report = connection_quality(connection=connection)

    assert "needs a destination the console writes itself" in report.error


def test_a_statement_past_its_time_limit_is_a_note_not_a_hang(
    admin, items_source, postgres_destination, make_connection, pg_schema
):
    connection = make_connection(
        items_source, postgres_destination, [FULL_APPEND], namespace=pg_schema
    )
    run_now(connection, admin)
    # Another session holds the table: every read of it waits, and is stopped.
    with psycopg.connect(PG_DSN) as holder:
        holder.execute(f'LOCK TABLE "{pg_schema}".items IN ACCESS EXCLUSIVE MODE')
        items = by_name(connection_quality(connection=connection, statement_seconds=1))
        holder.rollback()

    assert items.found
    assert items.rows is None
    assert "row count: stopped after 1 s" in items.notes
    assert "duplicate keys: stopped after 1 s" in items.notes


@pytest.fixture
def mysql_destination(workspace, require_mariadb):
    name = f"abq_{uuid.uuid4().hex[:12]}"
    root_query(f"CREATE DATABASE `{name}`")
    found = mysql_config(name)
    yield Destination.objects.create(
        workspace=workspace,
        name="MariaDB",
        definition=definition(MYSQL_ID),
        config={k: v for k, v in found.items() if k != "password"},
        secrets=json.dumps(
            {"/password": found["password"]} if found["password"] else {}
        ),
    )
    root_query(f"DROP DATABASE IF EXISTS `{name}`")


def test_mariadb_rows_nulls_casts_and_duplicates(
    admin, items_source, mysql_destination, make_connection
):
    connection = make_connection(items_source, mysql_destination, [FULL_APPEND])
    for _ in range(2):
        job = run_now(connection, admin)
        assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message

    report = connection_quality(connection=connection)

    assert report.error == ""
    items = by_name(report)
    assert items.location == f"{mysql_destination.config['database']}.items"
    assert (items.rows, items.sample_rows) == (20, 20)
    assert nulls(items)["name"] == (6, 0.3)
    assert items.failed_casts == 4
    assert (items.duplicate_keys, items.duplicate_rows) == (10, 10)


@pytest.mark.parametrize("fmt", ["Parquet", "CSV", "JSONL"])
def test_local_files_are_read_through_duckdb(
    fmt, admin, workspace, settings, tmp_path, items_source, make_connection
):
    settings.FILES_DIR = tmp_path / "files"
    destination = files_destination_row(
        workspace,
        {
            "storage": {"storage_type": "Local", "destination_path": "exports"},
            "format": {"format_type": fmt},
        },
    )
    connection = make_connection(
        items_source, destination, [FULL_APPEND], namespace="api"
    )
    for _ in range(2):
        job = run_now(connection, admin)
        assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message

    items = by_name(connection_quality(connection=connection))

    assert items.notes == []
    assert items.location.endswith("/exports/api/items")
    assert (items.rows, items.sample_rows) == (20, 20)
    assert nulls(items)["name"] == (6, 0.3)
    assert (items.duplicate_keys, items.duplicate_rows) == (10, 10)
    if fmt != "JSONL":
        # JSON lines keep the record whole: nothing was cast, so nothing failed.
        assert items.failed_casts == 4
        assert nulls(items)["price"] == (4, 0.2)


# -- a check must not fail syncs of a DuckDB file, nor weigh on the web server -------

# Another process holds the file (read-only: as a quality check does; "rw": as a
# sync does) until its stdin closes or the seconds given pass.
HOLD = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print("holding", flush=True)
time.sleep(float(sys.argv[3]))
conn.close()
"""


def hold_file(path, seconds: float, mode: str = "ro") -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), mode, str(seconds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = holder.stdout.readline().strip()
    assert line == "holding", holder.stderr.read()
    return holder


def duck_writer(path) -> duckdb_writer.DuckDBWriter:
    return duckdb_writer.DuckDBWriter(
        {"destination_path": str(path)},
        schema="main",
        streams=[
            StreamConfig(
                name="items",
                namespace=None,
                json_schema={"properties": {"id": {"type": "integer"}}},
                destination_sync_mode="append",
            )
        ],
        connection_id="c1",
    )


def test_a_sync_waits_out_a_checks_brief_read_only_hold_of_its_duckdb_file(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    holder = hold_file(path, 2)
    writer = duck_writer(path)
    try:
        writer.open()  # waits for the holder to let go instead of failing
        writer.write("items", None, {"id": 1}, 1_700_000_000_000)
        writer.finish(success=True)
    finally:
        writer.close()
        holder.wait(timeout=30)
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute("SELECT id FROM main.items").fetchall() == [(1,)]


def test_a_lock_held_past_the_wait_still_fails_the_sync_as_transient(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(duckdb_writer, "LOCK_WAIT_SECONDS", 0.5)
    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    holder = hold_file(path, 60, mode="rw")
    try:
        with pytest.raises(DestinationError) as failed:
            duck_writer(path).open()
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert failed.value.failure_type == "transient_error"
    assert "lock" in failed.value.message.lower()


def test_no_check_reads_a_duckdb_file_a_sync_is_writing(
    client,
    htmx_headers,
    admin,
    workspace,
    items_source,
    duckdb_destination,
    make_connection,
):
    connection = make_connection(
        items_source, duckdb_destination, [FULL_APPEND], namespace="api"
    )
    assert run_now(connection, admin).status == SyncJob.Status.SUCCEEDED
    # Another destination row naming the same file, and one naming another file.
    same_file = Destination.objects.create(
        workspace=workspace,
        name="Same file",
        definition=definition(DUCKDB_ID),
        config={"destination_path": "warehouse.duckdb"},
    )
    other_file = Destination.objects.create(
        workspace=workspace,
        name="Other file",
        definition=definition(DUCKDB_ID),
        config={"destination_path": "other.duckdb"},
    )
    writing = make_connection(items_source, same_file, [FULL_APPEND])
    elsewhere = make_connection(items_source, other_file, [FULL_APPEND])
    job = SyncJob.objects.create(
        connection=elsewhere,
        trigger=SyncJob.Trigger.MANUAL,
        status=SyncJob.Status.RUNNING,
    )
    assert connection_quality(connection=connection).error == ""

    for status in (SyncJob.Status.PENDING, SyncJob.Status.RUNNING):
        job.connection, job.status = writing, status
        job.save(update_fields=["connection", "status"])
        report = connection_quality(connection=connection)
        assert report.error == (
            "A sync is writing to this DuckDB file; check again when it ends."
        )
        assert by_name(report).found is False

    client.force_login(admin)
    fragment = client.get(
        f"/w/{workspace.public_id}/connections/{connection.public_id}/quality/report/",
        headers=htmx_headers,
    ).content.decode()
    assert "A sync is writing to this DuckDB file; check again when it ends." in (
        fragment
    )

    job.status = SyncJob.Status.SUCCEEDED
    job.save(update_fields=["status"])
    assert by_name(connection_quality(connection=connection)).rows == 10


def duck_file_with_two_streams(path):
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA api")
        for table in ("first", "second"):
            conn.execute(
                f"CREATE TABLE api.{table} AS SELECT range AS id, "
                "now() AS _airbyte_extracted_at FROM range(3)"
            )


def profile_duck(workspace, path, names=("first", "second")):
    return embedded_quality.profile_tables(
        definition(DUCKDB_ID).ref,
        {"destination_path": str(path)},
        namespace="api",
        table_prefix="",
        streams=tuple(
            ProfileStream(
                name=name,
                namespace=None,
                json_schema={"properties": {"id": {"type": "integer"}}},
            )
            for name in names
        ),
        connection_id="quality",
        workspace_id=str(workspace.public_id),
        sample_rows=100,
        statement_seconds=5,
    )


def test_a_check_holds_a_duckdb_file_one_stream_at_a_time(
    workspace, settings, tmp_path, monkeypatch
):
    settings.DUCKDB_ALLOW_ANY_PATH = True
    path = tmp_path / "warehouse.duckdb"
    duck_file_with_two_streams(path)
    holders = []
    close = embedded_quality._DuckReader._close_conn

    def close_then_a_sync_starts(reader):
        close(reader)
        if not holders:  # the writer gets the file the moment the check lets go
            holders.append(hold_file(path, 60, mode="rw"))

    monkeypatch.setattr(
        embedded_quality._DuckReader, "_close_conn", close_then_a_sync_starts
    )
    try:
        first, second = profile_duck(workspace, path)
    finally:
        for holder in holders:
            holder.kill()
            holder.wait(timeout=30)

    assert (first.found, first.rows) == (True, 3)
    assert second.found is False
    assert second.notes == (
        "not checked: A sync is writing to this DuckDB file; check again when it ends.",
    )


def test_duckdb_readers_are_small_and_spill_to_their_own_temp_folder(
    workspace, settings, tmp_path, monkeypatch
):
    settings.DUCKDB_ALLOW_ANY_PATH = True
    settings.FILES_DIR = tmp_path / "files"
    path = tmp_path / "warehouse.duckdb"
    duck_file_with_two_streams(path)
    query = (
        "SELECT current_setting('memory_limit'), current_setting('threads'), "
        "current_setting('temp_directory')"
    )
    seen = []
    fetch = embedded_quality._DuckReader.fetch

    def recording_fetch(reader, sql, params=()):
        if not seen or seen[-1][0] is not reader:
            seen.append((reader, fetch(reader, query)[0], reader._temp))
        return fetch(reader, sql, params)

    monkeypatch.setattr(embedded_quality._DuckReader, "fetch", recording_fetch)
    profile_duck(workspace, path, names=("first",))
    files_reader = embedded_quality._FilesReader(files_writer(workspace), 5)
    files_reader.fetch("SELECT 1")
    files_reader.close()

    assert len(seen) == 2  # the DuckDB file's reader, the files' one
    for _reader, (memory, threads, temp), folder in seen:
        assert memory in ("61.0 MiB", "64.0 MiB")  # DuckDB shows 64MB as MiB
        assert int(threads) == 1
        assert temp == str(folder)
        assert not folder.exists()  # removed when the check ends


def files_writer(workspace):
    from apps.engines.embedded.sync import make_writer

    destination = files_destination_row(
        workspace,
        {
            "storage": {"storage_type": "Local", "destination_path": "exports"},
            "format": {"format_type": "JSONL"},
        },
    )
    return make_writer(
        destination.definition.ref,
        destination.config,
        workspace_id=str(workspace.public_id),
        schema="api",
        table_prefix="",
        streams=[],
        connection_id="quality",
    )


# -- drift when the last sync brought nothing -----------------------------------------


def test_a_stream_the_last_sync_brought_nothing_of_is_flagged_as_drift(
    workspace, duckdb_destination, make_connection
):
    source = Source.objects.create(
        workspace=workspace,
        name="Shop",
        definition=definition(MANIFEST_ID),
        config={},
        catalog={
            "streams": [
                {
                    "name": name,
                    "json_schema": {"properties": {"id": {"type": "integer"}}},
                    "supported_sync_modes": ["full_refresh"],
                }
                for name in ("orders", "refunds", "quiet")
            ]
        },
    )
    connection = make_connection(
        source,
        duckdb_destination,
        [{**FULL_APPEND, "name": name} for name in ("orders", "refunds", "quiet")],
        namespace="api",
    )
    earlier = timezone.now() - timedelta(days=20)

    def synced(day: int, stats: dict) -> None:
        SyncJob.objects.create(
            connection=connection,
            trigger=SyncJob.Trigger.SCHEDULED,
            status=SyncJob.Status.SUCCEEDED,
            started_at=earlier + timedelta(days=day),
            finished_at=earlier + timedelta(days=day, minutes=1),
            stream_stats={
                name: {"records_committed": n, "status": "COMPLETE"}
                for name, n in stats.items()
            },
        )

    for day in range(10):
        synced(day, {"orders": 1000})
    # The last sync brought no order: the sync wrote no "orders" key at all. The
    # refunds stream is new: the syncs before it never counted it.
    synced(10, {"refunds": 500})

    report = connection_quality(connection=connection)

    orders = by_name(report, "orders").drift
    assert orders.anomaly
    assert (orders.last, orders.prior_syncs, orders.median) == (0, 10, 1000)
    assert orders.verdict == "anomaly: 0 records, 100% fewer than the median 1,000"
    refunds = by_name(report, "refunds").drift
    assert not refunds.anomaly
    assert refunds.verdict.startswith("not enough history (0 of 5")
    quiet = by_name(report, "quiet").drift
    assert not quiet.anomaly
    assert quiet.verdict == "no records in the last 11 successful syncs"


# -- JSON lines: the columns are the keys the records have ---------------------------


def test_json_lines_report_fields_that_appeared_in_or_vanished_from_the_records(
    admin, workspace, settings, tmp_path, items_source, make_connection
):
    settings.FILES_DIR = tmp_path / "files"
    destination = files_destination_row(
        workspace,
        {
            "storage": {"storage_type": "Local", "destination_path": "exports"},
            "format": {"format_type": "JSONL"},
        },
    )
    connection = make_connection(
        items_source, destination, [FULL_APPEND], namespace="api"
    )
    job = run_now(connection, admin)
    assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message
    before = by_name(connection_quality(connection=connection))
    assert before.appeared == [] and before.vanished == []

    # The schema changed and the records did not follow: price is no longer in it,
    # colour is new.
    stream = connection.streams.get(name="items")
    properties = dict(stream.json_schema["properties"])
    del properties["price"]
    properties["colour"] = {"type": ["null", "string"]}
    stream.json_schema = {**stream.json_schema, "properties": properties}
    stream.save(update_fields=["json_schema"])

    after = by_name(connection_quality(connection=connection))

    assert after.appeared == ["price"]
    assert after.vanished == ["colour"]
    assert nulls(after)["price"] == (0, 0.0)  # the records' own text, never cast
    assert "colour" not in nulls(after)


@pytest.mark.parametrize("sample", ["0", "-1", "1000001"])
def test_a_sample_out_of_range_is_refused_not_replaced(
    capsys,
    admin,
    workspace,
    items_source,
    postgres_destination,
    make_connection,
    sample,
):
    connection = make_connection(items_source, postgres_destination, [FULL_APPEND])
    args = ("pipeline", "quality", "--connection-id", str(connection.public_id))

    with pytest.raises(CommandError, match="--sample must be between 1 and 1,000,000"):
        airbyte(capsys, *args, "--sample", sample, *as_user(admin, workspace))
