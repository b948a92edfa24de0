"""The four sync modes, commit atomicity, abort and reset, on both backends."""

from __future__ import annotations

import pytest

from apps.engines.embedded.writers import DestinationError
from tests.engines.writers.conftest import stream, stream_state, write_users


def test_append_keeps_every_record_across_syncs(dest):
    users = stream()
    writer = dest.writer([users])
    writer.open()
    write_users(writer, range(1, 4))
    result = writer.commit(stream_state("users", {"cursor": 3}))
    writer.finish(success=True)

    assert result.records == 3
    assert result.streams[(None, "users")].bytes > 0

    again = dest.writer([users])
    again.open()
    write_users(again, range(1, 4), name="again")
    again.commit()
    again.finish(success=True)

    rows = dest.query(
        "SELECT id, name, _airbyte_generation_id, _airbyte_raw_id IS NOT NULL, "
        "_airbyte_extracted_at IS NOT NULL FROM {s}.users ORDER BY name, id"
    )
    assert len(rows) == 6
    assert [r[1] for r in rows[:3]] == ["again-1", "again-2", "again-3"]
    assert all(r[2] == 1 and r[3] and r[4] for r in rows)
    raw_ids = dest.query("SELECT count(DISTINCT _airbyte_raw_id) FROM {s}.users")
    assert raw_ids[0][0] == 6


def test_incremental_append_resumes_from_the_committed_state(dest):
    users = stream(cursor=["updated_at"])
    writer = dest.writer([users])
    writer.open()
    assert writer.read_state() == []
    write_users(writer, range(1, 6))
    writer.commit(stream_state("users", {"updated_at": "2024-01-05"}))
    writer.finish(success=True)

    second = dest.writer([users])
    second.open()
    assert second.read_state() == [stream_state("users", {"updated_at": "2024-01-05"})]
    write_users(second, range(6, 8))
    second.commit(stream_state("users", {"updated_at": "2024-01-07"}))
    second.finish(success=True)

    assert dest.count("users") == 7
    assert second.read_state()[0]["stream"]["stream_state"] == {
        "updated_at": "2024-01-07"
    }


def test_overwrite_replaces_the_table_only_when_the_sync_succeeds(dest):
    first = dest.writer([stream(mode="overwrite", generation=1)])
    first.open()
    write_users(first, range(1, 4), name="old")
    first.commit()
    first.finish(success=True)
    assert dest.count("users") == 3

    second = dest.writer([stream(mode="overwrite", generation=2)])
    second.open()
    write_users(second, range(1, 6), name="new")
    second.commit()
    # Committed into staging: readers still see the old table, whole.
    assert dest.query("SELECT DISTINCT name LIKE 'old%' FROM {s}.users") == [(True,)]
    second.finish(success=True)

    rows = dest.query("SELECT name, _airbyte_generation_id FROM {s}.users")
    assert len(rows) == 5
    assert {gen for _, gen in rows} == {2}
    assert not any(t.startswith("_airbyte_tmp_") for t in dest.tables())


def test_overwrite_that_fails_midway_leaves_the_previous_table_whole(dest):
    first = dest.writer([stream(mode="overwrite", generation=1)])
    first.open()
    write_users(first, range(1, 4), name="old")
    first.commit()
    first.finish(success=True)

    failing = dest.writer([stream(mode="overwrite", generation=2)], batch_rows=2)
    failing.open()
    write_users(failing, range(1, 10), name="new")
    failing.commit()
    write_users(failing, range(10, 20), name="new")
    failing.finish(success=False)

    rows = dest.query("SELECT name FROM {s}.users ORDER BY id")
    assert [r[0] for r in rows] == ["old-1", "old-2", "old-3"]

    # An exception inside the context manager is a failure too.
    crashing = dest.writer([stream(mode="overwrite", generation=3)])
    with pytest.raises(RuntimeError), crashing:
        write_users(crashing, range(1, 10), name="crash")
        crashing.commit()
        raise RuntimeError("source died")
    assert [r[0] for r in dest.query("SELECT name FROM {s}.users ORDER BY id")] == [
        "old-1",
        "old-2",
        "old-3",
    ]


def test_an_overwrite_whose_worker_died_starts_over_and_loads_each_record_once(dest):
    # The generation changes on a reset only: the dead attempt, its retry and any
    # later job all share it.
    users = stream(mode="overwrite", generation=4)
    attempt1 = dest.writer([users])
    attempt1.open()
    write_users(attempt1, range(1, 6), name="dead")
    attempt1.commit(stream_state("users", {"page": 1}))
    write_users(attempt1, range(6, 9), name="dead")  # never committed
    # The worker dies: the attempt never ends, its connection just goes away (a
    # failure that ends properly drops the staging table, see
    # test_overwrite_failure.py).
    attempt1._db_close()
    attempt1._is_open = False

    attempt2 = dest.writer([users])
    attempt2.open()
    # No state to resume from: a full refresh source starts over from the first
    # record, so nothing staged by the dead attempt may stay.
    assert attempt2.read_state() == []
    write_users(attempt2, range(1, 11), name="fresh")
    attempt2.commit(stream_state("users", {"page": 2}))
    result = attempt2.finish(success=True)

    rows = dest.query("SELECT id, name FROM {s}.users ORDER BY id")
    assert rows == [(i, f"fresh-{i}") for i in range(1, 11)]
    assert result.records == 10
    assert any("dropped the staging table" in m for _, m in dest.logs)
    assert not any(t.startswith("_airbyte_tmp_") for t in dest.tables())
    # The full refresh is complete: its state must not make the next one resume.
    assert attempt2.read_state() == []


def test_overwrite_of_a_new_generation_starts_its_staging_table_over(dest):
    attempt1 = dest.writer([stream(mode="overwrite", generation=1)])
    attempt1.open()
    write_users(attempt1, range(1, 6))
    attempt1.commit(stream_state("users", {"page": 1}))
    attempt1.finish(success=False)

    next_job = dest.writer([stream(mode="overwrite", generation=2)])
    next_job.open()
    write_users(next_job, range(1, 3))
    next_job.commit()
    next_job.finish(success=True)

    assert dest.count("users") == 2


def test_dedup_keeps_one_row_per_key_with_the_latest_cursor(dest):
    users = stream(mode="append_dedup", primary_key=[["id"]], cursor=["updated_at"])
    writer = dest.writer([users], batch_rows=3)
    writer.open()
    rows = [
        (1, "a-old", "2024-01-01T00:00:00Z"),
        (2, "b-only", "2024-01-01T00:00:00Z"),
        (1, "a-new", "2024-03-01T00:00:00Z"),
        (1, "a-stale", "2024-02-01T00:00:00Z"),  # older cursor, later record
        (3, "c-first", "2024-01-01T00:00:00Z"),
        (3, "c-tie", "2024-01-01T00:00:00Z"),  # same cursor: the later record
    ]
    for key, name, updated in rows:
        writer.write("users", None, {"id": key, "name": name, "updated_at": updated}, 1)
    writer.commit()
    # A later sync with an older cursor for key 1 must not win.
    writer.write(
        "users",
        None,
        {"id": 1, "name": "a-late-old", "updated_at": "2023-01-01T00:00:00Z"},
        2,
    )
    writer.write(
        "users",
        None,
        {"id": 2, "name": "b-newer", "updated_at": "2024-05-01T00:00:00Z"},
        2,
    )
    writer.commit()
    writer.finish(success=True)

    assert dest.query("SELECT id, name FROM {s}.users ORDER BY id") == [
        (1, "a-new"),
        (2, "b-newer"),
        (3, "c-tie"),
    ]


def test_dedup_on_a_composite_key_without_cursor_keeps_the_latest_record(dest):
    props = {
        "org": {"type": "string"},
        "id": {"type": "integer"},
        "v": {"type": "string"},
    }
    items = stream("items", props, mode="append_dedup", primary_key=[["org"], ["id"]])
    writer = dest.writer([items], batch_rows=2)
    writer.open()
    for org, key, value in [
        ("a", 1, "1"),
        ("b", 1, "2"),
        ("a", 1, "3"),
        ("a", 2, "4"),
        ("b", 1, "5"),
    ]:
        writer.write("items", None, {"org": org, "id": key, "v": value}, 1)
        writer.commit()
    writer.finish(success=True)

    assert dest.query("SELECT org, id, v FROM {s}.items ORDER BY org, id") == [
        ("a", 1, "3"),
        ("a", 2, "4"),
        ("b", 1, "5"),
    ]


def test_dedup_keeps_records_whose_primary_key_is_null(dest):
    users = stream(mode="append_dedup", primary_key=[["id"]], cursor=["updated_at"])
    writer = dest.writer([users])
    writer.open()
    for name in ("x", "y"):
        writer.write("users", None, {"id": None, "name": name}, 1)
    writer.write("users", None, {"id": 1, "name": "one"}, 1)
    writer.commit()
    writer.finish(success=True)

    assert dest.count("users") == 3
    assert [m for _, m in dest.logs if "NULL primary key" in m] == [
        "Stream 'users': records with a NULL primary key are kept but cannot be "
        "deduplicated."
    ]


def test_switching_to_dedup_removes_older_duplicates_first(dest):
    appended = dest.writer([stream()])
    appended.open()
    write_users(appended, [1, 1, 2], name="old", ts=0)
    appended.commit()
    appended.finish(success=True)

    dedup = dest.writer(
        [stream(mode="append_dedup", primary_key=[["id"]], cursor=["updated_at"])]
    )
    dedup.open()
    write_users(dedup, [2], name="new", ts=5)
    dedup.commit()
    dedup.finish(success=True)

    assert dest.query("SELECT id, name FROM {s}.users ORDER BY id") == [
        (1, "old-1"),
        (2, "new-2"),
    ]


def test_commit_is_atomic_when_the_state_write_fails(dest):
    users = stream()
    writer = dest.writer([users], batch_rows=2)
    writer.open()
    write_users(writer, range(1, 4))
    writer.commit(stream_state("users", {"n": 3}))

    write_users(writer, range(4, 10))  # flushed in batches of 2, uncommitted

    def broken(rows):
        raise RuntimeError("disk full while saving state")

    writer._db_write_states = broken
    with pytest.raises(DestinationError, match="disk full"):
        writer.commit(stream_state("users", {"n": 9}))
    writer.abort()

    assert dest.count("users") == 3
    assert dest.writer([users]).read_state() == [stream_state("users", {"n": 3})]


def test_abort_rolls_back_the_open_batch_but_keeps_committed_ones(dest):
    users = stream()
    writer = dest.writer([users], batch_rows=2)
    writer.open()
    write_users(writer, range(1, 5))
    writer.commit(stream_state("users", {"n": 4}))
    write_users(writer, range(5, 12))  # some of these were flushed already
    assert dest.count("users") == 4  # flushed but uncommitted: invisible
    writer.abort()

    assert dest.count("users") == 4
    assert writer.read_state() == [stream_state("users", {"n": 4})]


def test_buffers_stay_bounded_whatever_the_record_count(dest):
    streams = [stream(f"s{i}") for i in range(3)]
    writer = dest.writer(streams, batch_rows=50)
    writer.max_buffered_rows = 60
    writer.open()
    peak = 0
    for index in range(600):
        writer.write(f"s{index % 3}", None, {"id": index}, 1)
        peak = max(peak, writer._buffered)
    result = writer.commit()
    writer.finish(success=True)

    assert peak <= 60
    assert result.records == 600
    assert sum(dest.count(f"s{i}") for i in range(3)) == 600


def test_truncate_and_drop_tables_reset_streams_and_their_state(dest):
    users, items = stream(), stream("items")
    writer = dest.writer([users, items])
    writer.open()
    write_users(writer, range(1, 4))
    writer.write("items", None, {"id": 1}, 1)
    writer.commit(stream_state("users", 1), stream_state("items", 2))
    writer.finish(success=True)

    writer.truncate([users])
    assert dest.count("users") == 0
    assert dest.count("items") == 1
    assert writer.read_state() == [stream_state("items", 2)]

    writer.drop_tables()
    assert "users" not in dest.tables() and "items" not in dest.tables()
    assert writer.read_state() == []


def test_reset_takes_stream_names_too(dest):
    users, items = stream(), stream("items", namespace="shop")
    writer = dest.writer([users, items])
    writer.open()
    write_users(writer, range(1, 3))
    writer.write("items", "shop", {"id": 1}, 1)
    writer.commit()
    writer.close()

    writer.truncate(["users", ("shop", "items")])
    assert dest.count("users") == 0 and dest.count("items") == 0
    with pytest.raises(DestinationError, match="Unknown"):
        writer.truncate(["nope"])


def test_records_of_a_stream_outside_the_catalog_are_skipped_with_a_warning(dest):
    writer = dest.writer([stream()])
    writer.open()
    writer.write("ghosts", None, {"id": 1}, 1)
    writer.write("ghosts", None, {"id": 2}, 1)
    result = writer.commit()
    writer.finish(success=True)

    assert result.records == 0
    assert [m for _, m in dest.logs if "ghosts" in m] == [
        "Records of stream 'ghosts' are skipped: the stream is not in this "
        "connection's configured catalog."
    ]


def test_streams_go_to_their_destination_schema_and_namespaces_are_kept_apart(dest):
    other_schema = f"{dest.schema}_b"
    a = stream("users", namespace="app_a")
    b = stream("users", namespace="app_b", destination_schema=other_schema)
    writer = dest.writer([a, b], prefix="raw_")
    writer.open()
    writer.write("users", "app_a", {"id": 1}, 1)
    writer.write("users", "app_b", {"id": 2}, 1)
    writer.write("users", "app_b", {"id": 3}, 1)
    writer.commit(stream_state("users", 5, namespace="app_b"))
    writer.finish(success=True)
    try:
        assert dest.count("raw_users") == 1
        other = dest.query(f'SELECT count(*) FROM "{other_schema}".raw_users')
        assert other == [(2,)]
        assert writer.read_state() == [stream_state("users", 5, namespace="app_b")]
    finally:
        if dest.backend == "postgres":
            dest.execute(f'DROP SCHEMA "{other_schema}" CASCADE')


def test_check_accepts_a_working_destination(dest):
    dest.writer([]).check()
    assert not any(t.startswith("_airbyte_check_") for t in dest.tables())


def test_check_explains_an_unreachable_postgres(pg):
    writer = pg.writer([], port=1)
    with pytest.raises(DestinationError) as raised:
        writer.check()
    assert "Could not connect to PostgreSQL at 127.0.0.1:1" in raised.value.message
    assert raised.value.failure_type == "transient_error"


def test_check_explains_a_duckdb_file_that_cannot_be_written(duck, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    writer = duck.writer([], destination_path=str(blocker / "w.duckdb"))
    with pytest.raises(DestinationError) as raised:
        writer.check()
    assert "Could not open the DuckDB file" in raised.value.message
