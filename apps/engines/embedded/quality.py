"""Read a connection's destination tables for a data quality check (issue #17).

The embedded engine's side of ``Engine.profile_tables``: for each stream, the row
count of its table, NULL cells per column and the ``_airbyte_meta`` changes over a
bounded sample (the latest ``sample_rows`` rows by ``_airbyte_extracted_at``), the
primary keys found more than once, and the columns the table has against the
columns the writer makes for the stream's JSON schema.

The destination is found exactly as a sync finds it: ``make_writer`` prepares the
config (a DuckDB file or a files folder stays in the workspace's own folder) and
names the tables; PostgreSQL and MySQL connect with the writer's own parameters.
Nothing here writes: PostgreSQL runs read-only transactions, DuckDB opens its file
read-only, files are read through an in-memory DuckDB. A DuckDB file is held only
while one stream's statements run (a sync cannot open a file a reader holds; its
writer waits a few seconds for a reader to let go), and every DuckDB connection
here is small: ``READER_MEMORY_LIMIT``, one thread, and a private temp folder it
spills large groupings to, since it runs inside the web server. Every statement
has a time limit (PostgreSQL's ``statement_timeout``, MariaDB's
``max_statement_time``, MySQL's ``max_execution_time``, a DuckDB interrupt): a
statement that runs out is reported as a note on its stream and the check goes
on. Only counts leave this module, never a value from a table.
"""

# SQL text here interpolates identifiers only, always through quote(); values travel
# as parameters.
# ruff: noqa: S608
from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from apps.engines.base import (
    ConnectorRef,
    EngineError,
    ProfileStream,
    TableProfile,
)
from apps.engines.masking import SecretMasker, secret_values

logger = logging.getLogger(__name__)

NOT_CHECKED_NESTED = "duplicate keys not checked: the primary key has a nested field"
DUCKDB_BUSY = "A sync is writing to this DuckDB file; check again when it ends."
# A reader's DuckDB: it runs in a web worker, so it gets little memory and one
# thread, and spills what does not fit (a duplicate-key grouping of a large table)
# to its own temp folder.
READER_MEMORY_LIMIT = "64MB"
READER_THREADS = 1


class StatementTimeout(Exception):
    """One statement ran past its time limit."""


class _Reader:
    """A read-only session on one destination: SQL, quoting, columns."""

    title = ""

    def __init__(self, writer: Any, seconds: float) -> None:
        self.writer = writer
        self.seconds = seconds

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def ref(self, schema: str, table: str) -> str:
        from apps.engines.embedded.writers.base import quote

        return f"{quote(schema)}.{quote(table)}"

    def location(self, schema: str, table: str) -> str:
        return f"{schema}.{table}"

    def columns(self, schema: str, table: str) -> list[str] | None:
        raise NotImplementedError

    def as_text(self, expr: str) -> str:
        return f"CAST({expr} AS VARCHAR)"

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Around one stream's statements (a DuckDB file is open only then)."""
        yield

    def close(self) -> None:
        return


class _PostgresReader(_Reader):
    title = "PostgreSQL"

    def __init__(self, writer: Any, seconds: float) -> None:
        import psycopg

        super().__init__(writer, seconds)
        self._errors = psycopg
        params = writer._connect_params()
        where = writer._where()
        try:
            self.conn = psycopg.connect(
                **params,
                autocommit=True,
                options=(
                    f"-c statement_timeout={int(seconds * 1000)} "
                    "-c lock_timeout=5000 -c default_transaction_read_only=on"
                ),
            )
        except psycopg.Error as exc:
            writer._remove_temp_files()
            raise EngineError(
                f"Could not connect to PostgreSQL{where}: {_first_line(exc)}"
            ) from exc

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, tuple(params) or None)
                return cur.fetchall()
        except self._errors.errors.QueryCanceled as exc:
            raise StatementTimeout from exc

    def columns(self, schema: str, table: str) -> list[str] | None:
        rows = self.fetch(
            "SELECT a.attname FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s "
            "AND c.relkind IN ('r', 'p', 'v', 'm') "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (schema, table),
        )
        return [name for (name,) in rows] or None

    def as_text(self, expr: str) -> str:
        return f"CAST({expr} AS text)"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        self.writer._remove_temp_files()


class _MySQLReader(_Reader):
    title = "MySQL"

    def __init__(self, writer: Any, seconds: float) -> None:
        import pymysql

        super().__init__(writer, seconds)
        self._errors = pymysql
        params = writer._connect_params()
        params["autocommit"] = True
        # A statement the server does not stop stops here, a little later.
        params["read_timeout"] = int(seconds) + 5
        try:
            self.conn = pymysql.connect(**params)
        except pymysql.Error as exc:
            raise EngineError(
                f"Could not connect to MySQL{writer._where()}: {_first_line(exc)}"
            ) from exc
        flavour = str(getattr(self.conn, "server_version", "") or "").lower()
        self.title = "MariaDB" if "mariadb" in flavour else "MySQL"
        with self.conn.cursor() as cur:
            if "mariadb" in flavour:
                cur.execute(f"SET SESSION max_statement_time = {float(seconds)}")
            else:
                cur.execute(f"SET SESSION max_execution_time = {int(seconds * 1000)}")
            cur.execute("SET SESSION TRANSACTION READ ONLY")

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, tuple(params) or None)
                return list(cur.fetchall())
        except self._errors.err.OperationalError as exc:
            # 1969 (MariaDB) and 3024 (MySQL): the statement's time ran out; 2013:
            # the read timeout above.
            if exc.args and exc.args[0] in (1969, 3024, 2013):
                raise StatementTimeout from exc
            raise

    def columns(self, schema: str, table: str) -> list[str] | None:
        rows = self.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        )
        return [str(name) for (name,) in rows] or None

    def as_text(self, expr: str) -> str:
        return f"CAST({expr} AS CHAR)"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


class _DuckReader(_Reader):
    """DuckDB: a read-only connection per stream, each statement interrupted at its
    limit.

    The file is opened for one stream's statements and closed after them, so a
    sync that starts meanwhile (its writer waits a few seconds for the lock) is
    not failed by a check that reads a large file for long.
    """

    title = "DuckDB"

    def __init__(self, writer: Any, seconds: float) -> None:
        import duckdb

        super().__init__(writer, seconds)
        self._duckdb = duckdb
        self.conn: Any = None
        path = self._path = str(writer.path)
        if not Path(path).is_file():
            raise EngineError(
                f"The DuckDB file {path} does not exist yet: no sync has written it."
            )
        # Where this reader's DuckDB spills (removed by close()).
        self._temp = Path(tempfile.mkdtemp(prefix="quality-", dir=_scratch_root()))

    def _config(self) -> dict[str, Any]:
        return {
            "memory_limit": READER_MEMORY_LIMIT,
            "threads": READER_THREADS,
            "temp_directory": str(self._temp),
        }

    def _connect(self) -> Any:
        duckdb = self._duckdb
        try:
            return duckdb.connect(self._path, read_only=True, config=self._config())
        except duckdb.Error as exc:
            text = str(exc).lower()
            if "could not set lock" in text or "conflicting lock" in text:
                raise EngineError(DUCKDB_BUSY) from exc
            raise EngineError(
                f"Could not open the DuckDB file {self._path}: {_first_line(exc)}"
            ) from exc

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        self.conn = self._connect()
        try:
            self.conn.execute("SET TimeZone = 'UTC'")
            yield
        finally:
            self._close_conn()

    def _close_conn(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        timer = threading.Timer(self.seconds, self.conn.interrupt)
        timer.start()
        try:
            return self.conn.execute(sql.replace("%s", "?"), list(params)).fetchall()
        except self._duckdb.InterruptException as exc:
            raise StatementTimeout from exc
        finally:
            timer.cancel()

    def columns(self, schema: str, table: str) -> list[str] | None:
        rows = self.fetch(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = %s "
            "AND table_name = %s ORDER BY ordinal_position",
            (schema, table),
        )
        return [name for (name,) in rows] or None

    def close(self) -> None:
        self._close_conn()
        shutil.rmtree(self._temp, ignore_errors=True)


def _scratch_root() -> Path:
    """This process's private folder (removed by the sweep if the process dies)."""
    from apps.engines.embedded import scratch

    return scratch.worker_dir()


class _FilesReader(_DuckReader):
    """A local files destination, read through an in-memory DuckDB.

    A stream's "table" is every file of its folder, read together by column name
    (a later sync may have added columns). JSON lines carry the record whole in
    ``_airbyte_data`` (and the time it was extracted in epoch milliseconds): its
    fields become the columns here, and nothing in them was cast.
    """

    title = "files"

    def __init__(self, writer: Any, seconds: float) -> None:
        import duckdb

        from apps.engines.embedded.writers.files import LocalStorage

        if not isinstance(writer.storage, LocalStorage):
            raise EngineError(
                "Data quality is not available for files in an S3 bucket yet: it "
                "reads files in a local folder only."
            )
        _Reader.__init__(self, writer, seconds)
        self._duckdb = duckdb
        self._temp = Path(tempfile.mkdtemp(prefix="quality-", dir=_scratch_root()))
        # No file to hold: one in-memory connection serves the whole check.
        self.conn = duckdb.connect(":memory:", config=self._config())
        self.conn.execute("SET TimeZone = 'UTC'")
        self.root = Path(writer.storage.root)
        self.format = writer.format
        # JSON lines: the (field, column) pairs a stream's schema makes, and those
        # its latest records have (what columns() found in the sample).
        self._expected: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._present: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._limits: dict[tuple[str, str], int] = {}

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        yield

    def expect(
        self, schema: str, table: str, fields: list[tuple[str, str]], limit: int
    ) -> None:
        """The ``(field, column)`` pairs of a stream and its sample size (JSON
        lines need them)."""
        self._expected[(schema, table)] = fields
        self._limits[(schema, table)] = limit

    def _glob(self, schema: str, table: str) -> str | None:
        folder = self.root / schema / table
        if not folder.is_dir():
            return None
        from apps.engines.embedded.writers.files_formats import EXTENSIONS

        extension = EXTENSIONS[self.format]
        if not any(folder.glob(f"*.{extension}*")):
            return None
        return str(folder / f"*.{extension}*").replace("'", "''")

    def location(self, schema: str, table: str) -> str:
        return str(self.root / schema / table)

    def ref(self, schema: str, table: str) -> str:
        from apps.engines.embedded.writers.base import quote
        from apps.engines.embedded.writers.files_formats import CSV, PARQUET

        glob = self._glob(schema, table)
        if self.format == PARQUET:
            return f"read_parquet('{glob}', union_by_name = true)"
        if self.format == CSV:
            return f"read_csv('{glob}', union_by_name = true, header = true)"
        key = (schema, table)
        fields = ", ".join(
            f"json_extract_string(_airbyte_data, {_json_path(field)}) AS {quote(col)}"
            for field, col in self._present.get(key, self._expected.get(key, []))
        )
        return (
            "(SELECT _airbyte_raw_id, _airbyte_extracted_at, _airbyte_meta"
            + (f", {fields}" if fields else "")
            + f" FROM {self._json_lines(glob)})"
        )

    @staticmethod
    def _json_lines(glob: str | None) -> str:
        return (
            f"read_json('{glob}', format = 'newline_delimited', "
            "columns = {_airbyte_raw_id: 'VARCHAR', _airbyte_extracted_at: "
            "'BIGINT', _airbyte_meta: 'JSON', _airbyte_data: 'JSON'})"
        )

    def columns(self, schema: str, table: str) -> list[str] | None:
        from apps.engines.embedded.writers.files_formats import JSONL

        glob = self._glob(schema, table)
        if glob is None:
            return None
        if self.format == JSONL:
            self._present[(schema, table)] = self._json_fields(schema, table, glob)
        rows = self.fetch(f"DESCRIBE SELECT * FROM {self.ref(schema, table)}")
        return [row[0] for row in rows] or None

    def _json_fields(self, schema: str, table: str, glob: str) -> list[tuple[str, str]]:
        """The ``(field, column)`` pairs of JSON lines: the top-level keys the
        sample's records have, the schema's first (in its order), then the others
        sorted, named as a writer would name them."""
        from apps.engines.embedded.writers.base import AIRBYTE_COLUMNS
        from apps.engines.embedded.writers.typing import assign_names

        key = (schema, table)
        limit = int(self._limits.get(key, 10_000))
        rows = self.fetch(
            "SELECT DISTINCT unnest(json_keys(_airbyte_data)) FROM (SELECT "
            f"_airbyte_data FROM {self._json_lines(glob)} "
            f"ORDER BY _airbyte_extracted_at DESC LIMIT {limit}) s "
            "WHERE json_type(_airbyte_data) = 'OBJECT'"
        )
        found = {str(name) for (name,) in rows}
        expected = self._expected.get(key, [])
        known = [(field, col) for field, col in expected if field in found]
        others = sorted(found - {field for field, _ in expected})
        taken = {*AIRBYTE_COLUMNS, *(col for _, col in expected)}
        names = assign_names(others, reserved=taken)
        return known + [(field, names[field]) for field in others]


def _json_path(field: str) -> str:
    return (
        "'$.\""
        + field.replace("\\", "\\\\").replace('"', '\\"').replace("'", "''")
        + "\"'"
    )


_READERS: dict[str, Callable[[Any, float], _Reader]] = {
    "postgres": _PostgresReader,
    "duckdb": _DuckReader,
    "mysql": _MySQLReader,
    "files": _FilesReader,
}


def profile_tables(
    definition: ConnectorRef,
    config: dict[str, Any],
    *,
    namespace: str,
    table_prefix: str,
    streams: tuple[ProfileStream, ...],
    connection_id: str,
    workspace_id: str,
    sample_rows: int,
    statement_seconds: float,
) -> list[TableProfile]:
    """A ``TableProfile`` per stream, in order; EngineError if the destination
    cannot be read at all (its message has the config's secrets masked)."""
    from apps.engines.embedded.sync import make_writer
    from apps.engines.embedded.writers import StreamConfig
    from apps.engines.embedded.writers.base import DestinationError

    masker = SecretMasker(secret_values(config))
    make_reader = _READERS.get(definition.builtin or "")
    if make_reader is None:
        raise EngineError(
            f"{definition.name} is not a destination the console writes itself, so "
            "its tables cannot be sampled."
        )
    configs = [
        StreamConfig(
            name=s.name,
            namespace=s.namespace,
            json_schema=s.json_schema,
            destination_sync_mode="append",
            primary_key=[list(p) for p in s.primary_key],
        )
        for s in streams
    ]
    try:
        writer = make_writer(
            definition,
            config,
            workspace_id=workspace_id,
            schema=namespace,
            table_prefix=table_prefix,
            streams=configs,
            connection_id=connection_id,
        )
        reader = make_reader(writer, statement_seconds)
    except DestinationError as exc:
        raise EngineError(masker.mask(exc.message)) from exc
    except EngineError as exc:
        raise EngineError(masker.mask(exc.message)) from exc
    # The whole check is bounded too: streams left when it has run four
    # statements' worth of time are reported as not checked.
    deadline = time.monotonic() + 4 * statement_seconds
    profiles = []
    try:
        for stream_config, stream in zip(configs, streams, strict=True):
            plan = writer._plans[stream_config.key]
            if time.monotonic() > deadline:
                profiles.append(
                    TableProfile(
                        name=stream.name,
                        namespace=stream.namespace,
                        location=reader.location(plan.schema, plan.table),
                        found=False,
                        notes=("not checked: the check ran out of time",),
                    )
                )
                continue
            try:
                with reader.session():
                    profiles.append(_profile(reader, plan, stream, sample_rows, masker))
            except EngineError as exc:
                # The file could not be opened for this stream (a sync took it
                # since the last one): the streams already read keep their report.
                if not profiles:
                    raise EngineError(masker.mask(exc.message)) from exc
                profiles.append(
                    TableProfile(
                        name=stream.name,
                        namespace=stream.namespace,
                        location=reader.location(plan.schema, plan.table),
                        found=False,
                        notes=(f"not checked: {masker.mask(exc.message)}",),
                    )
                )
    finally:
        reader.close()
    return profiles


def _profile(
    reader: _Reader,
    plan: Any,
    stream: ProfileStream,
    limit: int,
    masker: SecretMasker,
) -> TableProfile:
    from apps.engines.embedded.writers.base import (
        AIRBYTE_COLUMNS,
        EXTRACTED_AT,
        META,
        quote,
    )
    from apps.engines.embedded.writers.typing import columns_for_schema

    schema, table = plan.schema, plan.table
    expected = columns_for_schema(stream.json_schema, reserved=AIRBYTE_COLUMNS)
    if isinstance(reader, _FilesReader):
        reader.expect(schema, table, [(c.field, c.name) for c in expected], limit)
    base = {
        "name": stream.name,
        "namespace": stream.namespace,
        "location": reader.location(schema, table),
        "expected_columns": tuple(c.name for c in expected),
        "sample_limit": limit,
    }
    notes: list[str] = []

    def attempt(what: str, run: Callable[[], Any]) -> Any:
        try:
            return run()
        except StatementTimeout:
            notes.append(f"{what}: stopped after {reader.seconds:g} s")
        except Exception as exc:  # One part failing keeps the rest.
            logger.info("quality %s of %s failed: %s", what, table, exc)
            notes.append(f"{what}: {masker.mask(_first_line(exc))}")
        return None

    found = attempt("columns", lambda: reader.columns(schema, table))
    if found is None:
        return TableProfile(
            **base, found=False, notes=tuple(notes) or ("no table yet",)
        )
    data_columns = [c for c in found if c not in AIRBYTE_COLUMNS]
    ref = reader.ref(schema, table)
    count = attempt("row count", lambda: reader.fetch(f"SELECT count(*) FROM {ref}"))
    rows = int(count[0][0]) if count else None

    # The sample: the latest rows, so a check reads a bounded amount of a large
    # table and answers for what the recent syncs wrote.
    order = f" ORDER BY {quote(EXTRACTED_AT)} DESC" if EXTRACTED_AT in found else ""
    picked = ", ".join(quote(c) for c in [*data_columns, META] if c in found)
    sample = f"(SELECT {picked or '1 AS one'} FROM {ref}{order} LIMIT {int(limit)}) s"
    nulls: dict[str, int] = {}
    sampled = 0
    counts = attempt(
        "null ratios",
        lambda: reader.fetch(
            "SELECT count(*)"
            + "".join(f", count({quote(c)})" for c in data_columns)
            + f" FROM {sample}"
        ),
    )
    if counts:
        sampled = int(counts[0][0])
        for column, present in zip(data_columns, counts[0][1:], strict=True):
            nulls[column] = sampled - int(present)

    changes: Counter[tuple[str, str, str]] = Counter()
    if META in found:
        metas = attempt(
            "_airbyte_meta changes",
            lambda: reader.fetch(
                f"SELECT {quote(META)} FROM {sample} "
                f"WHERE {reader.as_text(quote(META))} LIKE %s",
                ('%"reason"%',),
            ),
        )
        for (meta,) in metas or []:
            for change in _changes(meta):
                changes[
                    (
                        str(change.get("field") or ""),
                        str(change.get("change") or ""),
                        str(change.get("reason") or ""),
                    )
                ] += 1

    duplicate_keys = duplicate_rows = None
    if stream.primary_key:
        key_columns = _key_columns(stream, expected, found)
        if key_columns is None:
            notes.append(NOT_CHECKED_NESTED)
        elif not key_columns:
            notes.append("duplicate keys not checked: a key column is missing")
        else:
            keys = ", ".join(quote(c) for c in key_columns)
            present = " AND ".join(f"{quote(c)} IS NOT NULL" for c in key_columns)
            dupes = attempt(
                "duplicate keys",
                lambda: reader.fetch(
                    "SELECT count(*), sum(n - 1) FROM (SELECT count(*) AS n "
                    f"FROM {ref} WHERE {present} GROUP BY {keys} "
                    "HAVING count(*) > 1) d"
                ),
            )
            if dupes:
                duplicate_keys = int(dupes[0][0] or 0)
                duplicate_rows = int(dupes[0][1] or 0)
    return TableProfile(
        **base,
        found=True,
        rows=rows,
        columns=tuple(data_columns),
        sample_rows=sampled,
        nulls=nulls,
        cast_failures=tuple(
            (field, change, reason, number)
            for (field, change, reason), number in sorted(changes.items())
        ),
        duplicate_keys=duplicate_keys,
        duplicate_rows=duplicate_rows,
        notes=tuple(notes),
    )


def _key_columns(
    stream: ProfileStream, expected: list[Any], found: list[str]
) -> list[str] | None:
    """The table columns of the primary key; None for a nested key, [] if one is
    not in the table."""
    by_field = {c.field: c.name for c in expected}
    names = []
    for path in stream.primary_key:
        if len(path) != 1:
            return None
        column = by_field.get(path[0])
        if column is None or column not in found:
            return []
        names.append(column)
    return names


def _changes(meta: Any) -> Iterator[dict[str, Any]]:
    if isinstance(meta, str | bytes):
        try:
            meta = json.loads(meta)
        except ValueError:
            return
    if isinstance(meta, dict):
        for change in meta.get("changes") or []:
            if isinstance(change, dict):
                yield change


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
