"""JSON schema types, name normalization and exact decoding (no database)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.engines.embedded.writers.typing import (
    LogicalType,
    assign_names,
    decode_json,
    dumps_json,
    logical_type,
    normalize_name,
)

T = LogicalType


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string"}, T.STRING),
        ({"type": ["null", "string"]}, T.STRING),
        ({"type": "string", "format": "date"}, T.DATE),
        ({"type": "string", "format": "date-time"}, T.TIMESTAMPTZ),
        (
            {"type": "string", "airbyte_type": "timestamp_with_timezone"},
            T.TIMESTAMPTZ,
        ),
        (
            {
                "type": "string",
                "format": "date-time",
                "airbyte_type": "timestamp_without_timezone",
            },
            T.TIMESTAMP,
        ),
        ({"type": "string", "format": "time"}, T.TIME),
        ({"type": "string", "airbyte_type": "time_with_timezone"}, T.TIMETZ),
        ({"type": "integer"}, T.INTEGER),
        ({"type": "number", "airbyte_type": "integer"}, T.INTEGER),
        ({"type": "integer", "airbyte_type": "big_integer"}, T.NUMBER),
        ({"type": "number"}, T.NUMBER),
        ({"type": ["integer", "number", "null"]}, T.NUMBER),
        ({"type": "boolean"}, T.BOOLEAN),
        ({"type": "object", "properties": {}}, T.JSON),
        ({"type": "array", "items": {"type": "string"}}, T.JSON),
        ({"type": ["string", "integer"]}, T.JSON),
        ({"oneOf": [{"type": "string"}, {"type": "integer"}]}, T.JSON),
        ({"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}, T.DATE),
        ({}, T.JSON),
        ({"$ref": "#/definitions/x"}, T.JSON),
        ({"type": "null"}, T.JSON),
    ],
)
def test_json_schema_types_map_to_column_types(schema, expected):
    assert logical_type(schema) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("users", "users"),
        ("Users", "users"),
        ("First Name", "first_name"),
        ("first-name", "first_name"),
        ("a  -  b", "a_b"),
        ("Café Crème", "cafe_creme"),
        ("用户", "用户"),
        ("2024 sales", "_2024_sales"),
        ("", "_"),
        ("😀", "_"),
        ('say "hi"', "say_hi_"),
    ],
)
def test_names_are_normalized_to_lowercase_snake_case(name, expected):
    assert normalize_name(name) == expected


def test_colliding_names_get_a_stable_hash_suffix():
    first = assign_names(["Id", "id", "ID"])
    assert first["id"] == "id"
    assert first["Id"].startswith("id_") and first["ID"].startswith("id_")
    assert len(set(first.values())) == 3
    # The suffix depends on the name only, not on which other names exist.
    assert assign_names(["ID", "id"])["ID"] == first["ID"]


def test_names_longer_than_63_bytes_are_cut_and_kept_distinct():
    names = assign_names(["é" * 40 + "a", "é" * 40 + "b"])
    assert all(len(n.encode()) <= 63 for n in names.values())
    assert len(set(names.values())) == 2


def test_reserved_airbyte_columns_are_never_reused():
    names = assign_names(["_airbyte_raw_id"], reserved=["_airbyte_raw_id"])
    assert names["_airbyte_raw_id"] != "_airbyte_raw_id"


def test_decode_json_keeps_every_digit_of_long_numbers():
    data = decode_json(b'{"a": 12345678901234567890.123456789, "b": 1.5, "c": 2}')
    assert data == {"a": Decimal("12345678901234567890.123456789"), "b": 1.5, "c": 2}
    big = decode_json(b'{"n": 123456789012345678901234567890}')
    assert big["n"] == 123456789012345678901234567890


def test_decode_json_falls_back_for_what_orjson_refuses():
    assert decode_json(b'{"x": 1e400}')["x"] == Decimal("1E+400")
    assert decode_json(b'{"s": "\\ud800"}')["s"] == "\ud800"
    with pytest.raises(ValueError):
        decode_json(b"not json")


def test_dumps_json_writes_decimals_and_big_integers_exactly():
    value = {"d": Decimal("0.10000000000000000001"), "i": 2**70, "s": "x\ud800"}
    assert dumps_json(value) == (
        b'{"d":0.10000000000000000001,"i":1180591620717411303424,"s":"x\xef\xbf\xbd"}'
    )
