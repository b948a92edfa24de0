"""The DuckDB destination writer: batches as JSON columns, loaded on DuckDB's side.

Loading: each batch is cast in Python by the writers' one casting path
(``typing.Casts``, so both backends store and record the same things), then
written as one JSON array per column (orjson, in C) and inserted with one
``INSERT ... SELECT unnest(from_json(?, '["T"]')), ...`` per 2,048 rows. DuckDB
parses and inserts without the GIL, on a loader thread, while the read loop
decodes and casts the next batch: the same split PostgreSQL's server process
gives its writer. ``_airbyte_meta``, the generation and ``_airbyte_extra``, one
value through most chunks, travel as scalars DuckDB repeats on every row. A
batch that JSON cannot carry exactly (a NaN or infinity, a time with a time zone)
goes through DuckDB's row appender instead, which stores the same cells
(``tests/engines/writers/test_duckdb_loader.py`` compares them).

Measured on this project's 2-vCPU machine (busy: load 5 to 10), 300,000
hardcoded-records ``products`` lines replayed through decode + write + a commit
every 12,000 rows, CPU per record of the whole process (DuckDB's threads
included): appender 10.0-10.2 us, JSON columns 9.4 us, with the scalar tail
8.5 us (median of 5; 9.0 before, interleaved); and of that, the time the read
loop itself is blocked in the load falls from ~16 us to ~4 us a row (profiled).
Where the 8.5 us go: decoding the line 1.5, the write and its casts 1.6, the
JSON columns 0.75 (0.3 of it orjson writing aware datetimes), DuckDB ~4 (binding
and planning each 2,048-row INSERT ~1 ms, parsing the JSON, inserting, commits
and checkpoints). Larger INSERTs (4,096 or 10,000 rows: +0.3-0.5 us) and one
struct-typed JSON per chunk measured slower; PREPARE/EXECUTE rebinds every time.
Load step alone, faker-like users (21 columns, CPU): appender 4.2 us/row, JSON
columns 2.5 us/row (+ ~1.5 us of orjson on the read loop).
Other routes measured: pyarrow batches load ~1.6x faster than the appender but
add ~50 MB to every worker that imports pyarrow; read_json over NDJSON of the
cast rows needs a dict per row (~3 us) and was slower; typing the raw lines
with DuckDB's own casts and JSON functions ran at ~25 us/row and would differ
from PostgreSQL's casts.

Numbers are DOUBLE: analytics-friendly and exact for every double a source sends.
A value a double cannot hold exactly (a Decimal with more than ~16 significant
digits, an integer beyond 2**53) is stored rounded and recorded in ``_airbyte_meta``
as TRUNCATED with the exact original in ``"value"``. (DECIMAL(38,9) would keep
12345678901234567890.123456789 but silently round 1.5e-12 to 0 and refuse values
beyond 10**29; PostgreSQL's NUMERIC keeps everything.)

A DuckDB file takes one writing process: the writer opens it in ``open`` and closes
it in ``finish``/``abort``. Opening waits up to ``LOCK_WAIT_SECONDS`` (10 s) for
another process's lock to go, so a data quality check's brief read-only hold does
not fail a sync; a second writer, which holds the file for its whole sync, still
fails the attempt with a transient error once the wait is over.

Config (Airbyte's destination-duckdb spec): ``destination_path`` (a file path;
MotherDuck ``md:`` paths are not supported), and optionally ``memory_limit``
(default 32MB, 64MB when a stream is deduplicated: the engine's memory stays flat;
32MB is too little for the dedup MERGE) and ``threads`` (default 2).
"""

# SQL text here interpolates identifiers only, always through quote(); values travel
# as parameters.
# ruff: noqa: S608
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
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
    DoubleCasts,
    LogicalType,
    dumps_json,
)

# The types of the cells build_encoder appends after the data columns.
_TAIL_TYPES = {
    EXTRACTED_AT: "TIMESTAMP WITH TIME ZONE",
    META: "JSON",
    GENERATION_ID: "BIGINT",
    EXTRA: "JSON",
    SEQUENCE: "BIGINT",
}


@dataclass(frozen=True)
class _ColumnarLoad:
    """A stream's batch INSERT: its columns' types and which of them are doubles.

    ``repeated`` are the columns that usually hold one value through a whole
    batch (``_airbyte_meta`` without changes, the generation, an empty
    ``_airbyte_extra``): a chunk where they do sends that value once, as a scalar
    DuckDB repeats on every row, instead of a JSON array DuckDB parses row by row.
    """

    target: str
    columns: str
    types: tuple[str, ...]
    doubles: frozenset[int]
    repeated: frozenset[int]
    statements: dict[frozenset[int], str] = field(default_factory=dict)

    def sql(self, scalars: frozenset[int]) -> str:
        """The INSERT whose ``scalars`` columns take one value for every row."""
        text = self.statements.get(scalars)
        if text is None:
            cells = ", ".join(
                f"?::{kind}"
                if index in scalars
                else "unnest(from_json(?::VARCHAR, "
                f"{literal(orjson.dumps([kind]).decode())}))"
                for index, kind in enumerate(self.types)
            )
            text = f"INSERT INTO {self.target} ({self.columns}) SELECT {cells}"
            self.statements[scalars] = text
        return text


#: How long opening the file waits for another process's lock to go (a quality
#: check's read-only connection), polling every ``LOCK_POLL_SECONDS``.
LOCK_WAIT_SECONDS = 10.0
LOCK_POLL_SECONDS = 0.2


def _is_lock_conflict(exc: BaseException) -> bool:
    """Another process holds the file (DuckDB's "Could not set lock" IO error)."""
    text = str(exc).lower()
    return "could not set lock" in text or "conflicting lock" in text


#: Rows per INSERT of the columnar load: DuckDB's parse of a JSON column holds
#: about 4 KB per row until the statement ends (a whole 10,000-row batch at once
#: added ~40 MB to the peak; 2,048, DuckDB's vector size, adds none measurable).
INSERT_ROWS = 2048


class DuckDBCasts(DoubleCasts):
    """Cells for DuckDB: doubles for numbers, JSON as text."""

    fast_paths: ClassVar[dict[LogicalType, str]] = {
        **DoubleCasts.fast_paths,
        # Text DuckDB stores as is: anything but a lone surrogate (clean_text).
        LogicalType.STRING: (
            "type(v) is str and (v.isascii() or has_surrogate(v) is None)"
        ),
    }

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
        self._columnar_loads: dict[str, _ColumnarLoad] = {}
        # The batch DuckDB is loading while the read loop fills the next one.
        self._loader: ThreadPoolExecutor | None = None
        self._loading: tuple[Future[None], StreamPlan] | None = None
        self._loader_logs: list[tuple[str, str]] = []

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
            self._conn = self._connect_waiting(
                path,
                {
                    "memory_limit": str(
                        self.config.get("memory_limit") or self._default_memory_limit()
                    ),
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

    @staticmethod
    def _connect_waiting(
        path: str, config: dict[str, Any]
    ) -> duckdb.DuckDBPyConnection:
        """Open the file for writing, waiting out another process's brief hold.

        A data quality check opens the file read-only for a moment (one stream's
        statements); a sync that comes then waits up to ``LOCK_WAIT_SECONDS``
        instead of failing its attempt. A lock held longer (another sync) still
        fails, as a transient error.
        """
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                return duckdb.connect(path, config=config)
            except duckdb.Error as exc:
                if not _is_lock_conflict(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(LOCK_POLL_SECONDS)

    def _default_memory_limit(self) -> str:
        """DuckDB's buffer limit: 32MB, or 64MB when a stream is deduplicated.

        The limit caps what a checkpoint holds while it compresses the rows a sync
        wrote: at 64MB the worker's peak grew ~30 MB over the first 100,000 faker
        users and stayed there, at 32MB ~10 MB. The dedup MERGE needs the 64MB.
        """
        dedup = any(p.mode == "append_dedup" for p in self._plans.values())
        return "64MB" if dedup else "32MB"

    def _db_close(self) -> None:
        self._drain(quietly=True)
        if self._loader is not None:
            self._loader.shutdown(wait=True)
            self._loader = None
        conn, self._conn = self._conn, None
        self._columnar_loads.clear()
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
        self._drain()
        self._begin()
        self._run(sql, params)

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._drain()
        self._begin()
        return self._run(sql, params)

    def _db_commit(self) -> None:
        self._drain()
        if self._in_tx:
            self.conn.commit()
            self._in_tx = False

    def _db_rollback_quietly(self) -> None:
        self._drain(quietly=True)
        if self._conn is not None and self._in_tx:
            with contextlib.suppress(Exception):
                self._conn.rollback()
        self._in_tx = False

    def _failure_type(self, exc: Exception) -> str:
        text = str(exc).lower()
        if _is_lock_conflict(exc):
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
        """Write the batch as JSON columns here; DuckDB loads it on its own thread.

        DuckDB parses and inserts a batch without the GIL, so the read loop decodes
        and casts the next batch meanwhile, much as PostgreSQL's server process
        works beside its writer. One batch at a time: memory stays bounded, and
        every other statement (a commit, a state, the swap) waits for it first.
        The JSON text is made here, so the loader thread makes no Python objects.
        """
        target = self._load_target(plan)
        load = self._columnar(plan, target)
        chunks = _json_chunks(rows, load)
        self._drain()
        self._begin()
        if chunks is None:
            appender = self.conn.appender(target, columns=plan.load_columns)
            appender.append_rows(rows)
            appender.flush()
            self._after_load(plan)
            return
        if self._loader is None:
            self._loader = ThreadPoolExecutor(1, thread_name_prefix="duckdb-load")
        future = self._loader.submit(self._insert_batch, plan, chunks)
        self._loading = (future, plan)

    def _load_target(self, plan: StreamPlan) -> str:
        if plan.mode == "append_dedup":
            return self._batch_ref(plan)
        return self._ref(plan.schema, plan.target)

    def _insert_batch(
        self, plan: StreamPlan, chunks: list[tuple[str, list[Any]]]
    ) -> None:
        """On the loader thread: the batch's INSERTs, then the dedup merge."""
        for sql, params in chunks:
            self._run(sql, params)
        self._after_load(plan)

    def _after_load(self, plan: StreamPlan) -> None:
        if plan.mode == "append_dedup":
            if plan.table not in self._warned_null_keys:
                self._warn_null_keys(plan)
            self._run(plan.sql["merge"])
            self._run(f"DELETE FROM {self._batch_ref(plan)}")

    def _drain(self, *, quietly: bool = False) -> None:
        """Wait for the batch being loaded; raise its error unless ``quietly``."""
        loading, self._loading = self._loading, None
        error: BaseException | None = None
        if loading is not None:
            future, plan = loading
            error = future.exception()
        logs, self._loader_logs = self._loader_logs, []
        for level, message in logs:
            self.log(level, message)
        if error is None or quietly:
            return
        if isinstance(error, DestinationError):
            raise error
        raise self._wrap(
            error if isinstance(error, Exception) else RuntimeError(str(error)),
            f"loading stream {plan.config.name!r}",
        ) from error

    def _columnar(self, plan: StreamPlan, target: str) -> _ColumnarLoad:
        """The batch INSERT of a stream, built on its first batch."""
        load = self._columnar_loads.get(target)
        if load is None:
            types = [self.type_names[c.type] for c in plan.columns]
            types += [_TAIL_TYPES[name] for name in plan.load_columns[len(types) :]]
            # JSON cells travel as text and become JSON on insert, as they did
            # through the appender; every other cell is read as its column's type.
            types = ["VARCHAR" if t == "JSON" else t for t in types]
            tail = len(plan.columns)
            load = _ColumnarLoad(
                target=target,
                columns=", ".join(quote(c) for c in plan.load_columns),
                types=tuple(types),
                doubles=frozenset(i for i, t in enumerate(types) if t == "DOUBLE"),
                repeated=frozenset(
                    tail + i
                    for i, name in enumerate(plan.load_columns[tail:])
                    if name in (META, GENERATION_ID, EXTRA)
                ),
            )
            self._columnar_loads[target] = load
        return load

    def _warn_null_keys(self, plan: StreamPlan) -> None:
        any_null = " OR ".join(f"{k} IS NULL" for k in self._keys_sql(plan))
        found = self._run(
            f"SELECT 1 FROM {self._batch_ref(plan)} WHERE {any_null} LIMIT 1"
        )
        if found:
            self._warned_null_keys.add(plan.table)
            # On the loader thread: the message is logged by the next _drain.
            self._loader_logs.append(
                (
                    "WARN",
                    f"Stream {plan.config.name!r}: records with a NULL primary key are "
                    "kept but cannot be deduplicated.",
                )
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


def _json_chunks(
    rows: list[tuple[Any, ...]], load: _ColumnarLoad
) -> list[tuple[str, list[Any]]] | None:
    """The batch as ``(INSERT, parameters)`` per ``INSERT_ROWS`` rows: one JSON
    array per column, or one scalar for a ``load.repeated`` column that holds a
    single value through the chunk; None when JSON cannot carry the batch.

    The cells are the casts' output, already final: orjson writes each column in
    C (datetimes in ISO 8601 with their offset, doubles in their shortest exact
    form) and DuckDB reads it back vectorised. What JSON cannot carry exactly is
    left to the appender: a NaN or an infinity (orjson writes null for them), a
    time with a time zone or a lone surrogate (orjson refuses them; a scalar is
    put through the same test).
    """
    chunks = []
    dumps = orjson.dumps
    doubles = load.doubles
    repeated = load.repeated
    try:
        for start in range(0, len(rows), INSERT_ROWS):
            params: list[Any] = []
            scalars = []
            columns = zip(*rows[start : start + INSERT_ROWS], strict=True)
            for index, values in enumerate(columns):
                if index in repeated:
                    first = values[0]
                    if values.count(first) == len(values):
                        dumps(first)
                        params.append(first)
                        scalars.append(index)
                        continue
                text = dumps(values)
                if index in doubles and text.count(b"null") != values.count(None):
                    return None
                params.append(text.decode("utf-8"))
            chunks.append((load.sql(frozenset(scalars)), params))
    except TypeError:
        return None
    return chunks


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
