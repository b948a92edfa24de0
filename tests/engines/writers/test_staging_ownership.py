"""Whose staging table is whose, on every SQL backend (PostgreSQL, DuckDB, MySQL).

Two defects a review proved: an overwrite attempt whose worker died left a staging
table the next attempt resumed while the runner gave the full refresh source no
state, so the source started over and the swap published its rows twice; and two
connections syncing a stream of the same name into one schema shared one staging
table, so one's ``open`` dropped the other's rows while it ran, and the other then
swapped in part of its rows but reported all of them as committed.
"""

from __future__ import annotations

import pytest

from apps.engines.base import AttemptRequest, ConnectorRef, StreamRequest
from apps.engines.embedded.sync import _input_state
from apps.engines.embedded.writers.base import STAGING_PREFIX, staging_name
from apps.engines.embedded.writers.typing import MAX_IDENTIFIER_BYTES
from tests.engines.writers.conftest import stream, stream_state, write_users
from tests.engines.writers.test_mysql_writer import mysql_dest  # noqa: F401

FIXTURES = {"postgres": "pg", "duckdb": "duck", "mysql": "mysql_dest"}


@pytest.fixture(params=list(FIXTURES))
def sql_dest(request):
    """A scratch destination, once per SQL backend (MySQL is MariaDB here)."""
    return request.getfixturevalue(FIXTURES[request.param])


def _attempt_request(connection_id: str, name: str = "users") -> AttemptRequest:
    ref = ConnectorRef(kind="source", name="faker")
    return AttemptRequest(
        attempt_id=2,
        job_id="job-1",
        connection_id=connection_id,
        workspace_id="ws",
        source_definition=ref,
        source_config={},
        destination_definition=ConnectorRef(kind="destination", name="db"),
        destination_config={},
        streams=(
            StreamRequest(
                name=name,
                namespace=None,
                json_schema={},
                sync_mode="full_refresh",
                destination_sync_mode="overwrite",
                generation_id=0,
            ),
        ),
        namespace="public",
        table_prefix="",
    )


def _die(writer) -> None:
    """The worker is killed: no finish, no abort; its connection just goes away."""
    writer._db_close()
    writer._is_open = False


def _staging_tables(dest) -> set[str]:
    return {t for t in dest.tables() if t.startswith(STAGING_PREFIX)}


def test_a_retry_after_a_dead_overwrite_attempt_loads_each_record_once(sql_dest):
    # A full refresh: the generation changes on a reset only, so the dead attempt,
    # its retry and any later job share it.
    users = stream(mode="overwrite", generation=0)
    dying = sql_dest.writer([users])
    dying.open()
    write_users(dying, range(1, 6), name="dead")
    dying.commit(stream_state("users", {"__ab_full_refresh_sync_complete": False}))
    _die(dying)

    # What the runner does: open, read the destination's state, hand the source
    # what a full refresh stream keeps of it (nothing), then load what it sends.
    retry = sql_dest.writer([users])
    retry.open()
    assert _input_state(_attempt_request("conn-1"), retry.read_state()) is None
    write_users(retry, range(1, 11), name="fresh")
    retry.commit()
    result = retry.finish(success=True)

    rows = sql_dest.query("SELECT id, name FROM {s}.users ORDER BY id")
    assert rows == [(i, f"fresh-{i}") for i in range(1, 11)]
    assert result.records == 10
    assert _staging_tables(sql_dest) == set()


def test_a_later_job_does_not_publish_a_dead_attempts_rows(sql_dest):
    users = stream(mode="overwrite", generation=0)
    first = sql_dest.writer([users])
    first.open()
    write_users(first, range(1, 4), name="first")
    first.commit()
    first.finish(success=True)

    dying = sql_dest.writer([users])
    dying.open()
    write_users(dying, range(100, 150), name="dead")
    dying.commit(stream_state("users", {"page": 1}))
    _die(dying)

    # The next scheduled job, hours later, with the same generation.
    job = sql_dest.writer([users])
    job.open()
    assert job.read_state() == []
    write_users(job, range(1, 3), name="job")
    job.commit()
    job.finish(success=True)

    assert sql_dest.query("SELECT id, name FROM {s}.users ORDER BY id") == [
        (1, "job-1"),
        (2, "job-2"),
    ]


def test_two_connections_overwriting_one_stream_name_keep_their_own_staging(
    sql_dest,
):
    users = stream(mode="overwrite", generation=0)
    a = sql_dest.writer([users], connection_id="conn-a")
    a.open()
    write_users(a, range(1, 4), name="a")
    a.commit(stream_state("users", {"page": 1}))

    # Another connection syncs a stream also called users into the same schema
    # and opens while A runs.
    b = sql_dest.writer([users], connection_id="conn-b")
    b.open()
    write_users(b, range(100, 102), name="b")
    b.commit()

    write_users(a, range(4, 6), name="a")
    a.commit(stream_state("users", {"page": 2}))
    result_a = a.finish(success=True)
    # Everything A reports as committed is in the table readers see.
    assert result_a.records == 5
    assert sql_dest.query("SELECT id, name FROM {s}.users ORDER BY id") == [
        (i, f"a-{i}") for i in range(1, 6)
    ]

    # B overwrites the same table: the last swap wins (two connections writing
    # one table is the user's choice), and B's count is B's rows.
    result_b = b.finish(success=True)
    assert result_b.records == 2
    assert sql_dest.query("SELECT id, name FROM {s}.users ORDER BY id") == [
        (100, "b-100"),
        (101, "b-101"),
    ]
    assert _staging_tables(sql_dest) == set()


def test_a_failed_attempt_drops_only_its_own_connections_staging(sql_dest):
    users = stream(mode="overwrite", generation=0)
    a = sql_dest.writer([users], connection_id="conn-a")
    a.open()
    write_users(a, range(1, 4), name="a")
    a.commit()
    b = sql_dest.writer([users], connection_id="conn-b")
    b.open()
    write_users(b, range(1, 3), name="b")
    b.commit()

    b.finish(success=False)
    a_staging = a._plans[(None, "users")].staging
    assert _staging_tables(sql_dest) == {a_staging}

    result = a.finish(success=True)
    assert result.records == 3
    assert sql_dest.count("users") == 3


def test_long_stream_names_get_distinct_staging_tables_within_the_limit(sql_dest):
    name = "customer_subscription_invoice_line_items_with_discounts_" + "x" * 20
    long_stream = stream(name, mode="overwrite", generation=0)
    writers = []
    for connection in ("conn-a", "conn-b"):
        writer = sql_dest.writer([long_stream], connection_id=connection)
        writer.open()
        writer.write(name, None, {"id": 1, "name": connection}, 0)
        writer.commit()
        writers.append(writer)

    names = {w._plans[(None, name)].staging for w in writers}
    assert len(names) == 2
    assert all(len(n.encode()) <= MAX_IDENTIFIER_BYTES for n in names)
    assert _staging_tables(sql_dest) == names
    for writer in writers:
        assert writer.finish(success=True).records == 1
    assert _staging_tables(sql_dest) == set()


def test_staging_names_are_keyed_by_connection_and_fit_every_backend():
    table = "t" * MAX_IDENTIFIER_BYTES
    a, b = staging_name(table, "conn-a"), staging_name(table, "conn-b")
    assert a != b
    assert len(a.encode()) <= 63 and len(b.encode()) <= 63  # PostgreSQL; MySQL: 64
    assert staging_name("users", "conn-a") == staging_name("users", "conn-a")
    assert staging_name("users", "conn-a").startswith(STAGING_PREFIX)
    assert staging_name("users", "conn-a").endswith("_users")
