"""A failed overwrite leaves nothing behind and reports nothing committed.

Issue #13: a failed full refresh left ``_airbyte_tmp_*`` tables in the destination
and reported records as committed that never reached the final table. On both
backends.
"""

from __future__ import annotations

from tests.engines.writers.conftest import stream, stream_state, write_users


def _old_table(dest) -> None:
    first = dest.writer([stream(mode="overwrite", generation=1)])
    first.open()
    write_users(first, range(1, 4), name="old")
    first.commit()
    first.finish(success=True)


def _names(dest) -> list[str]:
    return [r[0] for r in dest.query("SELECT name FROM {s}.users ORDER BY id")]


def test_a_failed_overwrite_drops_its_staging_table_and_reports_no_commits(dest):
    _old_table(dest)
    failing = dest.writer([stream(mode="overwrite", generation=2)], batch_rows=2)
    failing.open()
    write_users(failing, range(1, 10), name="new")
    committed = failing.commit(stream_state("users", {"page": 1}))
    write_users(failing, range(10, 20), name="new")
    ended = failing.finish(success=False)

    # Nine rows went into staging, none into the table readers see: none counted.
    assert committed.records == 0 and ended.records == 0
    assert _names(dest) == ["old-1", "old-2", "old-3"]
    assert not any(t.startswith("_airbyte_tmp_") for t in dest.tables())
    # Its state went with its staging table: the retry starts the stream over.
    assert failing.read_state() == []


def test_a_cancelled_overwrite_drops_its_staging_table(dest):
    _old_table(dest)
    cancelled = dest.writer([stream(mode="overwrite", generation=2)])
    cancelled.open()
    write_users(cancelled, range(1, 10), name="new")
    cancelled.commit(stream_state("users", {"page": 1}))
    cancelled.abort()

    assert _names(dest) == ["old-1", "old-2", "old-3"]
    assert not any(t.startswith("_airbyte_tmp_") for t in dest.tables())


def test_the_retry_after_a_failure_loads_each_row_once(dest):
    users = stream(mode="overwrite", generation=4)
    attempt1 = dest.writer([users])
    attempt1.open()
    write_users(attempt1, range(1, 6))
    attempt1.commit(stream_state("users", {"page": 1}))
    attempt1.finish(success=False)

    # A full refresh source starts over: the retry sends every row again.
    attempt2 = dest.writer([users])
    attempt2.open()
    write_users(attempt2, range(1, 11))
    attempt2.commit(stream_state("users", {"page": 2}))
    ended = attempt2.finish(success=True)

    ids = [r[0] for r in dest.query("SELECT id FROM {s}.users ORDER BY id")]
    assert ids == list(range(1, 11))
    # Reported at the swap: what the final table now holds from this attempt.
    assert ended.records == 10


def test_a_successful_overwrite_reports_its_rows_when_they_reach_the_table(dest):
    writer = dest.writer([stream(mode="overwrite", generation=1), stream("orders")])
    writer.open()
    write_users(writer, range(1, 6))
    for index in (1, 2):
        writer.write("orders", None, {"id": index}, 1_700_000_000_000)
    first = writer.commit()
    ended = writer.finish(success=True)

    # The append stream's rows count at their commit, the overwrite's at the swap.
    assert first.streams[(None, "orders")].records == 2
    assert (None, "users") not in first.streams
    assert ended.streams[(None, "users")].records == 5
    assert ended.streams[(None, "users")].bytes > 0
