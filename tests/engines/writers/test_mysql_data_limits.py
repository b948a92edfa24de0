"""The MySQL / MariaDB writer at the edges of what the server holds.

Keys that differ only by trailing spaces (MySQL's ``_bin`` collations are PAD
SPACE), a hand-made table's narrower columns, JSON nested deeper than the server
accepts, and a value the server still refuses: on the real MariaDB
(``MARIADB_URL``), read back on a second connection.
"""

from __future__ import annotations

import json

import pytest

from apps.engines.embedded.writers import DestinationError
from tests.engines.writers import test_mysql_writer
from tests.engines.writers.conftest import stream, stream_state
from tests.engines.writers.test_mysql_writer import root_query

# The scratch database fixture of the writer's own tests.
mysql_dest = test_mysql_writer.mysql_dest

CODES = {"code": {"type": "string"}, "name": {"type": ["null", "string"]}}


def _changes(meta: str) -> dict[str, dict]:
    return {c["field"]: c for c in json.loads(meta)["changes"]}


def _nested(levels: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


# -- keys that differ only by trailing spaces ------------------------------------


def test_dedup_keeps_keys_that_differ_only_by_trailing_spaces_apart(mysql_dest):
    codes = stream("codes", CODES, mode="append_dedup", primary_key=[["code"]])
    writer = mysql_dest.writer([codes])
    writer.open()
    writer.write("codes", None, {"code": "a", "name": "plain"}, 0)
    writer.write("codes", None, {"code": "a ", "name": "trailing space"}, 0)
    writer.commit()
    writer.write("codes", None, {"code": "b ", "name": "b with space"}, 0)
    writer.commit()
    writer.write("codes", None, {"code": "b", "name": "b plain"}, 0)
    writer.commit()
    # A later record of "a " replaces that row only.
    writer.write("codes", None, {"code": "a ", "name": "trailing space, new"}, 0)
    writer.finish(success=True)

    rows = mysql_dest.query(
        "SELECT concat('[', code, ']'), name FROM {s}.codes ORDER BY code, name"
    )
    assert sorted(rows) == [
        ("[a ]", "trailing space, new"),
        ("[a]", "plain"),
        ("[b ]", "b with space"),
        ("[b]", "b plain"),
    ]


def test_dedup_on_a_json_path_keeps_trailing_spaces_apart(mysql_dest):
    properties = {"ref": {"type": "object"}, "v": {"type": "integer"}}
    events = stream(
        "events", properties, mode="append_dedup", primary_key=[["ref", "id"]]
    )
    writer = mysql_dest.writer([events])
    writer.open()
    for ref, v in [("x", 1), ("x ", 2), ("x", 3)]:
        writer.write("events", None, {"ref": {"id": ref}, "v": v}, 0)
    writer.finish(success=True)

    assert mysql_dest.query("SELECT v FROM {s}.events ORDER BY v") == [(2,), (3,)]


def test_switching_to_dedup_does_not_merge_keys_that_differ_by_spaces(mysql_dest):
    plain = mysql_dest.writer([stream("codes", CODES)])
    plain.open()
    for code, name in [("a", "first"), ("a ", "spaced"), ("a", "second")]:
        plain.write("codes", None, {"code": code, "name": name}, 0)
    plain.finish(success=True)

    dedup = mysql_dest.writer(
        [stream("codes", CODES, mode="append_dedup", primary_key=[["code"]])]
    )
    dedup.open()
    dedup.finish(success=True)

    # Only the true duplicate of "a" went; "a " is a key of its own.
    rows = mysql_dest.query("SELECT concat('[', code, ']') FROM {s}.codes")
    assert sorted(rows) == [("[a ]",), ("[a]",)]
    assert any("removed 1 older duplicate" in m for _, m in mysql_dest.logs)


def test_states_of_streams_named_apart_by_a_trailing_space_stay_apart(mysql_dest):
    streams = [stream("users"), stream("users ")]
    writer = mysql_dest.writer(streams)
    writer.open()
    writer.commit(stream_state("users", {"page": 1}), stream_state("users ", {"p": 2}))
    writer.finish(success=True)

    again = mysql_dest.writer(streams)
    assert sorted(
        (s["stream"]["stream_descriptor"]["name"], s["stream"]["stream_state"])
        for s in again.read_state()
    ) == [("users", {"page": 1}), ("users ", {"p": 2})]


def test_a_state_table_an_earlier_version_made_is_converted_and_kept(mysql_dest):
    root_query(
        f"CREATE TABLE `{mysql_dest.database}`.`_airbyte_state` ("
        "connection_id varchar(64) NOT NULL, kind varchar(16) NOT NULL, "
        "stream_namespace varchar(255) NOT NULL DEFAULT '', "
        "stream_name varchar(255) NOT NULL DEFAULT '', state longtext NOT NULL, "
        "updated_at datetime(6) NOT NULL DEFAULT current_timestamp(6), "
        "PRIMARY KEY (connection_id, kind, stream_namespace, stream_name)) "
        "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    )
    saved = stream_state("users", {"cursor": "2024-01-01"})
    root_query(
        f"INSERT INTO `{mysql_dest.database}`.`_airbyte_state` "
        "(connection_id, kind, stream_name, state) VALUES ('conn-1', 'STREAM', "
        "'users', %s)",
        (json.dumps(saved),),
    )

    writer = mysql_dest.writer([stream("users"), stream("users ")])
    writer.open()
    assert writer.read_state() == [saved]
    writer.commit(stream_state("users ", {"cursor": "other"}))
    writer.finish(success=True)

    assert mysql_dest.columns("_airbyte_state")["stream_name"] == "varbinary(1020)"
    assert len(writer.read_state()) == 2


# -- a hand-made table's narrower columns ---------------------------------------


def test_values_a_hand_made_tables_narrower_columns_cannot_hold_become_null(
    mysql_dest,
):
    root_query(
        f"CREATE TABLE `{mysql_dest.database}`.`users` (id int(11), name text, "
        "small smallint, medium mediumint, score float)"
    )
    properties = {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "small": {"type": "integer"},
        "medium": {"type": "integer"},
        "score": {"type": "number"},
    }
    writer = mysql_dest.writer([stream("users", properties)])
    writer.open()
    writer.write(
        "users",
        None,
        {"id": 7, "name": "Ann", "small": 32767, "medium": -8388608, "score": 1e28},
        0,
    )
    writer.write("users", None, {"id": 8, "name": "x" * 70_000}, 0)
    writer.write("users", None, {"id": 2**31, "name": "é" * 30_000}, 0)
    writer.write("users", None, {"id": 10, "name": "🚀" * 17_000, "small": 32768}, 0)
    writer.write("users", None, {"id": "11", "medium": "8388608"}, 0)
    result = writer.commit(stream_state("users", {"page": 1}))
    writer.finish(success=True)

    assert result.records == 5 and result.states == 1
    rows = mysql_dest.query(
        "SELECT id, char_length(name), small, medium, score, _airbyte_meta "
        "FROM {s}.users ORDER BY _airbyte_extracted_at, id"
    )
    by_order = sorted(rows, key=lambda r: (r[0] is None, r[0] or 0))
    ann, long_ascii, rockets, medium, too_big = by_order
    assert ann[:4] == (7, 3, 32767, -8388608)
    assert ann[4] == pytest.approx(1e28, rel=1e-6)
    assert json.loads(ann[5]) == {"changes": []}

    # 70,000 bytes do not fit TEXT (65,535): NULL, the original in the meta.
    assert long_ascii[:2] == (8, None)
    change = _changes(long_ascii[5])["name"]
    assert change["change"] == "NULLED"
    assert change["reason"] == "DESTINATION_FIELD_SIZE_LIMITATION"
    assert change["value"] == "x" * 70_000
    # 17,000 four-byte characters are 68,000 bytes: too long too.
    assert rockets[:3] == (10, None, None)
    assert set(_changes(rockets[5])) == {"name", "small"}
    assert _changes(rockets[5])["small"]["value"] == 32768
    # A numeric string beyond MEDIUMINT keeps its original spelling.
    assert medium[:4] == (11, None, None, None)
    assert _changes(medium[5])["medium"]["value"] == "8388608"
    # 2**31 is beyond INT; 30,000 two-byte characters (60,000 bytes) fit TEXT.
    assert too_big[:2] == (None, 30_000)
    assert _changes(too_big[5])["id"]["value"] == 2**31

    warnings = [m for level, m in mysql_dest.logs if level == "WARN"]
    assert sum("'name' does not fit the column's type (text)" in m for m in warnings)
    assert sum("'name'" in m for m in warnings) == 1  # once per column, not per row


# -- JSON deeper than the server accepts ----------------------------------------


def test_json_nested_deeper_than_the_server_accepts_is_null_and_kept_as_text(
    mysql_dest,
):
    properties = {"id": {"type": "integer"}, "payload": {"type": "object"}}
    writer = mysql_dest.writer([stream("events", properties)])
    writer.open()
    # MariaDB accepts 31 nested objects and refuses 32.
    writer.write("events", None, {"id": 1, "payload": _nested(31)}, 0)
    writer.write("events", None, {"id": 2, "payload": _nested(40)}, 0)
    writer.write("events", None, {"id": 3, "payload": {}, "deep_extra": _nested(40)}, 0)
    result = writer.commit(stream_state("events", {"page": 1}))
    writer.finish(success=True)

    assert result.records == 3
    rows = mysql_dest.query(
        "SELECT id, payload, _airbyte_meta, _airbyte_extra FROM {s}.events ORDER BY id"
    )
    kept, refused, extra = rows
    assert json.loads(kept[1]) == _nested(31)
    assert json.loads(kept[2]) == {"changes": []}

    assert refused[1] is None
    change = _changes(refused[2])["payload"]
    assert change["reason"] == "DESTINATION_SERIALIZATION_ERROR"
    # The meta must be valid JSON the server takes: the original is its JSON text.
    assert json.loads(change["value"]) == _nested(40)

    assert json.loads(extra[1]) == {}
    assert json.loads(json.loads(extra[3])["deep_extra"]) == _nested(40)


# -- a value the server still refuses ---------------------------------------------


def test_a_value_the_table_refuses_fails_as_a_config_error_naming_the_column(
    mysql_dest,
):
    root_query(
        f"CREATE TABLE `{mysql_dest.database}`.`users` (id bigint, "
        "name longtext NOT NULL)"
    )
    writer = mysql_dest.writer([stream("users")])
    writer.open()
    writer.write("users", None, {"id": 1, "name": "Ann"}, 0)
    writer.commit(stream_state("users", 1))
    writer.write("users", None, {"id": 2}, 0)
    with pytest.raises(DestinationError) as refused:
        writer.commit(stream_state("users", 2))
    writer.abort()

    message = refused.value.message
    assert refused.value.failure_type == "config_error"  # not retried
    assert message.startswith("MySQL failed while loading stream 'users': ")
    assert "column 'name'" in message
    assert "(1048" not in message  # the server's words, not PyMySQL's tuple
    assert mysql_dest.query("SELECT id FROM {s}.users") == [(1,)]


def test_a_check_constraint_the_value_fails_is_a_config_error(mysql_dest):
    root_query(
        f"CREATE TABLE `{mysql_dest.database}`.`users` (id bigint, "
        "name longtext, CONSTRAINT positive_id CHECK (id > 0))"
    )
    writer = mysql_dest.writer([stream("users")])
    writer.open()
    writer.write("users", None, {"id": -1, "name": "Ann"}, 0)
    with pytest.raises(DestinationError) as refused:
        writer.commit()
    writer.abort()

    assert refused.value.failure_type == "config_error"
    assert "stream 'users'" in refused.value.message
    assert "positive_id" in refused.value.message
    assert "(4025" not in refused.value.message


@pytest.mark.parametrize(
    ("value", "deep"),
    [
        (_nested(31), False),
        (_nested(32), True),
        # Brackets and escaped quotes inside strings are text, not nesting.
        ({"s": "[" * 40 + '\\"{' * 40, "t": ["\\", "]" * 40]}, False),
        ([[[{'k\\"[[[': '"' * 5}]]] * 30, False),
        # Wide is not deep: 100 small objects side by side.
        ([{"a": [1, {"b": 2}]} for _ in range(100)], False),
        ([[{"x": '"]]]'}]] * 3 + [_nested(31)], True),
    ],
)
def test_the_json_depth_check_counts_nesting_not_brackets(value, deep):
    from apps.engines.embedded.writers.mysql import (
        MARIADB_JSON_NESTING,
        nesting,
        too_deep,
    )
    from apps.engines.embedded.writers.typing import dumps_json

    assert too_deep(dumps_json(value), MARIADB_JSON_NESTING) is deep
    assert (nesting(value) > MARIADB_JSON_NESTING) is deep
