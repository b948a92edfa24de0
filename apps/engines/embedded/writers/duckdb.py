"""The DuckDB destination writer: the Python appender, in batches.

Loading: DuckDB 2.0's ``Connection.appender`` buffers Python rows and inserts each
batch with one statement. Options measured on faker-like users (20 columns, 200 k
rows, this 2-core machine, load step only, values prepared in Python):

    appender (append_rows per 10 k batch)          ~84 k rows/s
    NDJSON temp file + read_ndjson + TRY_CAST SQL  ~93 k rows/s
    NDJSON of the already-cast rows + read_json    ~64 k rows/s
    CSV temp file + read_csv                       ~26 k rows/s
    executemany                                    ~0.5 k rows/s

The TRY_CAST route is a little faster but casts with DuckDB's rules (which differ
from PostgreSQL's) and loses the original of a value that fails; the appender takes
the cells of the writers' one casting path (``typing.Casts``), so both backends
store and record the same things. It is the one used: the whole writer (casting,
meta, buffering, appender, a commit every 10 k rows) sustains ~50 k rows/s with a
flat ~190 MB peak RSS (``python -m apps.engines.embedded.writers.bench``).

Numbers are DOUBLE: analytics-friendly and exact for every double a source sends.
A value a double cannot hold exactly (a Decimal with more than ~16 significant
digits, an integer beyond 2**53) is stored rounded and recorded in ``_airbyte_meta``
as TRUNCATED with the exact original in ``"value"``. (DECIMAL(38,9) would keep
12345678901234567890.123456789 but silently round 1.5e-12 to 0 and refuse values
beyond 10**29; PostgreSQL's NUMERIC keeps everything.)

A DuckDB file takes one writing process: the writer opens it in ``open`` and closes
it in ``finish``/``abort``; a second writer fails fast with a transient error.

Config (Airbyte's destination-duckdb spec): ``destination_path`` (a file path;
MotherDuck ``md:`` paths are not supported), and optionally ``memory_limit``
(default 64MB: the engine's memory stays flat; 32MB is too little for the dedup
MERGE) and ``threads`` (default 2).
"""

# SQL text here interpolates identifiers only, always through quote(); values travel
# as parameters.
# ruff: noqa: S608
from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import duckdb
import orjson

from apps.engines.embedded.writers.base import (
    EXTRA,
    EXTRACTED_AT,
    GENERATION_ID,
    META,
    RAW_ID,
    SEQUENCE,
    STATE_TABLE,
    BaseWriter,
    DestinationError,
    StreamPlan,
    literal,
    quote,
)
from apps.engines.embedded.writers.typing import (
    DOUBLE_EXACT_INT,
    FIELD_SIZE_LIMITATION,
    INT64_MAX,
    INT64_MIN,
    CastAdjusted,
    CastFailed,
    Casts,
    LogicalType,
    dumps_json,
)


class DuckDBCasts(Casts):
    """Cells for the appender: doubles for numbers, JSON as text."""

    fast_paths: ClassVar[dict[LogicalType, str]] = {
        LogicalType.STRING: "type(v) is str and v.isascii()",
        LogicalType.INTEGER: f"type(v) is int and {INT64_MIN} <= v <= {INT64_MAX}",
        LogicalType.NUMBER: (
            "type(v) is float or "
            f"(type(v) is int and {-DOUBLE_EXACT_INT} <= v <= {DOUBLE_EXACT_INT})"
        ),
        LogicalType.BOOLEAN: "v is True or v is False",
    }

    def number(self, value: Any) -> Any:
        if isinstance(value, float):
            return value
        exact = super().number(value)
        try:
            result = float(exact)
        except OverflowError:
            raise CastFailed(FIELD_SIZE_LIMITATION) from None
        if isinstance(exact, Decimal) and exact.is_nan():
            return result
        if isinstance(exact, int):
            same = abs(exact) <= DOUBLE_EXACT_INT or int(result) == exact
        else:
            same = Decimal(repr(result)) == exact
        if result in (float("inf"), float("-inf")) and not (
            isinstance(exact, Decimal) and exact.is_infinite()
        ):
            raise CastFailed(FIELD_SIZE_LIMITATION)
        if not same:
            raise CastAdjusted(result, FIELD_SIZE_LIMITATION, keep_original=True)
        return result

    def json(self, value: Any) -> Any:
        return dumps_json(value).decode("utf-8")


class DuckDBWriter(BaseWriter):
    """Writes streams into a DuckDB file; see the module docstring."""

    backend = "DuckDB"
    casts = DuckDBCasts()
    type_names: ClassVar[dict[LogicalType, str]] = {
        LogicalType.STRING: "VARCHAR",
        LogicalType.INTEGER: "BIGINT",
        LogicalType.NUMBER: "DOUBLE",
        LogicalType.BOOLEAN: "BOOLEAN",
        LogicalType.DATE: "DATE",
        LogicalType.TIMESTAMPTZ: "TIMESTAMP WITH TIME ZONE",
        LogicalType.TIMESTAMP: "TIMESTAMP",
        LogicalType.TIME: "TIME",
        LogicalType.TIMETZ: "TIME WITH TIME ZONE",
        LogicalType.JSON: "JSON",
    }
    type_aliases: ClassVar[dict[str, LogicalType]] = {
        "timestamptz": LogicalType.TIMESTAMPTZ,
        "text": LogicalType.STRING,
        "string": LogicalType.STRING,
        "int8": LogicalType.INTEGER,
        "long": LogicalType.INTEGER,
        "float8": LogicalType.NUMBER,
        "bool": LogicalType.BOOLEAN,
    }
    airbyte_types: ClassVar[dict[str, str]] = {
        RAW_ID: "UUID DEFAULT uuid()",
        EXTRACTED_AT: "TIMESTAMP WITH TIME ZONE NOT NULL",
        META: "JSON",
        GENERATION_ID: "BIGINT",
        EXTRA: "JSON",
    }

    def __init__(self, config: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._in_tx = False
        self._catalog = ""
        self._warned_null_keys: set[str] = set()

    # -- connection ------------------------------------------------------------

    @property
    def path(self) -> str:
        raw = str(self.config.get("destination_path") or "").strip()
        if not raw:
            raise DestinationError(
                "The DuckDB destination has no destination_path.",
                failure_type="config_error",
            )
        if raw.startswith("md:") or raw.startswith("motherduck:"):
            raise DestinationError(
                "MotherDuck paths are not supported by the embedded engine's DuckDB "
                "writer; use a local file path.",
                failure_type="config_error",
            )
        return raw

    def _db_connect(self) -> None:
        if self._conn is not None:
            return
        path = self.path
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = duckdb.connect(
                path,
                config={
                    "memory_limit": str(self.config.get("memory_limit") or "64MB"),
                    "threads": int(self.config.get("threads") or 2),
                },
            )
            self._run("SET TimeZone = 'UTC'")
            # The file's catalog is named after it; a schema of the same name would
            # make unqualified names ambiguous, so every name is qualified.
            self._catalog = str(self._run("SELECT current_database()")[0][0])
        except (duckdb.Error, OSError) as exc:
            self._conn = None
            raise DestinationError(
                f"Could not open the DuckDB file {path}: {_first_line(exc)}",
                failure_type=self._failure_type(exc),
            ) from exc
        self._in_tx = False

    def _db_close(self) -> None:
        conn, self._conn = self._conn, None
        self._in_tx = False
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        if self._conn is None:
            raise DestinationError("The DuckDB connection is closed.")
        return self._conn

    def _schema_ref(self, schema: str) -> str:
        return f"{quote(self._catalog)}.{quote(schema)}"

    def _batch_ref(self, plan: StreamPlan) -> str:
        return f"temp.main.{quote(plan.batch_table)}"

    def _begin(self) -> None:
        if not self._in_tx:
            self.conn.begin()
            self._in_tx = True

    def _run(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        # DuckDB 2.0 keeps a result open until it is fetched; fetch every one.
        return self.conn.execute(sql.replace("%s", "?"), list(params)).fetchall()

    def _db_execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._begin()
        self._run(sql, params)

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._begin()
        return self._run(sql, params)

    def _db_commit(self) -> None:
        if self._in_tx:
            self.conn.commit()
            self._in_tx = False

    def _db_rollback_quietly(self) -> None:
        if self._conn is not None and self._in_tx:
            with contextlib.suppress(Exception):
                self._conn.rollback()
        self._in_tx = False

    def _failure_type(self, exc: Exception) -> str:
        text = str(exc).lower()
        if "could not set lock" in text or "conflicting lock" in text:
            return "transient_error"
        if isinstance(exc, PermissionError) or "permission denied" in text:
            return "config_error"
        if isinstance(exc, duckdb.IOException | OSError):
            return "transient_error"
        return "system_error"

    # -- catalog -----------------------------------------------------------------

    def _db_columns(self, schema: str, table: str) -> dict[str, str] | None:
        kinds = self._fetch(
            "SELECT table_type FROM information_schema.tables "
            "WHERE table_catalog = current_database() AND table_schema = %s "
            "AND table_name = %s",
            (schema, table),
        )
        if not kinds:
            return None
        if kinds[0][0] != "BASE TABLE":
            raise DestinationError(
                f"{schema}.{table} exists but is not a table; rename it or choose "
                "another prefix.",
                failure_type="config_error",
            )
        rows = self._fetch(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = %s "
            "AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        )
        return {name: type_name for name, type_name in rows}

    def _db_add_column(self, ref: str, name: str, sql_type: str) -> None:
        if name == RAW_ID:
            # DuckDB refuses a volatile default in ADD COLUMN: add it, then fill it.
            self._db_execute(f"ALTER TABLE {ref} ADD COLUMN {quote(name)} UUID")
            self._db_execute(f"UPDATE {ref} SET {quote(name)} = uuid()")
            self._db_execute(
                f"ALTER TABLE {ref} ALTER COLUMN {quote(name)} SET DEFAULT uuid()"
            )
            return
        super()._db_add_column(ref, name, sql_type)

    def _db_staging_generation(self, plan: StreamPlan) -> int | None:
        rows = self._fetch(
            f"SELECT {quote(GENERATION_ID)} FROM "
            f"{self._ref(plan.schema, plan.staging)} LIMIT 1"
        )
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    # -- states --------------------------------------------------------------

    def _state_ref(self) -> str:
        return self._ref(self.schema, STATE_TABLE)

    def _db_create_state_table(self) -> None:
        self._db_execute(f"CREATE SCHEMA IF NOT EXISTS {self._schema_ref(self.schema)}")
        # No PRIMARY KEY: DuckDB's ART indexes make a delete-then-insert of the same
        # key in one transaction fail; the writer is the table's only writer anyway.
        self._db_execute(
            f"CREATE TABLE IF NOT EXISTS {self._state_ref()} ("
            "connection_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, "
            "stream_namespace VARCHAR NOT NULL DEFAULT '', "
            "stream_name VARCHAR NOT NULL DEFAULT '', state JSON NOT NULL, "
            "updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now())"
        )

    def _db_read_states(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        if self._db_columns(self.schema, STATE_TABLE) is None:
            return []
        rows = self._fetch(
            f"SELECT kind, stream_namespace, stream_name, state FROM "
            f"{self._state_ref()} WHERE connection_id = %s "
            "ORDER BY kind, stream_namespace, stream_name",
            (self.connection_id,),
        )
        return [(k, ns, name, orjson.loads(state)) for k, ns, name, state in rows]

    def _db_write_states(self, rows: list[tuple[str, str, str, str]]) -> None:
        for kind, namespace, name, state in rows:
            self._db_execute(
                f"DELETE FROM {self._state_ref()} WHERE connection_id = %s "
                "AND kind = %s AND stream_namespace = %s AND stream_name = %s",
                (self.connection_id, kind, namespace, name),
            )
            self._db_execute(
                f"INSERT INTO {self._state_ref()} (connection_id, kind, "
                "stream_namespace, stream_name, state, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, now())",
                (self.connection_id, kind, namespace, name, state),
            )

    # -- loading ---------------------------------------------------------------

    def _db_load(self, plan: StreamPlan, rows: list[tuple[Any, ...]]) -> None:
        self._begin()
        conn = self.conn
        if plan.mode == "append_dedup":
            appender = conn.appender(self._batch_ref(plan), columns=plan.load_columns)
        else:
            appender = conn.appender(
                self._ref(plan.schema, plan.target), columns=plan.load_columns
            )
        appender.append_rows(rows)
        appender.flush()
        if plan.mode == "append_dedup":
            if plan.table not in self._warned_null_keys:
                self._warn_null_keys(plan)
            self._run(plan.sql["merge"])
            self._run(f"DELETE FROM {self._batch_ref(plan)}")

    def _warn_null_keys(self, plan: StreamPlan) -> None:
        any_null = " OR ".join(f"{k} IS NULL" for k in self._keys_sql(plan))
        found = self._run(
            f"SELECT 1 FROM {self._batch_ref(plan)} WHERE {any_null} LIMIT 1"
        )
        if found:
            self._warned_null_keys.add(plan.table)
            self.log(
                "WARN",
                f"Stream {plan.config.name!r}: records with a NULL primary key are "
                "kept but cannot be deduplicated.",
            )

    def _db_json_path(self, column_sql: str, path: list[str], *, text: bool) -> str:
        pointer = "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in path)
        function = "json_extract_string" if text else "json_extract"
        return f"{function}({column_sql}, {literal(pointer)})"

    def _db_prepare_dedup(self, plan: StreamPlan) -> None:
        target = self._ref(plan.schema, plan.table)
        keys = self._keys_sql(plan)
        self._dedupe_existing(plan, target, keys)
        types = {c.name: self.type_names[c.type] for c in plan.columns}
        types.update(
            {
                EXTRACTED_AT: "TIMESTAMP WITH TIME ZONE",
                META: "JSON",
                GENERATION_ID: "BIGINT",
                EXTRA: "JSON",
                SEQUENCE: "BIGINT",
            }
        )
        batch = self._batch_ref(plan)
        column_sql = ", ".join(f"{quote(n)} {types[n]}" for n in plan.load_columns)
        self._db_execute(
            f"CREATE OR REPLACE TEMPORARY TABLE {batch} ("
            f"{quote(RAW_ID)} UUID DEFAULT uuid(), {column_sql})"
        )
        stored = [RAW_ID] + [c for c in plan.load_columns if c != SEQUENCE]
        listed = ", ".join(quote(c) for c in stored)
        any_null = " OR ".join(f"{k} IS NULL" for k in keys)
        matches = " AND ".join(
            f"{t} = {s}"
            for t, s in zip(
                self._keys_sql(plan, "t"), self._keys_sql(plan, "s"), strict=True
            )
        )
        updates = ", ".join(f"{quote(c)} = s.{quote(c)}" for c in stored)
        matched = "WHEN MATCHED"
        cursor_t = self._cursor_sql(plan, "t")
        if cursor_t:
            cursor_s = self._cursor_sql(plan, "s")
            matched += f" AND ({cursor_t} IS NULL OR {cursor_s} >= {cursor_t})"
        plan.sql["merge"] = (
            f"MERGE INTO {target} AS t USING (SELECT * FROM {batch} "
            f"QUALIFY ({any_null}) OR row_number() OVER (PARTITION BY "
            f"{', '.join(keys)} ORDER BY "
            f"{self._latest_first(plan, tiebreak=quote(SEQUENCE))}) = 1) AS s "
            f"ON ({matches}) {matched} THEN UPDATE SET {updates} "
            f"WHEN NOT MATCHED THEN INSERT ({listed}) "
            f"VALUES ({', '.join(f's.{quote(c)}' for c in stored)})"
        )

    def _dedupe_existing(self, plan: StreamPlan, target: str, keys: list[str]) -> None:
        """Remove duplicate keys an earlier mode left (DuckDB has no unique index)."""
        not_null = " AND ".join(f"{k} IS NOT NULL" for k in keys)
        duplicated = self._fetch(
            f"SELECT 1 FROM {target} WHERE {not_null} GROUP BY {', '.join(keys)} "
            "HAVING count(*) > 1 LIMIT 1"
        )
        if not duplicated:
            return
        removed = self._fetch(
            f"DELETE FROM {target} WHERE rowid IN (SELECT row_id FROM (SELECT "
            f"rowid AS row_id, row_number() OVER (PARTITION BY {', '.join(keys)} "
            f"ORDER BY {self._latest_first(plan, tiebreak=quote(EXTRACTED_AT))}) "
            f"AS rn FROM {target} WHERE {not_null}) WHERE rn > 1)"
        )
        count = removed[0][0] if removed else 0
        self.log(
            "INFO",
            f"Stream {plan.config.name!r}: removed {count} older duplicate row(s) "
            f"of the primary key from {plan.schema}.{plan.table} before "
            "deduplicating.",
        )

    def _db_check(self) -> None:
        table = f"_airbyte_check_{os.urandom(4).hex()}"
        ref = self._ref(self.schema, table)
        try:
            self._db_execute(
                f"CREATE SCHEMA IF NOT EXISTS {self._schema_ref(self.schema)}"
            )
            self._db_execute(f"CREATE TABLE {ref} (id BIGINT, note VARCHAR)")
            self._db_execute(f"INSERT INTO {ref} VALUES (1, 'ok')")
            self._db_execute(f"DROP TABLE {ref}")
            self._db_commit()
        except duckdb.Error as exc:
            raise DestinationError(
                f"DuckDB refused to create a table in {self.path}: {_first_line(exc)}",
                failure_type=self._failure_type(exc),
            ) from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
