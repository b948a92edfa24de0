"""The MySQL / MariaDB destination writer: PyMySQL, multi-row ``INSERT`` in batches.

A MySQL "schema" is a database, so a connection's namespace names the database its
tables go to; the connection's default namespace (``public``, or none) means the
config's ``database``, which is what Airbyte's destination-mysql calls the
destination default. The state table lives in that default database.

Loading: each batch is sent as multi-row ``INSERT ... VALUES (...),(...)``
statements of up to 4 MB, their SQL built here per column type
(``row_formatter``: about three times faster than PyMySQL's generic escaping).
``LOAD DATA LOCAL INFILE`` was measured too: on 100 k prebuilt product rows the
server took 1.1-1.8 s against 2.8-3.0 s for the INSERTs, but building its file in
Python costs what building the INSERTs does, it needs ``local_infile`` on the
server (off by default in MySQL 8 and on most managed servers), and, decisively,
a client that enables it lets the server ask for any file the worker can read
(PyMySQL sends whatever file name the server requests): a user-entered host must
never get that. So the writer always uses INSERT and never sets ``local_infile``.

The session runs with ``ANSI_QUOTES`` (so the shared SQL's double-quoted
identifiers work), ``STRICT_TRANS_TABLES`` (a value the casts let through but the
column refuses fails the batch, as a config error naming the column, instead of
being silently mangled) and time zone UTC. Tables are InnoDB (transactions),
``utf8mb4`` with a binary collation; as every ``_bin`` collation is PAD SPACE
(``'a' = 'a '``), dedup compares key text as bytes and the state table keeps
stream names as ``varbinary``, so keys compare exactly, as in PostgreSQL.

What a column holds is enforced before the server sees it: JSON nested deeper
than the server accepts (``MySQLCasts``) and values beyond a hand-made table's
narrower ``int``/``smallint``/``mediumint``/``text``/``mediumtext`` columns
(``_limit_narrow_columns``) are NULL with the reason in ``_airbyte_meta``.

Modes:

- append: INSERT straight into the table.
- overwrite: INSERT into ``_airbyte_tmp_<connection>_<table>``;
  ``finish(success=True)`` swaps it in with one ``RENAME TABLE table TO old,
  staging TO table`` (atomic for readers) and drops the old table. MySQL commits
  implicitly around DDL, so the swap and the clearing of the stream's state that
  follows are two commits, not one: a crash between them leaves the new table in
  place and a stale state a full refresh ignores.
- append_dedup: MySQL has no MERGE and ``ON DUPLICATE KEY UPDATE`` needs a unique
  key, which a LONGTEXT key column cannot have in MySQL; so each batch goes into a
  session temporary table and, in the batch's transaction, its latest row per
  primary key replaces the table's row unless that one has a greater cursor
  (delete + insert). A (non-unique) index on the key keeps this fast; duplicates
  an earlier append left are removed when it is first created. Rows whose key has
  a NULL part are inserted as they come.

Every data change of a batch (rows, dedup, states) is DML in one InnoDB
transaction, so ``commit`` keeps the writer's guarantee: rows and state together.

Config (Airbyte's destination-mysql spec): ``host``, ``port``, ``database``,
``username``, ``password``, ``ssl`` (encrypt, without verifying the certificate,
as Airbyte's ``ssl: true``), ``jdbc_url_params`` (for Airbyte's connector; this
writer ignores it). SSH tunnels are not supported.
"""

# SQL text here interpolates identifiers only, always through quote(); values travel
# as parameters.
# ruff: noqa: S608
from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import orjson
import pymysql
from pymysql.constants import CLIENT

from apps.engines.embedded.writers.base import (
    EXTRA,
    EXTRACTED_AT,
    GENERATION_ID,
    META,
    RAW_ID,
    SEQUENCE,
    STATE_TABLE,
    DestinationError,
    FieldRef,
    ServerWriter,
    StreamPlan,
    quote,
)
from apps.engines.embedded.writers.typing import (
    FIELD_SIZE_LIMITATION,
    INT64_MAX,
    INT64_MIN,
    NULLED,
    SERIALIZATION_ERROR,
    CastAdjusted,
    CastFailed,
    Casts,
    LogicalType,
    decode_json,
    dumps_json,
    fit_identifier,
    short_hash,
)

DEFAULT_NAMESPACES = ("", "public")
# DECIMAL(38, 9): Airbyte's typing of a number in MySQL; 29 digits before the point.
NUMBER_SCALE = 9
NUMBER_LIMIT = Decimal(10) ** (38 - NUMBER_SCALE)
_QUANTUM = Decimal(1).scaleb(-NUMBER_SCALE)
_UTC = dt.UTC
# Index prefix for text key columns (InnoDB keys hold at most 3072 bytes).
TEXT_KEY_PREFIX = 191
TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
UTC_COMMENT = " comment 'utc'"

# Server errors that mean "fix the settings": access denied (1044, 1045, 1142,
# 1227, 1370), unknown database (1049), unknown host (2005), read-only (1290, 1836).
_CONFIG_ERRORS = {1044, 1045, 1049, 1142, 1143, 1227, 1290, 1370, 1836, 2005}
# Errors worth a retry: lost connection, server gone, lock waits, deadlocks,
# too many connections.
_TRANSIENT_ERRORS = {1040, 1053, 1205, 1213, 2002, 2003, 2006, 2013, 2055}
# A value the column refuses: NULL in a NOT NULL column (1048), out of range
# (1264), an incorrect value (1292, 1366), too long (1406), JSON MySQL refuses
# (3140, 3157: too deep) or a failed CHECK (4025: MariaDB's JSON is one). The casts
# keep such values out; one that still gets through fails again on every retry
# with the same rows, so it is a config error (a person fixes the table), never
# a retried one.
_DATA_ERRORS = {1048, 1264, 1292, 1366, 1406, 3140, 3157, 4025}
# JSON nesting the server accepts: MariaDB's json_valid() refuses 32 nested
# arrays or objects (measured on 10.11: 31 pass), MySQL refuses more than 100.
MARIADB_JSON_NESTING = 31
MYSQL_JSON_NESTING = 100
# Room the meta's own shape takes around a change's value: {"changes":[{"value":
_META_LEVELS = 3
# What a hand-made table's narrower column types hold; anything else of the
# column's logical type fits (or is refused by the casts already). Text limits
# are in bytes: utf8mb4 needs up to 4 per character.
_INTEGER_RANGES = {
    "int": (-(2**31), 2**31 - 1),
    "mediumint": (-(2**23), 2**23 - 1),
    "smallint": (-(2**15), 2**15 - 1),
}
_TEXT_BYTES = {"text": 65_535, "mediumtext": 16_777_215}


class MySQLCasts(Casts):
    """Cells for PyMySQL: UTC-naive datetimes, DECIMAL(38,9) numbers, JSON text.

    ``json_nesting``: how many nested arrays and objects the server accepts in a
    JSON column. A deeper value is NULL with DESTINATION_SERIALIZATION_ERROR; in
    ``_airbyte_meta`` and ``_airbyte_extra`` (which must stay valid JSON too) a
    value too deep to fit is kept as its JSON text, a string.
    """

    def __init__(self, json_nesting: int = MARIADB_JSON_NESTING) -> None:
        self.json_nesting = json_nesting

    fast_paths: ClassVar[dict[LogicalType, str]] = {
        LogicalType.STRING: "type(v) is str and v.isascii()",
        LogicalType.INTEGER: f"type(v) is int and {INT64_MIN} <= v <= {INT64_MAX}",
        LogicalType.BOOLEAN: "v is True or v is False",
    }

    def number(self, value: Any) -> Any:
        if type(value) is float:
            if value != value or value in (float("inf"), float("-inf")):
                raise CastFailed()
            try:
                value = Decimal(repr(value))
            except InvalidOperation:
                raise CastFailed() from None
        result = super().number(value)
        if isinstance(result, int):
            if -NUMBER_LIMIT < result < NUMBER_LIMIT:
                return result
            raise CastFailed(FIELD_SIZE_LIMITATION)
        if not result.is_finite():
            raise CastFailed()
        if not -NUMBER_LIMIT < result < NUMBER_LIMIT:
            raise CastFailed(FIELD_SIZE_LIMITATION)
        if result.as_tuple().exponent < -NUMBER_SCALE:  # type: ignore[operator]
            rounded = result.quantize(_QUANTUM)
            if rounded != result:
                # Stored rounded to 9 decimals; the exact original stays in the meta.
                raise CastAdjusted(rounded, FIELD_SIZE_LIMITATION, keep_original=True)
            return rounded
        return result

    def timestamptz(self, value: Any) -> Any:
        parsed = super().timestamptz(value)
        try:
            return parsed.astimezone(_UTC).replace(tzinfo=None)
        except (OverflowError, ValueError):
            raise CastFailed() from None

    def timetz(self, value: Any) -> Any:
        parsed = super().timetz(value)
        offset = parsed.utcoffset() or dt.timedelta()
        moment = dt.datetime.combine(dt.date(2000, 1, 1), parsed.replace(tzinfo=None))
        return (moment - offset).time()

    def json(self, value: Any) -> Any:
        data = dumps_json(value)
        if too_deep(data, self.json_nesting):
            raise CastFailed(SERIALIZATION_ERROR)
        return data.decode("utf-8")

    def json_cell(self, data: bytes) -> Any:
        limit = self.json_nesting
        if not too_deep(data, limit):
            return data.decode("utf-8")
        document = decode_json(data)
        if not isinstance(document, dict):
            return data.decode("utf-8")
        changes = document.get("changes")
        if set(document) == {"changes"} and isinstance(changes, list):
            # _airbyte_meta: each change's value, where the original is kept.
            room = limit - _META_LEVELS
            for index, change in enumerate(changes):
                if isinstance(change, dict):
                    if nesting(change.get("value")) > room:
                        change["value"] = _json_text(change["value"])
                elif nesting(change) > room + 1:
                    changes[index] = _json_text(change)
        else:
            # _airbyte_extra: each field that is not in the schema.
            for key, item in document.items():
                if nesting(item) > limit - 1:
                    document[key] = _json_text(item)
        return dumps_json(document).decode("utf-8")


def nesting(value: Any) -> int:
    """How many arrays and objects nest in ``value`` at its deepest (scalar: 0)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        pending.extend((child, level + 1) for child in children)
    return deepest


def _json_text(value: Any) -> str:
    return dumps_json(value).decode("utf-8")


# too_deep(): every bracket as "[" or "]", quotes kept, everything else dropped.
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_SKELETON = bytes(b for b in range(256) if b not in b'[]{}"')


def too_deep(data: bytes, limit: int) -> bool:
    """Whether JSON text nests more than ``limit`` arrays and objects.

    It runs for every JSON cell, so it stays in C (bytes methods, no regex, no
    walk of the decoded value, which cost several times the dump). Text this
    deep has more than ``limit`` brackets opened and as many closed, which rules
    out most documents at once. Otherwise, escaped backslashes and quotes gone,
    the skeleton of brackets and quotes loses its empty strings; the rare string
    that holds brackets is cut out at the quotes. The brackets left then lose
    their innermost pairs once per level, at most ``limit`` times.
    """
    if len(data) <= 2 * limit + 1 or data.count(b"[") + data.count(b"{") <= limit:
        return False
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = data.translate(_BRACKETS, _NOT_SKELETON).replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = b"".join(skeleton.split(b'"')[::2])
    for _ in range(limit):
        skeleton = skeleton.replace(b"[]", b"")
        if not skeleton:
            return False
    return True


class MySQLWriter(ServerWriter):
    """Writes streams into MySQL or MariaDB tables; see the module docstring."""

    backend = "MySQL"
    casts = MySQLCasts()
    type_names: ClassVar[dict[LogicalType, str]] = {
        LogicalType.STRING: "longtext",
        LogicalType.INTEGER: "bigint",
        LogicalType.NUMBER: f"decimal(38,{NUMBER_SCALE})",
        LogicalType.BOOLEAN: "tinyint(1)",
        LogicalType.DATE: "date",
        # MySQL has no time zone types: UTC values, marked by a column comment so
        # a later sync reads the column back as the type it was made for.
        LogicalType.TIMESTAMPTZ: "datetime(6)" + UTC_COMMENT,
        LogicalType.TIMESTAMP: "datetime(6)",
        LogicalType.TIME: "time(6)",
        LogicalType.TIMETZ: "time(6)" + UTC_COMMENT,
        LogicalType.JSON: "json",
    }
    # Column types a table made elsewhere (or by hand) may have, that the casts
    # above still fill correctly.
    type_aliases: ClassVar[dict[str, LogicalType]] = {
        "text": LogicalType.STRING,
        "mediumtext": LogicalType.STRING,
        "int": LogicalType.INTEGER,
        "mediumint": LogicalType.INTEGER,
        "smallint": LogicalType.INTEGER,
        "boolean": LogicalType.BOOLEAN,
        "double": LogicalType.NUMBER,
        "float": LogicalType.NUMBER,
        "datetime": LogicalType.TIMESTAMP,
        "time": LogicalType.TIME,
    }
    airbyte_types: ClassVar[dict[str, str]] = {
        RAW_ID: "char(36) NOT NULL DEFAULT (uuid())",
        EXTRACTED_AT: "datetime(6) NOT NULL",
        META: "json",
        GENERATION_ID: "bigint",
        EXTRA: "json",
    }

    def __init__(self, config: dict[str, Any], *, schema: str, **kwargs: Any) -> None:
        database = str(config.get("database") or "")
        default = (schema or "") in DEFAULT_NAMESPACES and bool(database)
        super().__init__(config, schema=database if default else schema, **kwargs)
        if default:
            # The database keeps its own spelling: it already exists, as named.
            self.schema = database
            for plan in self._plans.values():
                if plan.config.destination_schema is None:
                    plan.schema = database
        self._conn: pymysql.connections.Connection | None = None
        self._warned_null_keys: set[str] = set()
        self._databases: set[str] = set()
        self._row_sql: dict[tuple[str | None, str], Any] = {}
        #: The server's version string, once ``check`` connected.
        self.server_version = ""

    # -- connection ------------------------------------------------------------

    def _connect_params(self) -> dict[str, Any]:
        config = self.config
        tunnel = config.get("tunnel_method")
        if isinstance(tunnel, dict) and tunnel.get("tunnel_method") not in (
            None,
            "NO_TUNNEL",
        ):
            raise DestinationError(
                "SSH tunnels are not supported by the embedded engine's MySQL "
                "writer; connect directly or use the airbyte engine.",
                failure_type="config_error",
            )
        params: dict[str, Any] = {
            "host": config.get("host") or "127.0.0.1",
            "port": int(config.get("port") or 3306),
            "user": config.get("username") or "root",
            "password": config.get("password") or "",
            "database": config.get("database") or None,
            "charset": "utf8mb4",
            "connect_timeout": int(config.get("connect_timeout") or 10),
            "autocommit": False,
            "client_flag": CLIENT.FOUND_ROWS,
            # ANSI_QUOTES: identifiers in double quotes, like the shared SQL. A
            # reader holding a table must not stall a swap or a new column
            # forever (MySQL's default metadata lock wait is a year).
            "init_command": "SET SESSION sql_mode = 'STRICT_TRANS_TABLES,"
            "ANSI_QUOTES,NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO', "
            "time_zone = '+00:00', lock_wait_timeout = 120",
        }
        if config.get("ssl") is True:
            # Airbyte's ssl: encrypt, without verifying the server's certificate.
            params["ssl"] = {"verify_mode": False, "check_hostname": False}
        return params

    def _db_connect(self) -> None:
        if self._conn is not None:
            return
        try:
            self._conn = pymysql.connect(**self._connect_params())
        except pymysql.Error as exc:
            raise DestinationError(
                f"Could not connect to MySQL{self._where()}: {mysql_message(exc)}",
                failure_type=self._failure_type(exc),
            ) from exc
        # The handshake names the server: MariaDB's JSON nests less than MySQL's.
        flavour = str(getattr(self._conn, "server_version", "") or "")
        self.casts = MySQLCasts(
            MARIADB_JSON_NESTING if "mariadb" in flavour.lower() else MYSQL_JSON_NESTING
        )

    def _where(self) -> str:
        host = self.config.get("host") or "127.0.0.1"
        return f" at {host}:{self.config.get('port') or 3306}"

    def _db_execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        found = _CREATE_SCHEMA.match(sql)
        if found:
            self._ensure_database(found.group(1).replace('""', '"'))
            return
        with self.conn.cursor() as cur:
            cur.execute(sql, tuple(params) or None)

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cur:
            cur.execute(sql, tuple(params) or None)
            return list(cur.fetchall())

    def _ensure_database(self, name: str) -> None:
        """Create a database only if it is missing.

        MySQL checks the CREATE privilege before ``IF NOT EXISTS``: a user who may
        only write into an existing database would be refused otherwise.
        """
        if name in self._databases:
            return
        exists = self._fetch(
            "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s",
            (name,),
        )
        if not exists:
            try:
                self._db_execute(
                    f"CREATE DATABASE IF NOT EXISTS {quote(name)} "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
                )
            except pymysql.Error as exc:
                raise DestinationError(
                    f"MySQL{self._where()} refused to create the database {name!r} "
                    f"for this connection's namespace: {mysql_message(exc)}. Create "
                    "it, or set the connection's namespace to an existing database.",
                    failure_type=self._failure_type(exc),
                ) from exc
        self._databases.add(name)

    def _failure_type(self, exc: Exception) -> str:
        code = _error_code(exc)
        if code in _CONFIG_ERRORS or code in _DATA_ERRORS:
            return "config_error"
        if code in _TRANSIENT_ERRORS or isinstance(exc, pymysql.OperationalError):
            return "transient_error"
        return "system_error"

    def _wrap(self, exc: Exception, doing: str) -> DestinationError:
        """The server's own words (not PyMySQL's tuple); a refused value names its
        column and what to do, and is not retried (see ``_DATA_ERRORS``)."""
        message = f"{self.backend} failed while {doing}: {mysql_message(exc)}"
        if _error_code(exc) in _DATA_ERRORS:
            column = _refused_column(mysql_message(exc))
            what = f"column {column!r}" if column else "a column"
            message += (
                f". The table refuses a value of {what}; make the column accept "
                "it (the type the console makes for it, nullable), or reset the "
                "stream so the table is made again."
            )
        return DestinationError(message, failure_type=self._failure_type(exc))

    # -- catalog -----------------------------------------------------------------

    def _db_columns(self, schema: str, table: str) -> dict[str, str] | None:
        kind = self._fetch(
            "SELECT table_type FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name = %s",
            (schema, table),
        )
        if not kind:
            return None
        if kind[0][0] != "BASE TABLE":
            raise DestinationError(
                f"{schema}.{table} exists but is not a plain table; rename it or "
                "choose another prefix.",
                failure_type="config_error",
            )
        rows = self._fetch(
            "SELECT column_name, column_type, data_type, column_comment "
            "FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        )
        # MariaDB's JSON is LONGTEXT with a json_valid() check on the column.
        json_columns = (
            {
                name
                for (name,) in self._fetch(
                    "SELECT constraint_name FROM information_schema.check_constraints "
                    "WHERE constraint_schema = %s AND table_name = %s "
                    "AND check_clause LIKE 'json_valid(%%'",
                    (schema, table),
                )
            }
            if self._has_check_constraints()
            else set()
        )
        columns = {}
        for name, column_type, data_type, comment in rows:
            spelled = _DISPLAY_WIDTH.sub(r"\1", str(column_type).lower())
            if data_type == "json" or name in json_columns:
                spelled = "json"
            elif str(comment).lower() == "utc":
                spelled += UTC_COMMENT
            columns[name] = spelled
        return columns

    def _has_check_constraints(self) -> bool:
        if not hasattr(self, "_check_constraints"):
            found = self._fetch(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = "
                "'information_schema' AND table_name = 'CHECK_CONSTRAINTS'"
            )
            self._check_constraints = bool(found)
        return self._check_constraints

    def _create_table(self, schema: str, table: str, columns: Sequence[Any]) -> None:
        parts = self._airbyte_column_sql() + [self._column_sql(c) for c in columns]
        self._db_execute(
            f"CREATE TABLE IF NOT EXISTS {self._ref(schema, table)} "
            f"({', '.join(parts)}) {TABLE_OPTIONS}"
        )

    # -- states --------------------------------------------------------------

    def _state_ref(self) -> str:
        return self._ref(self.schema, STATE_TABLE)

    def _db_create_state_table(self) -> None:
        """The state table; its stream names are bytes (``varbinary``).

        A PAD SPACE collation would make streams ``users`` and ``users `` one
        key, so one stream's state would overwrite the other's; bytes compare
        exactly on every server. A table an earlier version made with ``varchar``
        names is converted once (the bytes stay the same).
        """
        self._ensure_database(self.schema)
        self._db_execute(
            f"CREATE TABLE IF NOT EXISTS {self._state_ref()} ("
            "connection_id varchar(64) NOT NULL, kind varchar(16) NOT NULL, "
            f"stream_namespace {_STATE_NAME_TYPE}, stream_name {_STATE_NAME_TYPE}, "
            "state longtext NOT NULL, "
            "updated_at datetime(6) NOT NULL DEFAULT current_timestamp(6), "
            "PRIMARY KEY (connection_id, kind, stream_namespace, stream_name)) "
            f"{TABLE_OPTIONS}"
        )
        kinds = self._fetch(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = %s "
            "AND table_name = %s AND column_name = 'stream_name'",
            (self.schema, STATE_TABLE),
        )
        if kinds and str(kinds[0][0]).lower() != "varbinary":
            self._db_execute(
                f"ALTER TABLE {self._state_ref()} "
                f"MODIFY stream_namespace {_STATE_NAME_TYPE}, "
                f"MODIFY stream_name {_STATE_NAME_TYPE}"
            )

    def _db_read_states(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        exists = self._fetch(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
            "AND table_name = %s",
            (self.schema, STATE_TABLE),
        )
        if not exists:
            return []
        rows = self._fetch(
            f"SELECT kind, stream_namespace, stream_name, state FROM "
            f"{self._state_ref()} WHERE connection_id = %s "
            "ORDER BY kind, stream_namespace, stream_name",
            (self.connection_id,),
        )
        return [
            (k, _name_text(ns), _name_text(name), orjson.loads(state))
            for k, ns, name, state in rows
        ]

    def _db_write_states(self, rows: list[tuple[str, str, str, str]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO {self._state_ref()} (connection_id, kind, "
                "stream_namespace, stream_name, state, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, current_timestamp(6)) "
                "ON DUPLICATE KEY UPDATE state = VALUES(state), "
                "updated_at = VALUES(updated_at)",
                [
                    (self.connection_id, kind, ns, name, state)
                    for kind, ns, name, state in rows
                ],
            )

    # -- loading ---------------------------------------------------------------

    def _prepare_stream(self, plan: StreamPlan) -> None:
        super()._prepare_stream(plan)
        self._limit_narrow_columns(plan)
        columns = ", ".join(quote(c) for c in plan.load_columns)
        if plan.mode == "append_dedup":
            into = quote(plan.batch_table)
        else:
            into = self._ref(plan.schema, plan.target)
        plan.sql["insert"] = f"INSERT INTO {into} ({columns}) VALUES "
        kinds = [c.type for c in plan.columns]
        tail = [LogicalType.TIMESTAMP, LogicalType.JSON, LogicalType.INTEGER]
        tail += [LogicalType.JSON, LogicalType.INTEGER]  # _airbyte_extra, _ab_seq
        kinds += tail[: len(plan.load_columns) - len(kinds)]
        self._row_sql[plan.config.key] = row_formatter(kinds, self.conn.literal)

    def _limit_narrow_columns(self, plan: StreamPlan) -> None:
        """Keep values out of a hand-made table's narrower columns that they
        cannot hold (``int``, ``smallint``, ``mediumint``, ``text``,
        ``mediumtext``): NULL and DESTINATION_FIELD_SIZE_LIMITATION in the meta,
        with the original, like any value that does not fit its column.

        The session is STRICT, so such a value would otherwise fail the whole
        batch, and every retry with it. Only streams with such a column pay for
        the check (one comparison per cell of those columns).
        """
        actual = self._db_columns(plan.schema, plan.target) or {}
        limits: list[tuple[int, str, str, Any]] = []
        for index, column in enumerate(plan.columns):
            spelled = actual.get(column.name, "")
            if spelled in _INTEGER_RANGES and column.type == LogicalType.INTEGER:
                low, high = _INTEGER_RANGES[spelled]
                limits.append((index, column.field, spelled, _int_fits(low, high)))
            elif spelled in _TEXT_BYTES and column.type == LogicalType.STRING:
                limit = _TEXT_BYTES[spelled]
                limits.append((index, column.field, spelled, _text_fits(limit)))
        if limits:
            plan.encode = self._limited_encoder(plan, plan.encode, limits)

    def _limited_encoder(
        self, plan: StreamPlan, encode: Any, limits: list[tuple[int, str, str, Any]]
    ) -> Any:
        warned: set[str] = set()
        name = plan.config.name

        def limited(data: Any, ts: Any, seq: int, changes: Any) -> tuple[Any, ...]:
            row = encode(data, ts, seq, None if changes is None else list(changes))
            refused = [
                (field, spelled)
                for index, field, spelled, fits in limits
                if row[index] is not None and not fits(row[index])
            ]
            if not refused:
                return row
            # Encoded again with those fields NULL, their originals in the meta
            # ahead of any change the casts record.
            data = dict(data)
            noted = list(changes or ())
            for field, spelled in refused:
                noted.append(
                    {
                        "field": field,
                        "change": NULLED,
                        "reason": FIELD_SIZE_LIMITATION,
                        "value": data[field],
                    }
                )
                data[field] = None
                if field not in warned:
                    warned.add(field)
                    self.log(
                        "WARN",
                        f"Stream {name!r}: a value of {field!r} does not fit the "
                        f"column's type ({spelled}); it is stored as NULL and kept "
                        "in _airbyte_meta. Widen the column to keep such values.",
                    )
            return encode(data, ts, seq, noted)

        return limited

    def _db_load(self, plan: StreamPlan, rows: list[tuple[Any, ...]]) -> None:
        prefix = plan.sql["insert"]
        row_sql = self._row_sql[plan.config.key]
        with self.conn.cursor() as cur:
            # Multi-row statements of up to STATEMENT_BYTES; the rows' SQL is built
            # here, per column type, at about three times PyMySQL's generic pace.
            values: list[str] = []
            size = 0
            for row in rows:
                text = row_sql(row)
                if size + len(text) > STATEMENT_BYTES and values:
                    cur.execute(prefix + ",".join(values))
                    values, size = [], 0
                values.append(text)
                size += len(text) + 1
            if values:
                cur.execute(prefix + ",".join(values))
            if plan.mode != "append_dedup":
                return
            for step in ("winners", "replace", "lost", "merge"):
                cur.execute(plan.sql[step])
            inserted = cur.execute(plan.sql["null_keys"])
            if inserted and plan.table not in self._warned_null_keys:
                self._warned_null_keys.add(plan.table)
                self.log(
                    "WARN",
                    f"Stream {plan.config.name!r}: records with a NULL primary "
                    "key are kept but cannot be deduplicated.",
                )
            # DELETE, not TRUNCATE: TRUNCATE would commit the open batch.
            cur.execute(f"DELETE FROM {quote(plan.batch_table)}")
            cur.execute(f"DELETE FROM {quote(plan.batch_table + '_w')}")

    def _db_json_path(self, column_sql: str, path: list[str], *, text: bool) -> str:
        json_path = "$" + "".join(
            '."' + part.replace("\\", "\\\\").replace('"', '\\"') + '"' for part in path
        )
        extract = f"JSON_EXTRACT({column_sql}, {_string(json_path)})"
        return f"JSON_UNQUOTE({extract})" if text else extract

    def _latest(self, plan: StreamPlan, alias: str, *, tiebreak: str) -> str:
        """ORDER BY items putting the winning row first (MySQL has no NULLS LAST)."""
        cursor = self._cursor_sql(plan, alias)
        tie = f"{alias}.{tiebreak}" if alias else tiebreak
        if cursor is None:
            return f"{tie} DESC"
        return f"{cursor} IS NULL, {cursor} DESC, {tie} DESC"

    def _db_prepare_dedup(self, plan: StreamPlan) -> None:
        target = self._ref(plan.schema, plan.table)
        keys = self._keys_sql(plan)
        self._index_keys(plan, target)
        types = {c.name: self.type_names[c.type] for c in plan.columns}
        types.update(
            {
                EXTRACTED_AT: "datetime(6)",
                META: "longtext",
                GENERATION_ID: "bigint",
                EXTRA: "longtext",
                SEQUENCE: "bigint",
            }
        )
        batch, winners = quote(plan.batch_table), quote(plan.batch_table + "_w")
        column_sql = ", ".join(
            f"{quote(n)} {types[n].replace(UTC_COMMENT, '')}" for n in plan.load_columns
        )
        for name in (batch, winners):
            self._db_execute(f"DROP TEMPORARY TABLE IF EXISTS {name}")
            self._db_execute(
                f"CREATE TEMPORARY TABLE {name} ("
                f"{quote(RAW_ID)} char(36) NOT NULL DEFAULT (uuid()), {column_sql}) "
                f"{TABLE_OPTIONS}"
            )
        stored = [RAW_ID] + [c for c in plan.load_columns if c != SEQUENCE]
        listed = ", ".join(quote(c) for c in stored)
        everything = ", ".join(quote(c) for c in [RAW_ID, *plan.load_columns])
        not_null = " AND ".join(f"{k} IS NOT NULL" for k in keys)
        any_null = " OR ".join(f"{k} IS NULL" for k in keys)
        batch_keys = ", ".join(self._exact_keys_sql(plan, "b"))
        joined = self._keys_match(plan, "t", "w")
        # Each statement names a temporary table once: MySQL cannot reopen one.
        plan.sql["winners"] = (
            f"INSERT INTO {winners} ({everything}) SELECT {everything} FROM ("
            f"SELECT b.*, ROW_NUMBER() OVER (PARTITION BY {batch_keys} ORDER BY "
            f"{self._latest(plan, 'b', tiebreak=quote(SEQUENCE))}) AS _ab_rn "
            f"FROM {batch} b WHERE {not_null}) ranked WHERE _ab_rn = 1"
        )
        replace = f"DELETE t FROM {target} t JOIN {winners} w ON {joined}"
        cursor_t, cursor_w = self._cursor_sql(plan, "t"), self._cursor_sql(plan, "w")
        if cursor_t:
            replace += f" WHERE {cursor_t} IS NULL OR {cursor_w} >= {cursor_t}"
        plan.sql["replace"] = replace
        # What is left in the table under a winner's key has a greater cursor.
        plan.sql["lost"] = f"DELETE w FROM {winners} w JOIN {target} t ON {joined}"
        plan.sql["merge"] = (
            f"INSERT INTO {target} ({listed}) SELECT {listed} FROM {winners}"
        )
        plan.sql["null_keys"] = (
            f"INSERT INTO {target} ({listed}) SELECT {listed} FROM {batch} "
            f"WHERE {any_null}"
        )

    def _exact_keys_sql(self, plan: StreamPlan, alias: str = "") -> list[str]:
        """The key parts as they must compare: text byte for byte.

        utf8mb4_bin, like every collation of MySQL 5.7 and MariaDB's ``_bin``
        ones, is PAD SPACE: ``'a' = 'a '`` is true, so two keys that differ only by
        trailing spaces would be merged into one row. ``CAST(... AS BINARY)``
        compares the bytes on MySQL and MariaDB alike, whatever collation the
        column has (a table made by hand may have a case-insensitive one), where
        a NO PAD collation would differ by server (``utf8mb4_nopad_bin``,
        ``utf8mb4_0900_bin``, none in MySQL 5.7) and leave older tables as they
        are. Numbers, dates and times already compare exactly.
        """
        return [
            f"CAST({sql} AS BINARY)" if _is_text_key(ref) else sql
            for ref, sql in zip(plan.key_refs, self._keys_sql(plan, alias), strict=True)
        ]

    def _keys_match(self, plan: StreamPlan, left: str, right: str) -> str:
        """``left``'s key equals ``right``'s, exactly (see ``_exact_keys_sql``).

        The plain equality stays in front of the byte comparison: it is the one
        the key's index can serve.
        """
        parts = []
        pairs = zip(
            plan.key_refs,
            self._keys_sql(plan, left),
            self._keys_sql(plan, right),
            strict=True,
        )
        for ref, one, other in pairs:
            parts.append(f"{one} = {other}")
            if _is_text_key(ref):
                parts.append(f"CAST({one} AS BINARY) = CAST({other} AS BINARY)")
        return " AND ".join(parts)

    def _index_keys(self, plan: StreamPlan, target: str) -> None:
        """Index the primary key; on its first creation, drop older duplicates."""
        keys = self._keys_sql(plan)
        index = "_ab_pk_" + short_hash(f"{plan.schema}.{plan.table}|{keys}", 16)
        present = {
            name
            for (name,) in self._fetch(
                "SELECT DISTINCT index_name FROM information_schema.statistics "
                "WHERE table_schema = %s AND table_name = %s AND index_name LIKE %s",
                (plan.schema, plan.table, "\\_ab\\_pk\\_%"),
            )
        }
        if index in present:
            return
        for name in present:
            self._db_execute(f"DROP INDEX {quote(name)} ON {target}")
        self._dedupe_existing(plan, target, keys)
        parts = []
        for ref in plan.key_refs:
            if ref.subpath:
                continue  # a path inside a JSON column cannot be indexed directly
            prefix = (
                f"({TEXT_KEY_PREFIX})"
                if ref.column.type in (LogicalType.STRING, LogicalType.JSON)
                else ""
            )
            parts.append(f"{quote(ref.column.name)}{prefix}")
        if parts:
            self._db_execute(
                f"CREATE INDEX {quote(index)} ON {target} ({', '.join(parts)})"
            )

    def _dedupe_existing(self, plan: StreamPlan, target: str, keys: list[str]) -> None:
        """Remove duplicate keys an earlier mode left, keeping the latest row."""
        losers = quote(f"_ab_losers_{short_hash(plan.table, 8)}")
        self._db_execute(f"DROP TEMPORARY TABLE IF EXISTS {losers}")
        self._db_execute(
            f"CREATE TEMPORARY TABLE {losers} ENGINE=InnoDB AS SELECT raw_id FROM ("
            f"SELECT {quote(RAW_ID)} AS raw_id, ROW_NUMBER() OVER (PARTITION BY "
            f"{', '.join(self._exact_keys_sql(plan))} ORDER BY "
            f"{self._latest(plan, '', tiebreak=quote(EXTRACTED_AT))}) AS rn "
            f"FROM {target} WHERE {' AND '.join(f'{k} IS NOT NULL' for k in keys)}"
            ") ranked WHERE rn > 1"
        )
        with self.conn.cursor() as cur:
            removed = cur.execute(
                f"DELETE t FROM {target} t JOIN {losers} d "
                f"ON t.{quote(RAW_ID)} = d.raw_id"
            )
        self._db_execute(f"DROP TEMPORARY TABLE {losers}")
        if removed:
            self.log(
                "INFO",
                f"Stream {plan.config.name!r}: removed {removed} older duplicate "
                f"row(s) of the primary key from {plan.schema}.{plan.table} before "
                "deduplicating.",
            )

    def _db_swap(self, plan: StreamPlan) -> None:
        staging = self._ref(plan.schema, plan.staging)
        target = self._ref(plan.schema, plan.table)
        # The rows flushed so far belong to this swap: commit them before the DDL
        # (which would commit them implicitly anyway).
        self._db_commit()
        if self._db_columns(plan.schema, plan.table) is None:
            self._db_execute(f"RENAME TABLE {staging} TO {target}")
            return
        old = self._ref(plan.schema, fit_identifier(f"_airbyte_old_{plan.table}"))
        self._db_execute(f"DROP TABLE IF EXISTS {old}")
        # One statement: readers see the old table or the new one, never neither.
        self._db_execute(f"RENAME TABLE {target} TO {old}, {staging} TO {target}")
        self._db_execute(f"DROP TABLE {old}")

    def _db_check(self) -> None:
        self._ensure_database(self.schema)
        ref = self._ref(self.schema, f"_airbyte_check_{os.urandom(4).hex()}")
        try:
            self._db_execute(
                f"CREATE TABLE {ref} (id bigint, note text) {TABLE_OPTIONS}"
            )
            self._db_execute(f"INSERT INTO {ref} VALUES (1, 'ok')")
            self._db_execute(f"DROP TABLE {ref}")
            self._db_commit()
            self.server_version = str(self._fetch("SELECT version()")[0][0])
        except pymysql.Error as exc:
            raise DestinationError(
                f"MySQL{self._where()} refused to create a table in database "
                f"{self.schema!r}: {mysql_message(exc)}",
                failure_type=self._failure_type(exc),
            ) from exc


# MariaDB spells bigint "bigint(20)"; the width means nothing (tinyint(1) is kept).
_DISPLAY_WIDTH = re.compile(r"^(bigint|int|mediumint|smallint)\(\d+\)")
# A statement stays well under max_allowed_packet (16 MB by default in MariaDB).
STATEMENT_BYTES = 4 * 1024 * 1024
_ESCAPES = str.maketrans(
    {
        "\x00": "\\0",
        "\n": "\\n",
        "\r": "\\r",
        "\x1a": "\\Z",
        "'": "\\'",
        '"': '\\"',
        "\\": "\\\\",
    }
)


def _text(value: Any) -> str:
    return "'" + value.translate(_ESCAPES) + "'"


def row_formatter(kinds: Sequence[LogicalType], fallback: Any) -> Any:
    """``row -> "(v1,v2,...)"``: the SQL literals of one encoded row.

    The casts already gave each cell its column's Python type, so each column gets
    the one conversion it needs; anything else goes through PyMySQL's ``literal``.
    """
    last: list[Any] = [None, ""]

    def moment(value: Any) -> str:
        # _airbyte_extracted_at repeats from row to row: format it once.
        if value is last[0]:
            return last[1]
        if type(value) is not dt.datetime:
            return fallback(value)
        naive = value.replace(tzinfo=None) if value.tzinfo is not None else value
        text = "'" + naive.isoformat(" ") + "'"
        last[0], last[1] = value, text
        return text

    def number(value: Any) -> str:
        if type(value) is int:
            return str(value)
        if isinstance(value, Decimal):
            return format(value, "f")
        return fallback(value)

    def text(value: Any) -> str:
        return _text(value) if type(value) is str else fallback(value)

    def boolean(value: Any) -> str:
        return "1" if value is True else "0" if value is False else fallback(value)

    def isoformat(value: Any) -> str:
        if isinstance(value, dt.date | dt.time):
            return "'" + value.isoformat() + "'"
        return fallback(value)

    by_kind = {
        LogicalType.STRING: text,
        LogicalType.JSON: text,
        LogicalType.INTEGER: number,
        LogicalType.NUMBER: number,
        LogicalType.BOOLEAN: boolean,
        LogicalType.DATE: isoformat,
        LogicalType.TIMESTAMPTZ: moment,
        LogicalType.TIMESTAMP: moment,
        LogicalType.TIME: isoformat,
        LogicalType.TIMETZ: isoformat,
    }
    # One straight-line function per stream, like typing.build_encoder: it runs
    # once per row, and a loop over the columns costs about twice as much.
    namespace: dict[str, Any] = {"E": _ESCAPES}
    cells = []
    for index, kind in enumerate(kinds):
        convert = f"f{index}"
        namespace[convert] = by_kind[kind]
        cell = f"c{index}"
        if kind in (LogicalType.STRING, LogicalType.JSON):
            fast = f'"\'" + {cell}.translate(E) + "\'" if type({cell}) is str'
        elif kind == LogicalType.INTEGER:
            fast = f"str({cell}) if type({cell}) is int"
        else:
            fast = ""
        slow = f"{convert}({cell})"
        value = f"{fast} else {slow}" if fast else slow
        cells.append(f"        'NULL' if {cell} is None else {value},")
    names = ", ".join(f"c{index}" for index in range(len(kinds)))
    source = "\n".join(
        [
            "def row_sql(row):",
            f"    {names}, = row",
            "    return '(' + ','.join((",
            *cells,
            "    )) + ')'",
        ]
    )
    exec(compile(source, "<writers.mysql.row_sql>", "exec"), namespace)  # noqa: S102
    return namespace["row_sql"]


_CREATE_SCHEMA = re.compile(r'^CREATE SCHEMA IF NOT EXISTS "((?:[^"]|"")*)"$')


def _string(text: str) -> str:
    """A MySQL string literal (backslashes escape in MySQL's default mode)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _int_fits(low: int, high: int) -> Any:
    return lambda value: low <= value <= high


def _text_fits(limit: int) -> Any:
    # Up to 4 bytes a character: a short text fits without being encoded.
    short = limit // 4

    def fits(value: Any) -> bool:
        if not isinstance(value, str) or len(value) <= short:
            return True
        return len(value.encode("utf-8", "surrogatepass")) <= limit

    return fits


# 255 characters of utf8mb4, as the varchar these replaced.
_STATE_NAME_TYPE = "varbinary(1020) NOT NULL DEFAULT ''"


def _name_text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | bytearray) else value


def _is_text_key(ref: FieldRef) -> bool:
    """A key part that compares as text: a string column or a path into JSON."""
    return bool(ref.subpath) or ref.column.type == LogicalType.STRING


_REFUSED_COLUMN = re.compile(
    r"column '([^']+)'|CONSTRAINT `(?:[^`]*\.)?([^`]+)`", re.IGNORECASE
)


def _refused_column(message: str) -> str:
    """The column a MySQL / MariaDB data error names, or ''."""
    found = _REFUSED_COLUMN.search(message)
    return (found.group(1) or found.group(2)) if found else ""


def _error_code(exc: Exception) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def mysql_message(exc: Exception) -> str:
    """The server's message without PyMySQL's ``(code, "...")`` tuple around it."""
    args = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[1], str):
        text = args[1]
    else:
        text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__
