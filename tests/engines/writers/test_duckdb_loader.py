"""The DuckDB writer's batch load: one JSON array per column, on a loader thread.

The columnar load must store exactly what the row appender stored (the two are
compared cell by cell on awkward values), fall back to the appender for what JSON
cannot carry, and report a failed load at the next commit without keeping any of
the batch.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from apps.engines.embedded.writers import duckdb as duckdb_writer
from apps.engines.embedded.writers.base import DestinationError
from apps.engines.embedded.writers.duckdb import DuckDBCasts, DuckDBWriter
from apps.engines.embedded.writers.typing import (
    build_encoder,
    columns_for_schema,
    decode_json,
)
from tests.engines.writers.conftest import stream, stream_state

PROPERTIES: dict[str, Any] = {
    "id": {"type": "integer"},
    "s": {"type": ["null", "string"]},
    "n": {"type": "number"},
    "i": {"type": "integer"},
    "b": {"type": "boolean"},
    "d": {"type": "string", "format": "date"},
    "ts": {"type": "string", "format": "date-time"},
    "ts_local": {"type": "string", "airbyte_type": "timestamp_without_timezone"},
    "t": {"type": "string", "format": "time", "airbyte_type": "time_without_timezone"},
    "obj": {"type": "object"},
}

# Values chosen for what a text round trip could get wrong: doubles at the edges
# of their range and precision, offsets and microseconds, escapes and NULs, dates
# before year 1000, strings that must stay strings, values that fail to cast.
LINES = [
    b'{"id": 1, "s": "plain", "n": 0.1, "i": 9223372036854775807, "b": true,'
    b' "d": "2024-02-29", "ts": "2024-01-01T10:00:00.123456+05:30",'
    b' "ts_local": "2024-01-01T10:00:00.5", "t": "23:59:59.999999",'
    b' "obj": {"a": [1, 2.5, "x", null, {"b": false}]}}',
    b'{"id": 2, "s": "quote \\" backslash \\\\ newline \\n tab \\t nul \\u0000 end",'
    b' "n": 5e-324, "i": -9223372036854775808, "b": false, "d": "0999-12-31",'
    b' "ts": "1970-01-01T00:00:00Z", "ts_local": "0001-01-01T00:00:00",'
    b' "t": "00:00:00", "obj": {"emoji": "\\ud83d\\ude00", "k\\"ey": "v"}}',
    b'{"id": 3, "s": "h\\u00e9llo \\u4e16\\u754c \\ud83d\\ude00",'
    b' "n": 1.7976931348623157e308,'
    b' "i": 0, "d": "9999-12-31", "ts": "9999-12-31T23:59:59.999999-08:00",'
    b' "obj": []}',
    b'{"id": 4, "s": 12, "n": -0.0, "i": "17", "b": "yes", "d": "not a date",'
    b' "ts": "2024-13-01T00:00:00Z", "ts_local": "2024-01-01T10:00:00+02:00",'
    b' "t": "25:00:00", "obj": "text"}',
    b'{"id": 5, "s": null, "n": 12345678901234567890.123456789, "i": 1.5,'
    b' "b": null, "extra_field": {"kept": true}}',
    b'{"id": 6, "n": 9007199254740993, "i": 99999999999999999999}',
]


def _write(
    dest, *, columnar: bool, monkeypatch, statements: list[str] | None = None
) -> list[tuple[Any, ...]]:
    used: list[bool] = []
    statements = [] if statements is None else statements
    original = duckdb_writer._json_chunks

    def spy(rows, load):
        chunks = original(rows, load) if columnar else None
        used.append(chunks is not None)
        statements.extend(sql for sql, _ in chunks or [])
        return chunks

    monkeypatch.setattr(duckdb_writer, "_json_chunks", spy)
    writer = dest.writer([stream("edge", PROPERTIES)], batch_rows=2)
    writer.open()
    for line in LINES:
        writer.write("edge", None, decode_json(line), 1_700_000_000_123)
    writer.commit(stream_state("edge", {"id": 6}))
    writer.finish(success=True)
    monkeypatch.setattr(duckdb_writer, "_json_chunks", original)
    assert used == [columnar] * 3
    return dest.query(
        'SELECT * EXCLUDE ("_airbyte_raw_id") FROM {s}."edge" ORDER BY id'
    )


def test_the_columnar_load_stores_exactly_what_the_appender_stores(duck, monkeypatch):
    by_appender = _write(duck, columnar=False, monkeypatch=monkeypatch)
    duck.writers[-1].drop_tables()
    statements: list[str] = []
    by_columns = _write(
        duck, columnar=True, monkeypatch=monkeypatch, statements=statements
    )
    assert len(by_columns) == len(LINES)
    # Two rows a batch: the first pair has no changes and no extra fields, so its
    # _airbyte_meta, generation and _airbyte_extra travel as one scalar each; the
    # last pair has different metas and extras, so they travel as JSON columns.
    assert statements[0].endswith("?::VARCHAR, ?::BIGINT, ?::VARCHAR")
    assert statements[2].count("?::") == statements[2].count("unnest") + 1
    for appended, loaded in zip(by_appender, by_columns, strict=True):
        assert loaded == appended
    first = by_columns[0]
    assert first[0] == dt.datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=dt.UTC)
    # Columns: the four _airbyte_* ones, then the schema's (id, s, n, ...).
    second = by_columns[1]
    assert "\x00" in second[5] and '"' in second[5] and "\n" in second[5]
    assert second[6] == 5e-324


def test_a_batch_with_nan_or_a_time_zone_time_goes_through_the_appender(duck):
    properties = {
        "id": {"type": "integer"},
        "n": {"type": "number"},
        "ttz": {"type": "string", "airbyte_type": "time_with_timezone"},
    }
    writer = duck.writer([stream("edge", properties)], batch_rows=1)
    writer.open()
    writer.write("edge", None, {"id": 1, "n": "NaN"}, 0)
    writer.write("edge", None, {"id": 2, "n": "-Infinity"}, 0)
    writer.write("edge", None, {"id": 3, "ttz": "10:11:12+02:00"}, 0)
    writer.write("edge", None, {"id": 4, "n": 2.5, "ttz": None}, 0)
    writer.finish(success=True)
    rows = duck.query('SELECT id, n, ttz FROM {s}."edge" ORDER BY id')
    assert math.isnan(rows[0][1])
    assert rows[1][1] == float("-inf")
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert rows[2][2] == dt.time(10, 11, 12, tzinfo=plus_two)
    assert rows[3][1:] == (2.5, None)


def test_a_failed_load_is_reported_at_commit_and_keeps_nothing(duck, monkeypatch):
    writer = duck.writer([stream()], batch_rows=2)
    writer.open()
    writer.write("users", None, {"id": 1, "name": "kept"}, 0)
    writer.commit(stream_state("users", {"id": 1}))

    def broken(self, plan, chunks):
        raise OSError("disk full")

    monkeypatch.setattr(DuckDBWriter, "_insert_batch", broken)
    for index in (2, 3):
        # The second write fills the batch: it goes to the loader thread and the
        # write itself returns.
        writer.write("users", None, {"id": index, "name": "lost"}, 0)
    with pytest.raises(DestinationError, match="loading stream 'users': disk full"):
        writer.commit(stream_state("users", {"id": 3}))
    writer.abort()
    assert duck.query('SELECT id, name FROM {s}."users"') == [(1, "kept")]
    assert writer.read_state() == [stream_state("users", {"id": 1})]


def test_dedup_batches_load_in_order_on_the_loader_thread(duck):
    writer = duck.writer(
        [stream(mode="append_dedup", primary_key=[["id"]], cursor=["updated_at"])],
        batch_rows=3,
    )
    writer.open()
    for round_ in range(4):
        for key in range(5):
            writer.write(
                "users",
                None,
                {
                    "id": key,
                    "name": f"round-{round_}",
                    "updated_at": f"2024-01-0{round_ + 1}T00:00:00Z",
                },
                0,
            )
    writer.finish(success=True)
    rows = duck.query('SELECT id, name FROM {s}."users" ORDER BY id')
    assert rows == [(key, "round-3") for key in range(5)]


class _CastEveryValue(DuckDBCasts):
    """DuckDB's casts with no fast path: every value goes through its cast."""

    fast_paths = {}


# Text the fast paths must pass as is, or leave to the cast: ASCII, accents, the
# minus sign faker writes, emoji, NUL (DuckDB keeps it), lone surrogates (replaced
# and recorded), and non-strings a string column turns into text.
TEXTS = [
    "plain",
    "Z\u00fcrich",
    "O\u2212",
    "\U0001f600 end",
    "nul \x00 byte",
    "lone \ud800 high",
    "\udfff",
    "",
    12,
    2.5,
    True,
    {"a": "\u00e9"},
]


def test_the_fast_paths_give_exactly_what_the_casts_give():
    columns = columns_for_schema(
        {"type": "object", "properties": PROPERTIES}, reserved=()
    )
    fast = build_encoder(columns, DuckDBCasts(), generation_id=3)
    slow = build_encoder(columns, _CastEveryValue(), generation_id=3)
    records = [decode_json(line) for line in LINES]
    records += [{"id": 7, "s": text} for text in TEXTS]
    records += [{"id": 8, "s": "x", "n": n, "i": n, "b": n} for n in TEXTS]
    at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for data in records:
        assert fast(data, at, 1, None) == slow(data, at, 1, None), data
    replaced = fast({"id": 9, "s": "lone \ud800 high"}, at, 1, None)
    assert replaced[1] == "lone \ufffd high"
    assert '"field":"s","change":"TRUNCATED"' in replaced[len(columns) + 1]
