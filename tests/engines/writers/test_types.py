"""Typed columns, casting, names and schema evolution, on both backends."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from apps.engines.embedded.writers import decode_json
from tests.engines.writers.conftest import stream

EDGE_PROPS: dict[str, Any] = {
    "id": {"type": "integer"},
    "s": {"type": ["null", "string"]},
    "n": {"type": "number"},
    "big": {"type": "number"},
    "i": {"type": "integer"},
    "b": {"type": "boolean"},
    "d": {"type": "string", "format": "date"},
    "ts": {"type": "string", "format": "date-time"},
    "ts_local": {
        "type": "string",
        "format": "date-time",
        "airbyte_type": "timestamp_without_timezone",
    },
    "t": {"type": "string", "format": "time"},
    "ttz": {"type": "string", "format": "time", "airbyte_type": "time_with_timezone"},
    "obj": {"type": "object", "properties": {"a": {"type": "object"}}},
    "arr": {"type": "array", "items": {"type": "integer"}},
    "u": {"type": ["null", "string", "integer"]},
    "one": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
    "opt": {"anyOf": [{"type": "string"}, {"type": "null"}]},
}

EXPECTED_TYPES = {
    "postgres": {
        "id": "bigint",
        "s": "text",
        "n": "numeric",
        "big": "numeric",
        "i": "bigint",
        "b": "boolean",
        "d": "date",
        "ts": "timestamp with time zone",
        "ts_local": "timestamp without time zone",
        "t": "time without time zone",
        "ttz": "time with time zone",
        "obj": "jsonb",
        "arr": "jsonb",
        "u": "jsonb",
        "one": "jsonb",
        "opt": "text",
        "_airbyte_raw_id": "uuid",
        "_airbyte_extracted_at": "timestamp with time zone",
        "_airbyte_meta": "jsonb",
        "_airbyte_generation_id": "bigint",
        "_airbyte_extra": "jsonb",
    },
    "duckdb": {
        "id": "bigint",
        "s": "varchar",
        "n": "double",
        "big": "double",
        "i": "bigint",
        "b": "boolean",
        "d": "date",
        "ts": "timestamp with time zone",
        "ts_local": "timestamp",
        "t": "time",
        "ttz": "time with time zone",
        "obj": "json",
        "arr": "json",
        "u": "json",
        "one": "json",
        "opt": "varchar",
        "_airbyte_raw_id": "uuid",
        "_airbyte_extracted_at": "timestamp with time zone",
        "_airbyte_meta": "json",
        "_airbyte_generation_id": "bigint",
        "_airbyte_extra": "json",
    },
}

UTC = dt.UTC


def load(dest, records: list[dict[str, Any]], props=EDGE_PROPS, **kwargs) -> None:
    writer = dest.writer([stream("edge", props, **kwargs)])
    writer.open()
    for record in records:
        writer.write("edge", None, record, 1_700_000_000_000)
    writer.commit()
    writer.finish(success=True)


def fetch(dest, columns: str, where: str = "") -> list[dict[str, Any]]:
    names = [c.strip() for c in columns.split(",")]
    sql = f"SELECT {columns} FROM {{s}}.edge {where} ORDER BY id"
    rows = dest.query(sql)
    out = []
    for row in rows:
        item = dict(zip(names, row, strict=True))
        for key, value in item.items():
            # DuckDB hands JSON back as text, PostgreSQL as Python objects.
            if dest.backend == "duckdb" and value is not None and key in JSON_COLUMNS:
                item[key] = json.loads(value)
        out.append(item)
    return out


JSON_COLUMNS = {"obj", "arr", "u", "one", "_airbyte_meta", "_airbyte_extra"}


def changes(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["field"]: c for c in row["_airbyte_meta"]["changes"]}


def test_columns_are_typed_from_the_json_schema(dest):
    load(dest, [{"id": 1}])
    assert dest.columns("edge") == EXPECTED_TYPES[dest.backend]


def test_values_of_every_type_round_trip(dest):
    line = (
        b'{"id": 1, "s": "h\\u00e9llo \\ud83d\\ude00 \\u4e16\\u754c", "n": 1.5,'
        b' "big": 12345678901234567890.123456789, "i": 42, "b": true,'
        b' "d": "2024-02-29", "ts": "2024-01-01T10:00:00+02:00",'
        b' "ts_local": "2024-01-01T10:00:00", "t": "10:11:12", "ttz": "10:11:12+02:00",'
        b' "obj": {"a": {"b": [1, "x", null]}, "e": "\\ud83d\\ude00"},'
        b' "arr": [1, 2, 3], "u": "x", "one": 5, "opt": "y"}'
    )
    load(dest, [decode_json(line)])
    [row] = fetch(
        dest,
        "id, s, n, i, b, d, ts, ts_local, t, ttz, obj, arr, u, one, opt, _airbyte_meta",
    )
    assert row["s"] == "héllo 😀 世界"
    assert row["n"] == 1.5
    assert row["i"] == 42 and row["b"] is True
    assert row["d"] == dt.date(2024, 2, 29)
    assert row["ts"] == dt.datetime(2024, 1, 1, 8, tzinfo=UTC)
    assert row["ts_local"] == dt.datetime(2024, 1, 1, 10)
    assert row["t"] == dt.time(10, 11, 12)
    plus_two = dt.timezone(dt.timedelta(hours=2))
    assert row["ttz"] == dt.time(10, 11, 12, tzinfo=plus_two)
    # Only DuckDB's double cannot hold the big decimal (see the tests below).
    assert set(changes(row)) == ({"big"} if dest.backend == "duckdb" else set())
    assert row["obj"] == {"a": {"b": [1, "x", None]}, "e": "😀"}
    assert row["arr"] == [1, 2, 3]
    assert row["u"] == "x" and row["one"] == 5 and row["opt"] == "y"


def test_large_decimals_keep_every_digit_in_postgres(pg):
    load(pg, [decode_json(b'{"id": 1, "big": 12345678901234567890.123456789}')])
    [row] = fetch(pg, "id, big, _airbyte_meta")
    assert row["big"] == Decimal("12345678901234567890.123456789")
    assert row["_airbyte_meta"] == {"changes": []}


def test_large_decimals_are_rounded_to_double_in_duckdb_and_recorded(duck):
    load(duck, [decode_json(b'{"id": 1, "big": 12345678901234567890.123456789}')])
    [row] = fetch(duck, "id, big, _airbyte_meta")
    assert row["big"] == pytest.approx(1.2345678901234567e19)
    assert changes(row)["big"] == {
        "field": "big",
        "change": "TRUNCATED",
        "reason": "DESTINATION_FIELD_SIZE_LIMITATION",
        "value": "12345678901234567890.123456789",
    }


def test_strings_are_read_as_the_column_type(dest):
    load(
        dest,
        [
            {"id": 1, "b": "true", "i": "42", "n": "3.25", "d": "2024-01-01T05:00:00Z"},
            {"id": 2, "b": "FALSE", "i": 7.0, "n": 12, "s": 99, "ts": "2024-01-02"},
        ],
    )
    rows = fetch(dest, "id, b, i, n, d, s, ts, _airbyte_meta")
    assert [(r["b"], r["i"], float(r["n"])) for r in rows] == [
        (True, 42, 3.25),
        (False, 7, 12.0),
    ]
    assert rows[0]["d"] == dt.date(2024, 1, 1)
    assert rows[1]["s"] == "99"
    assert rows[1]["ts"] == dt.datetime(2024, 1, 2, tzinfo=UTC)
    assert all(r["_airbyte_meta"] == {"changes": []} for r in rows)


def test_values_that_fail_to_cast_are_nulled_and_recorded_in_meta(dest):
    load(
        dest,
        [
            {
                "id": 1,
                "i": "abc",
                "d": "2024-13-45",
                "ts": "not a time",
                "b": "maybe",
                "n": "12,5",
                "s": "kept",
            },
            {"id": 2, "i": 2**70, "t": "25:00"},
        ],
    )
    first, second = fetch(dest, "id, i, d, ts, b, n, s, t, _airbyte_meta")
    assert (first["i"], first["d"], first["ts"], first["b"], first["n"]) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert first["s"] == "kept"
    recorded = changes(first)
    assert set(recorded) == {"i", "d", "ts", "b", "n"}
    assert recorded["i"] == {
        "field": "i",
        "change": "NULLED",
        "reason": "DESTINATION_SERIALIZATION_ERROR",
        "value": "abc",
    }
    assert recorded["d"]["value"] == "2024-13-45"
    assert changes(second)["i"] == {
        "field": "i",
        "change": "NULLED",
        "reason": "DESTINATION_FIELD_SIZE_LIMITATION",
        "value": 2**70,
    }
    assert changes(second)["t"]["change"] == "NULLED"


def test_nulls_and_missing_fields_are_null_without_changes(dest):
    load(dest, [{"id": 1, **dict.fromkeys(EDGE_PROPS)}, {"id": 2}])
    rows = fetch(dest, "id, s, obj, u, _airbyte_meta, _airbyte_extra")
    for row in rows:
        assert row["s"] is None and row["obj"] is None and row["u"] is None
        assert row["_airbyte_meta"] == {"changes": []}
        assert row["_airbyte_extra"] is None


def test_nul_characters_are_handled(dest):
    load(dest, [{"id": 1, "s": "a\x00b", "obj": {"k": "v\x00w", "\\u0000": "x"}}])
    [row] = fetch(dest, "id, s, obj, _airbyte_meta")
    if dest.backend == "postgres":
        # PostgreSQL text and jsonb cannot hold NUL: removed, and recorded.
        assert row["s"] == "ab"
        assert row["obj"] == {"k": "vw", "\\u0000": "x"}
        assert {f: c["change"] for f, c in changes(row).items()} == {
            "s": "TRUNCATED",
            "obj": "TRUNCATED",
        }
    else:
        assert row["s"] == "a\x00b"
        assert row["obj"] == {"k": "v\x00w", "\\u0000": "x"}
        assert row["_airbyte_meta"] == {"changes": []}


def test_source_changes_in_record_meta_are_kept(dest):
    writer = dest.writer([stream("edge", EDGE_PROPS)])
    writer.open()
    source_change = {
        "field": "s",
        "change": "TRUNCATED",
        "reason": "SOURCE_FIELD_SIZE_LIMITATION",
    }
    writer.write(
        "edge", None, {"id": 1, "i": "x"}, 1, meta={"changes": [source_change]}
    )
    writer.commit()
    writer.finish(success=True)
    [row] = fetch(dest, "id, _airbyte_meta")
    assert row["_airbyte_meta"]["changes"][0] == source_change
    assert row["_airbyte_meta"]["changes"][1]["field"] == "i"


def test_fields_outside_the_schema_are_kept_in_airbyte_extra(dest):
    load(dest, [{"id": 1, "surprise": {"a": [1]}, "also": "x"}, {"id": 2}])
    first, second = fetch(dest, "id, _airbyte_extra")
    assert first["_airbyte_extra"] == {"surprise": {"a": [1]}, "also": "x"}
    assert second["_airbyte_extra"] is None
    assert any("_airbyte_extra" in m and "'also'" in m for _, m in dest.logs)


ODD_PROPS = {
    "id": {"type": "integer"},
    "First Name": {"type": "string"},
    'say "hi"': {"type": "string"},
    "UPPER": {"type": "integer"},
    "x" * 80: {"type": "string"},
    "Id": {"type": "string"},
    "_airbyte_meta": {"type": "string"},
    "123abc": {"type": "string"},
    "café": {"type": "string"},
}


def test_odd_field_names_become_distinct_snake_case_columns(dest):
    record = {
        "id": 1,
        "First Name": "Ada",
        'say "hi"': "hi",
        "UPPER": 5,
        "x" * 80: "long",
        "Id": "shadow",
        "_airbyte_meta": "not ours",
        "123abc": "digits",
        "café": "crème",
    }
    load(dest, [record], props=ODD_PROPS)
    columns = [c for c in dest.columns("edge") if not c.startswith("_airbyte_")]
    long_name = next(c for c in columns if c.startswith("xxxx"))
    id_shadow = next(c for c in columns if c.startswith("id_"))
    meta_shadow = next(
        c for c in dest.columns("edge") if c.startswith("_airbyte_meta_")
    )
    assert len(long_name.encode()) == 63
    assert set(columns) == {
        "id",
        "first_name",
        "say_hi_",
        "upper",
        long_name,
        id_shadow,
        "_123abc",
        "cafe",
    }
    picked = ", ".join(f'"{c}"' for c in (long_name, id_shadow, meta_shadow))
    sql = "SELECT id, first_name, say_hi_, upper, {picked}, _123abc, cafe FROM {s}.edge"
    assert dest.query(sql.replace("{picked}", picked)) == [
        (1, "Ada", "hi", 5, "long", "shadow", "not ours", "digits", "crème")
    ]


def test_a_stream_name_longer_than_63_bytes_gets_a_table(dest):
    name = "Very Long Stream Name " * 5
    writer = dest.writer([stream(name)], prefix="Src_")
    writer.open()
    writer.write(name, None, {"id": 1}, 1)
    writer.commit()
    writer.finish(success=True)
    [table] = [t for t in dest.tables() if t.startswith("src_very_long")]
    assert len(table.encode()) == 63
    assert dest.count(table) == 1


def test_a_column_added_to_the_schema_later_is_added_to_the_table(dest):
    load(dest, [{"id": 1}], props={"id": {"type": "integer"}})
    load(
        dest,
        [{"id": 2, "email": "a@b.c"}],
        props={"id": {"type": "integer"}, "email": {"type": "string"}},
    )
    assert "email" in dest.columns("edge")
    assert dest.query("SELECT id, email FROM {s}.edge ORDER BY id") == [
        (1, None),
        (2, "a@b.c"),
    ]
    assert any("added column(s) email" in m for _, m in dest.logs)


def test_a_retyped_field_keeps_the_existing_column_type(dest):
    load(
        dest,
        [{"id": 1, "v": 1}],
        props={"id": {"type": "integer"}, "v": {"type": "integer"}},
    )
    load(
        dest,
        [{"id": 2, "v": "12"}, {"id": 3, "v": "twelve"}],
        props={"id": {"type": "integer"}, "v": {"type": "string"}},
    )
    assert dest.columns("edge")["v"] == "bigint"
    assert dest.query("SELECT id, v FROM {s}.edge ORDER BY id") == [
        (1, 1),
        (2, 12),
        (3, None),
    ]
    assert any("values are cast to bigint" in m.lower() for _, m in dest.logs)


def test_an_existing_plain_table_gets_the_airbyte_columns(dest):
    writer = dest.writer([stream("edge", {"id": {"type": "integer"}})])
    writer.check()  # creates the schema
    if dest.backend == "postgres":
        dest.execute(f'CREATE TABLE "{dest.schema}".edge (id bigint)')
        dest.execute(f'INSERT INTO "{dest.schema}".edge VALUES (1)')
    else:
        with duckdb.connect(dest.path) as conn:
            conn.execute(f'CREATE TABLE "{dest.schema}".edge (id BIGINT)').fetchall()
            conn.execute(f'INSERT INTO "{dest.schema}".edge VALUES (1)').fetchall()
    load(dest, [{"id": 2}], props={"id": {"type": "integer"}})

    rows = dest.query(
        "SELECT id, _airbyte_raw_id IS NOT NULL, _airbyte_extracted_at IS NOT NULL "
        "FROM {s}.edge ORDER BY id"
    )
    assert rows == [(1, True, False), (2, True, True)]
