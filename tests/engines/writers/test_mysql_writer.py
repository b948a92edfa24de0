"""The MySQL / MariaDB writer against the real server (``MARIADB_URL``).

Each test gets a database of its own (created here, dropped afterwards), so
parallel xdist workers never share a table. The four modes, the types and casts,
resumability and namespaces are asserted on what a second connection reads.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

import pymysql
import pytest

from apps.engines.embedded.writers import DestinationError, writer_for
from apps.engines.embedded.writers.base import BaseWriter
from tests.engines.writers.conftest import stream, stream_state, write_users
from tests.services_plugin import mariadb_url


def server() -> dict[str, Any]:
    """Where the tests' MariaDB is, as PyMySQL takes it (``MARIADB_URL``)."""
    parts = urlsplit(mariadb_url())
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
    }


def root_query(sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` as root on a fresh autocommit connection: committed data only."""
    conn = pymysql.connect(**server(), autocommit=True, charset="utf8mb4")
    try:
        with conn.cursor() as cur:
            cur.execute(sql, params or None)
            return list(cur.fetchall())
    finally:
        conn.close()


class MySQLDestination:
    """A scratch database: makes writers and reads what they committed."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.logs: list[tuple[str, str]] = []
        self.writers: list[BaseWriter] = []
        self.created = {database}

    @property
    def config(self) -> dict[str, Any]:
        found = server()
        return {
            "host": found["host"],
            "port": found["port"],
            "database": self.database,
            "username": found["user"],
            "password": found["password"],
        }

    def writer(
        self,
        streams: list,
        *,
        schema: str = "public",
        prefix: str = "",
        connection_id: str = "conn-1",
        batch_rows: int | None = None,
    ) -> BaseWriter:
        writer = writer_for("mysql")(
            self.config,
            schema=schema,
            table_prefix=prefix,
            streams=streams,
            connection_id=connection_id,
            log=lambda level, message: self.logs.append((level, message)),
        )
        if batch_rows is not None:
            writer.batch_rows = batch_rows
        self.writers.append(writer)
        return writer

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return root_query(sql.replace("{s}", f"`{self.database}`"), params)

    def count(self, table: str, database: str | None = None) -> int:
        return root_query(
            f"SELECT count(*) FROM `{database or self.database}`.`{table}`"
        )[0][0]

    def columns(self, table: str) -> dict[str, str]:
        rows = self.query(
            "SELECT column_name, column_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (self.database, table),
        )
        return dict(rows)

    def tables(self, database: str | None = None) -> set[str]:
        rows = self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (database or self.database,),
        )
        return {name for (name,) in rows}


@pytest.fixture
def mysql_dest(require_mariadb) -> Iterator[MySQLDestination]:
    database = f"abt_{uuid.uuid4().hex[:12]}"
    root_query(f"CREATE DATABASE `{database}`")
    destination = MySQLDestination(database)
    try:
        yield destination
    finally:
        for writer in destination.writers:
            writer.abort()
        for name in destination.created:
            root_query(f"DROP DATABASE IF EXISTS `{name}`")


# -- the four modes ------------------------------------------------------------


def test_append_keeps_every_record_with_airbyte_columns(mysql_dest):
    users = stream()
    for name in ("first", "again"):
        writer = mysql_dest.writer([users])
        writer.open()
        write_users(writer, range(1, 4), name=name)
        result = writer.commit(stream_state("users", {"cursor": 3}))
        writer.finish(success=True)
        assert result.records == 3

    rows = mysql_dest.query(
        "SELECT id, name, _airbyte_generation_id, length(_airbyte_raw_id), "
        "_airbyte_meta FROM {s}.users ORDER BY name, id"
    )
    assert [r[1] for r in rows] == [
        "again-1",
        "again-2",
        "again-3",
        "first-1",
        "first-2",
        "first-3",
    ]
    assert {(r[2], r[3]) for r in rows} == {(1, 36)}
    assert {json.loads(r[4])["changes"] == [] for r in rows} == {True}
    raw_ids = mysql_dest.query("SELECT count(DISTINCT _airbyte_raw_id) FROM {s}.users")
    assert raw_ids == [(6,)]


def test_incremental_append_resumes_from_the_committed_state(mysql_dest):
    users = stream(cursor=["updated_at"])
    writer = mysql_dest.writer([users])
    writer.open()
    assert writer.read_state() == []
    write_users(writer, range(1, 6))
    writer.commit(stream_state("users", {"updated_at": "2024-01-05"}))
    writer.finish(success=True)

    second = mysql_dest.writer([users])
    second.open()
    assert second.read_state() == [stream_state("users", {"updated_at": "2024-01-05"})]
    write_users(second, range(6, 8))
    second.commit(stream_state("users", {"updated_at": "2024-01-07"}))
    second.finish(success=True)

    assert mysql_dest.count("users") == 7
    assert second.read_state()[0]["stream"]["stream_state"] == {
        "updated_at": "2024-01-07"
    }


def test_overwrite_swaps_the_new_table_in_only_when_the_sync_succeeds(mysql_dest):
    first = mysql_dest.writer([stream(mode="overwrite", generation=1)])
    first.open()
    write_users(first, range(1, 4), name="old")
    first.commit()
    first.finish(success=True)
    assert mysql_dest.count("users") == 3

    second = mysql_dest.writer([stream(mode="overwrite", generation=2)])
    second.open()
    write_users(second, range(1, 6), name="new")
    second.commit()
    # Committed into staging: readers still see the old table, whole.
    assert mysql_dest.query("SELECT DISTINCT name LIKE 'old%' FROM {s}.users") == [(1,)]
    result = second.finish(success=True)

    assert result.records == 5
    rows = mysql_dest.query("SELECT name, _airbyte_generation_id FROM {s}.users")
    assert len(rows) == 5
    assert {gen for _, gen in rows} == {2}
    assert mysql_dest.tables() == {"users", "_airbyte_state"}


def test_a_failed_overwrite_leaves_the_previous_table_whole(mysql_dest):
    first = mysql_dest.writer([stream(mode="overwrite", generation=1)])
    first.open()
    write_users(first, range(1, 4), name="old")
    first.finish(success=True)

    failing = mysql_dest.writer([stream(mode="overwrite", generation=2)])
    failing.open()
    write_users(failing, range(1, 10), name="new")
    failing.commit()
    assert failing.finish(success=False).records == 0

    assert mysql_dest.query("SELECT count(*), min(name) FROM {s}.users") == [
        (3, "old-1")
    ]
    assert mysql_dest.tables() == {"users", "_airbyte_state"}


def test_dedup_keeps_the_row_with_the_greatest_cursor(mysql_dest):
    users = stream(mode="append_dedup", primary_key=[["id"]], cursor=["updated_at"])
    writer = mysql_dest.writer([users], batch_rows=3)
    writer.open()
    records = [
        (1, "a-old", "2024-01-01T00:00:00Z"),
        (2, "b", "2024-01-01T00:00:00Z"),
        (1, "a-new", "2024-01-03T00:00:00Z"),
        (1, "a-stale", "2024-01-02T00:00:00Z"),  # a later batch, an older cursor
        (3, "c", None),
        (None, "no-key-1", "2024-01-01T00:00:00Z"),
        (None, "no-key-2", "2024-01-01T00:00:00Z"),
    ]
    for index, name, updated in records:
        writer.write(
            "users", None, {"id": index, "name": name, "updated_at": updated}, 0
        )
    writer.commit()
    writer.finish(success=True)

    again = mysql_dest.writer([users])
    again.open()
    for index, name, updated in [
        (2, "b-new", "2024-02-01T00:00:00Z"),
        (3, "c-dated", "2024-01-01T00:00:00Z"),
        (2, "b-newer-same-batch", "2024-03-01T00:00:00Z"),
    ]:
        again.write(
            "users", None, {"id": index, "name": name, "updated_at": updated}, 0
        )
    again.commit()
    again.finish(success=True)

    rows = mysql_dest.query("SELECT id, name FROM {s}.users ORDER BY id, name")
    assert rows == [
        (None, "no-key-1"),
        (None, "no-key-2"),
        (1, "a-new"),
        (2, "b-newer-same-batch"),
        (3, "c-dated"),
    ]
    assert any("NULL primary key" in message for _, message in mysql_dest.logs)


def test_dedup_without_a_cursor_keeps_the_latest_record(mysql_dest):
    users = stream(mode="append_dedup", primary_key=[["id"]])
    writer = mysql_dest.writer([users])
    writer.open()
    write_users(writer, [1, 2, 1], name="first")
    writer.commit()
    write_users(writer, [2], name="second")
    writer.finish(success=True)

    assert mysql_dest.query("SELECT id, name FROM {s}.users ORDER BY id") == [
        (1, "first-1"),
        (2, "second-2"),
    ]


def test_switching_from_append_to_dedup_removes_older_duplicates(mysql_dest):
    plain = mysql_dest.writer([stream()])
    plain.open()
    write_users(plain, [1, 1, 2], name="appended", ts=0)
    plain.finish(success=True)

    dedup = mysql_dest.writer(
        [stream(mode="append_dedup", primary_key=[["id"]], cursor=["updated_at"])]
    )
    dedup.open()
    write_users(dedup, [3], name="deduped")
    dedup.finish(success=True)

    assert mysql_dest.query("SELECT id FROM {s}.users ORDER BY id") == [
        (1,),
        (2,),
        (3,),
    ]
    assert any("removed 1 older duplicate" in m for _, m in mysql_dest.logs)


def test_dedup_on_a_composite_string_key(mysql_dest):
    properties = {
        "org": {"type": "string"},
        "code": {"type": "string"},
        "v": {"type": "integer"},
    }
    items = stream(
        "items", properties, mode="append_dedup", primary_key=[["org"], ["code"]]
    )
    writer = mysql_dest.writer([items])
    writer.open()
    for org, code, v in [("a", "x", 1), ("a", "X", 2), ("a", "x", 3), ("b", "x", 4)]:
        writer.write("items", None, {"org": org, "code": code, "v": v}, 0)
    writer.finish(success=True)

    # A binary collation: "x" and "X" are two keys, as in PostgreSQL.
    assert mysql_dest.query("SELECT org, code, v FROM {s}.items ORDER BY v") == [
        ("a", "X", 2),
        ("a", "x", 3),
        ("b", "x", 4),
    ]


# -- types -----------------------------------------------------------------------

TYPED = {
    "id": {"type": "integer"},
    "s": {"type": ["null", "string"]},
    "n": {"type": "number"},
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
    "obj": {"type": "object"},
}


def test_columns_get_mysql_types(mysql_dest):
    writer = mysql_dest.writer([stream("typed", TYPED)])
    writer.open()
    writer.finish(success=True)

    assert mysql_dest.columns("typed") == {
        "_airbyte_raw_id": "char(36)",
        "_airbyte_extracted_at": "datetime(6)",
        "_airbyte_meta": "longtext",  # MariaDB's JSON
        "_airbyte_generation_id": "bigint(20)",
        "_airbyte_extra": "longtext",
        "id": "bigint(20)",
        "s": "longtext",
        "n": "decimal(38,9)",
        "b": "tinyint(1)",
        "d": "date",
        "ts": "datetime(6)",
        "ts_local": "datetime(6)",
        "t": "time(6)",
        "ttz": "time(6)",
        "obj": "longtext",
    }
    # The JSON columns really are JSON: MariaDB checks them.
    checks = mysql_dest.query(
        "SELECT constraint_name FROM information_schema.check_constraints "
        "WHERE constraint_schema = %s AND table_name = 'typed'",
        (mysql_dest.database,),
    )
    assert {name for (name,) in checks} == {"_airbyte_meta", "_airbyte_extra", "obj"}


def test_values_are_cast_and_failures_recorded_in_the_meta(mysql_dest):
    writer = mysql_dest.writer([stream("typed", TYPED)])
    writer.open()
    writer.write(
        "typed",
        None,
        {
            "id": 1,
            "s": "Zoë 🚀 \x00 end",
            "n": 12.34,
            "b": True,
            "d": "2024-02-29",
            "ts": "2024-05-01T12:30:00.123456+02:00",
            "ts_local": "2024-05-01T12:30:00",
            "t": "08:15:00",
            "ttz": "08:15:00+02:00",
            "obj": {"a": [1, 2], "b": None},
        },
        0,
    )
    writer.write(
        "typed",
        None,
        {
            "id": "not a number",
            "n": "1e40",
            "b": "maybe",
            "d": "2024-13-45",
            "ts": "yesterday",
            "unknown": "kept aside",
        },
        0,
    )
    writer.write("typed", None, {"id": 3, "n": "0.1234567891234"}, 0)
    writer.finish(success=True)

    rows = mysql_dest.query(
        "SELECT id, s, n, b, d, ts, ts_local, t, ttz, obj, _airbyte_meta, "
        "_airbyte_extra FROM {s}.typed ORDER BY _airbyte_raw_id"
    )
    by_n = sorted(rows, key=lambda r: (r[0] is None, r[0] or 0))
    good, rounded, bad = by_n
    assert good[:9] == (
        1,
        "Zoë 🚀 \x00 end",
        Decimal("12.340000000"),
        1,
        dt.date(2024, 2, 29),
        dt.datetime(2024, 5, 1, 10, 30, 0, 123456),  # stored in UTC
        dt.datetime(2024, 5, 1, 12, 30),
        dt.timedelta(hours=8, minutes=15),
        dt.timedelta(hours=6, minutes=15),
    )
    assert json.loads(good[9]) == {"a": [1, 2], "b": None}
    assert json.loads(good[10]) == {"changes": []}
    assert good[11] is None

    assert rounded[2] == Decimal("0.123456789")
    assert json.loads(rounded[10])["changes"] == [
        {
            "field": "n",
            "change": "TRUNCATED",
            "reason": "DESTINATION_FIELD_SIZE_LIMITATION",
            "value": "0.1234567891234",
        }
    ]

    assert bad[0] is None and bad[2] is None and bad[3] is None and bad[5] is None
    changes = {c["field"]: c for c in json.loads(bad[10])["changes"]}
    assert set(changes) == {"id", "n", "b", "d", "ts"}
    assert changes["id"]["value"] == "not a number"
    assert changes["n"]["reason"] == "DESTINATION_FIELD_SIZE_LIMITATION"
    assert {c["change"] for c in changes.values()} == {"NULLED"}
    assert json.loads(bad[11]) == {"unknown": "kept aside"}


def test_a_later_sync_reads_its_columns_back_and_adds_new_ones(mysql_dest):
    first = mysql_dest.writer([stream("typed", TYPED)])
    first.open()
    first.finish(success=True)

    wider = dict(TYPED, extra_col={"type": "integer"})
    second = mysql_dest.writer([stream("typed", wider)])
    second.open()
    second.write("typed", None, {"id": 1, "extra_col": 7, "ts": "2024-01-01"}, 0)
    second.finish(success=True)

    # Every existing column maps back to the type it was made for: no warning.
    assert not [m for level, m in mysql_dest.logs if level == "WARN"]
    assert any("added column(s) extra_col" in m for _, m in mysql_dest.logs)
    assert mysql_dest.query("SELECT extra_col FROM {s}.typed") == [(7,)]


# -- resumability ----------------------------------------------------------------


def test_committed_batches_and_their_state_survive_a_failure(mysql_dest):
    users = stream(cursor=["updated_at"])
    writer = mysql_dest.writer([users], batch_rows=2)
    writer.open()
    write_users(writer, range(1, 6))
    writer.commit(stream_state("users", {"updated_at": "5"}))
    # Flushed into the open transaction (batch_rows=2), but never committed.
    write_users(writer, range(6, 10))
    writer.finish(success=False)

    assert mysql_dest.count("users") == 5
    retry = mysql_dest.writer([users])
    retry.open()
    assert retry.read_state() == [stream_state("users", {"updated_at": "5"})]


def test_a_batch_the_server_refuses_rolls_back_with_its_state(mysql_dest):
    users = stream()
    writer = mysql_dest.writer([users])
    writer.open()
    write_users(writer, range(1, 3))
    writer.commit(stream_state("users", 1))
    write_users(writer, range(3, 5))
    root_query(f"DROP TABLE `{mysql_dest.database}`.`users`")
    with pytest.raises(DestinationError) as failure:
        writer.commit(stream_state("users", 2))
    writer.abort()

    assert "MySQL failed while loading stream 'users'" in failure.value.message
    assert mysql_dest.query("SELECT state FROM {s}._airbyte_state") == [
        (json.dumps(stream_state("users", 1), separators=(",", ":")),)
    ]


# -- namespaces and connections ----------------------------------------------------


def test_namespaces_are_databases_and_connections_keep_their_own_state(mysql_dest):
    other = f"{mysql_dest.database}_other"
    mysql_dest.created.add(other)
    default = mysql_dest.writer([stream()], connection_id="conn-a")
    named = mysql_dest.writer([stream()], schema=other, connection_id="conn-b")
    prefixed = mysql_dest.writer([stream()], prefix="b_", connection_id="conn-c")
    for index, writer in enumerate([default, named, prefixed], start=1):
        writer.open()
        write_users(writer, range(index))
        writer.commit(stream_state("users", index))
        writer.finish(success=True)

    assert mysql_dest.count("users") == 1
    assert mysql_dest.count("b_users") == 3
    assert mysql_dest.count("users", database=other) == 2
    assert default.read_state() == [stream_state("users", 1)]
    assert named.read_state() == [stream_state("users", 2)]
    assert prefixed.read_state() == [stream_state("users", 3)]


def test_truncate_empties_the_table_and_forgets_its_state(mysql_dest):
    users = stream()
    writer = mysql_dest.writer([users])
    writer.open()
    write_users(writer, range(1, 4))
    writer.commit(stream_state("users", 3))
    writer.finish(success=True)

    writer.truncate()

    assert mysql_dest.count("users") == 0
    assert writer.read_state() == []


# -- check -------------------------------------------------------------------------


def test_check_names_a_refused_privilege_and_never_the_password(mysql_dest):
    user, password = f"abt_ro_{uuid.uuid4().hex[:6]}", "Secret-Canary-42"
    root_query(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
    try:
        root_query(f"GRANT SELECT ON `{mysql_dest.database}`.* TO '{user}'@'%'")
        config = dict(mysql_dest.config, username=user, password=password)
        writer = writer_for("mysql")(
            config, schema="public", streams=[], connection_id="c"
        )
        with pytest.raises(DestinationError) as refused:
            writer.check()
        wrong = writer_for("mysql")(
            dict(config, password="Wrong-Canary-7"),
            schema="public",
            streams=[],
            connection_id="c",
        )
        with pytest.raises(DestinationError) as denied:
            wrong.check()
    finally:
        root_query(f"DROP USER IF EXISTS '{user}'@'%'")

    assert "CREATE command denied" in refused.value.message
    assert refused.value.failure_type == "config_error"
    assert "Access denied for user" in denied.value.message
    assert denied.value.failure_type == "config_error"
    for message in (refused.value.message, denied.value.message):
        assert password not in message and "Wrong-Canary-7" not in message


def test_an_overwrite_whose_worker_died_starts_over_and_loads_each_record_once(
    mysql_dest,
):
    users = stream(mode="overwrite", generation=3)
    dying = mysql_dest.writer([users])
    dying.open()
    write_users(dying, range(1, 4), name="dead")
    dying.commit(stream_state("users", {"page": 1}))
    # The worker is killed: no finish, no abort; the connection just goes away.
    dying._db_close()
    dying._is_open = False
    assert mysql_dest.tables() == {
        dying._plans[(None, "users")].staging,
        "_airbyte_state",
    }

    # The next attempt has the same generation (it changes on reset only) and no
    # state: a full refresh source starts over from the first record.
    retry = mysql_dest.writer([users])
    retry.open()
    assert retry.read_state() == []
    write_users(retry, range(1, 6), name="fresh")
    retry.commit(stream_state("users", {"page": 2}))
    retry.finish(success=True)

    rows = mysql_dest.query("SELECT id, name FROM {s}.users ORDER BY id")
    assert rows == [(i, f"fresh-{i}") for i in range(1, 6)]
    assert any("dropped the staging table" in m for _, m in mysql_dest.logs)
    assert mysql_dest.tables() == {"users", "_airbyte_state"}
    # A successful swap clears the stream's state: the next full refresh starts over.
    assert retry.read_state() == []


def test_a_table_made_by_hand_with_other_column_types_is_appended_to(mysql_dest):
    root_query(
        f"CREATE TABLE `{mysql_dest.database}`.`users` (id int(11), name text, "
        "updated_at datetime, score double)"
    )
    properties = {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "updated_at": {"type": "string", "format": "date-time"},
        "score": {"type": "number"},
    }
    writer = mysql_dest.writer([stream("users", properties)])
    writer.open()
    writer.write(
        "users",
        None,
        {"id": 7, "name": "Ann", "updated_at": "2024-01-01T10:00:00Z", "score": 1.5},
        0,
    )
    writer.finish(success=True)

    assert mysql_dest.query("SELECT id, name, score FROM {s}.users") == [
        (7, "Ann", 1.5)
    ]
    # The console's columns were added; the user's kept their types, with a warning
    # for the one that holds another kind of value than the schema asks.
    assert "_airbyte_raw_id" in mysql_dest.columns("users")
    warnings = [m for level, m in mysql_dest.logs if level == "WARN"]
    assert len(warnings) == 1
    assert "'updated_at' a timestamp_with_timezone" in warnings[0]


def test_dedup_on_a_key_inside_an_object(mysql_dest):
    properties = {
        "ref": {"type": "object"},
        "v": {"type": "integer"},
        "seen": {"type": "string", "format": "date"},
    }
    events = stream(
        "events",
        properties,
        mode="append_dedup",
        primary_key=[["ref", "id"]],
        cursor=["seen"],
    )
    writer = mysql_dest.writer([events])
    writer.open()
    for ref, v, seen in [
        ({"id": "a"}, 1, "2024-01-02"),
        ({"id": "a"}, 2, "2024-01-01"),
        ({"id": "b"}, 3, "2024-01-01"),
    ]:
        writer.write("events", None, {"ref": ref, "v": v, "seen": seen}, 0)
    writer.commit()
    writer.write("events", None, {"ref": {"id": "b"}, "v": 4, "seen": "2024-02-01"}, 0)
    writer.finish(success=True)

    assert mysql_dest.query("SELECT v FROM {s}.events ORDER BY v") == [(1,), (4,)]
