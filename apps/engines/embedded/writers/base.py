"""Destination writers: the interface the embedded runner drives, and what they share.

A writer loads the records of one sync attempt into one destination (PostgreSQL or
DuckDB) and keeps the connection's state there, in the same transaction as the data
it covers. It knows nothing of Django: it takes a plain config dict and
``StreamConfig`` dataclasses, and reports through a ``log(level, message)`` callable.
``RecordWriter`` is what every writer does with records (the files writer's too:
stream plans, ``write``, buffers, counters, the attempt's lifecycle);
``BaseWriter`` adds the SQL, with ``_db_*`` hooks per backend.

How the runner drives it (one attempt)::

    writer = writer_class(config, schema="analytics", table_prefix="", streams=[...],
                          connection_id=str(connection.public_id), log=attempt_log)
    writer.open()                 # schemas, tables, new columns, staging tables
    states = writer.read_state()  # hand these to the source: the destination's copy
                                  # is the truth (mirror it into the console)
    for message in source:
        RECORD: writer.write(stream, namespace, data, emitted_at, size=len(line))
        STATE:  pending.append(message["state"])
                # every second or so (not at every STATE: faker emits one per 100
                # records, and a commit costs a transaction):
                result = writer.commit(*pending); pending.clear(); mirror + count
    writer.commit(*pending)
    writer.finish(success=True)   # overwrite streams swap in; closes
    # on a failure: writer.finish(success=False); on cancel: writer.abort()

Guarantees:

- ``commit`` makes the rows written since the last commit and the given states
  durable in ONE transaction: after a crash either both are there or neither.
- Rows are buffered per stream and flushed (COPY / appender) into the open
  transaction at ``batch_rows`` rows or ``batch_bytes`` bytes, and the largest
  buffer is flushed when all buffers together hold ``max_buffered_rows``: memory is
  bounded whatever the record count.
- ``overwrite`` streams load ``<schema>._airbyte_tmp_<connection>_<table>``
  (``<connection>``: a short hash of the connection id, so two connections that
  sync a stream of the same name into one schema never share, or drop, each
  other's staging table); only a successful ``finish`` swaps it in (drop + rename,
  one transaction), so a failed or cancelled sync leaves the previous table whole.
  Staging is never resumed: the runner gives a full refresh source no state, so the
  source starts over and rows kept from an earlier attempt would be loaded twice.
  A failed or cancelled attempt (``finish(success=False)``, ``abort``) drops its
  staging tables and their STREAM states; an attempt that never ended (its worker
  died) leaves them, and the connection's next attempt drops them when it opens.
  A successful swap also clears the stream's STREAM state.
- Rows of an ``overwrite`` stream are reported as committed (``CommitResult``)
  only by the ``finish`` that swaps them into the final table: until then no
  reader can see them, and a failed attempt reports none.
- ``append_dedup`` streams keep one row per primary key: the row with the greatest
  cursor wins, ties and streams without a cursor go to the latest record. A record
  whose primary key has a NULL part is kept but cannot be deduplicated (SQL
  equality never matches NULL); a warning is logged.
- ``abort`` and ``finish(success=False)`` roll back the open transaction only.

Tables: ``<schema>.<prefix><stream>``, names normalized to lowercase snake case (see
``typing.normalize_name``; a name longer than 63 bytes keeps its head plus a hash;
two names that collide get a hash suffix). Columns: ``_airbyte_raw_id`` (uuid),
``_airbyte_extracted_at`` (timestamptz), ``_airbyte_meta`` (json, ``{"changes":
[...]}``), ``_airbyte_generation_id`` (bigint), ``_airbyte_extra`` (json: the
record's fields that are not in the schema, NULL when none), then one column per
top-level property of the stream's JSON schema:

    ==========================================  ===========  ================
    JSON schema                                 PostgreSQL   DuckDB
    ==========================================  ===========  ================
    string                                      text         VARCHAR
    string, format date                         date         DATE
    string, format date-time (or airbyte_type   timestamptz  TIMESTAMPTZ
      timestamp_with_timezone)
    string, airbyte_type                        timestamp    TIMESTAMP
      timestamp_without_timezone
    string, format time / airbyte_type time_*   time/timetz  TIME/TIMETZ
    integer (or number + airbyte_type integer)  bigint       BIGINT
    number (or integer + big_integer)           numeric      DOUBLE
    boolean                                     boolean      BOOLEAN
    object, array, unions, anything else        jsonb        JSON
    ==========================================  ===========  ================

A value that cannot be cast is stored as NULL and recorded in ``_airbyte_meta``:
``{"field", "change": "NULLED", "reason": "DESTINATION_SERIALIZATION_ERROR" (or
"DESTINATION_FIELD_SIZE_LIMITATION" for an integer beyond 64 bits), "value": <the
original>}``. A value stored altered is recorded with ``"change": "TRUNCATED"``:
NUL characters removed (PostgreSQL text and jsonb cannot hold them), or, in DuckDB,
a number rounded to a double (the exact original is in ``"value"``).

New properties in a later sync's schema become new columns (``ALTER TABLE ... ADD
COLUMN``); columns are never dropped or retyped: when the schema changes a column's
type, values are cast to the existing column's type and a warning is logged.
"""

# SQL text here interpolates identifiers only, always through quote(); values travel
# as parameters.
# ruff: noqa: S608
from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import (
    Any,
    ClassVar,
    Generic,
    Literal,
    Protocol,
    Self,
    TypeAlias,
    TypeVar,
)

from apps.engines.embedded.writers.typing import (
    Casts,
    Column,
    Encoder,
    LogicalType,
    build_encoder,
    columns_for_schema,
    dumps_json,
    fit_identifier,
    normalize_name,
    short_hash,
)

SyncMode = Literal["overwrite", "append", "append_dedup"]
#: A stream for reset: its config, its name, or ``(namespace, name)``.
StreamRef: TypeAlias = "StreamConfig | str | tuple[str | None, str]"
LogFn = Callable[[str, str], None]

RAW_ID = "_airbyte_raw_id"
EXTRACTED_AT = "_airbyte_extracted_at"
META = "_airbyte_meta"
GENERATION_ID = "_airbyte_generation_id"
EXTRA = "_airbyte_extra"
SEQUENCE = "_ab_seq"
AIRBYTE_COLUMNS = (RAW_ID, EXTRACTED_AT, META, GENERATION_ID, EXTRA)
# The cells build_encoder appends after the data columns, in this order.
TAIL_COLUMNS = (EXTRACTED_AT, META, GENERATION_ID, EXTRA)
STATE_TABLE = "_airbyte_state"
STAGING_PREFIX = "_airbyte_tmp_"

STREAM, GLOBAL, LEGACY = "STREAM", "GLOBAL", "LEGACY"


class DestinationError(Exception):
    """The destination refused or failed; ``message`` is safe to show a user.

    ``failure_type`` follows Airbyte's: ``config_error`` (fix the settings; do not
    retry), ``transient_error`` (retry), ``system_error`` (anything else).
    """

    def __init__(self, message: str, *, failure_type: str = "system_error") -> None:
        super().__init__(message)
        self.message = message
        self.failure_type = failure_type


@dataclass(frozen=True)
class StreamConfig:
    """One configured stream, as the writer needs it (plain data, no Django)."""

    name: str
    namespace: str | None
    json_schema: dict[str, Any]
    destination_sync_mode: SyncMode
    #: Airbyte's list of field paths, e.g. ``[["id"]]`` or ``[["org"], ["id"]]``.
    primary_key: Sequence[Sequence[str]] = ()
    #: A field path, e.g. ``["updated_at"]``; empty: the latest record wins.
    cursor_field: Sequence[str] = ()
    #: Airbyte's generation: the console bumps it when the stream is reset (or
    #: refreshed), not per job; every job and retry between two resets shares it,
    #: so it cannot tell a dead attempt's staging table from this one's.
    generation_id: int = 0
    #: The schema this stream's table goes to; None: the writer's ``schema``.
    destination_schema: str | None = None

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.namespace or None, self.name)


@dataclass(frozen=True)
class StreamCounts:
    """Records and bytes committed for one stream."""

    records: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class CommitResult:
    """What one ``commit`` (or ``finish``) made durable."""

    #: Per stream, keyed by ``(namespace, name)``.
    streams: dict[tuple[str | None, str], StreamCounts] = field(default_factory=dict)
    states: int = 0

    @property
    def records(self) -> int:
        return sum(c.records for c in self.streams.values())

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.streams.values())


class DestinationWriter(Protocol):
    """The interface the embedded runner drives; see the module docstring.

    Not thread-safe: one thread drives a writer (the runner's read loop); a cancel
    from elsewhere sets a flag the loop sees, and the loop calls ``abort``.
    """

    def __init__(
        self,
        config: dict[str, Any],
        *,
        schema: str,
        table_prefix: str = "",
        streams: Sequence[StreamConfig],
        connection_id: str,
        log: LogFn | None = None,
    ) -> None:
        """``config``: the destination's connector config (secrets included);
        ``schema``: the default schema (normalized like table names);
        ``log(level, message)`` with level ``INFO`` or ``WARN``."""

    def open(self) -> None:
        """Connect; create schemas, tables, new columns, staging and state tables."""

    def write(
        self,
        stream: str,
        namespace: str | None,
        data: dict[str, Any],
        emitted_at_ms: int,
        *,
        size: int = 0,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Buffer one record; flushes a batch into the open transaction when full.

        ``size`` is the record's size in bytes as received (``len(line)``), for the
        byte counters; ``meta`` the record's own ``meta`` (its changes are kept).
        """

    def commit(self, *states: dict[str, Any] | None) -> CommitResult:
        """Flush every buffer and persist ``states`` (the STATE messages' ``state``
        objects, oldest first) in one transaction; what was made durable."""

    def read_state(self) -> list[dict[str, Any]]:
        """The states last committed for this connection (STREAM: one per stream)."""

    def finish(self, *, success: bool) -> CommitResult:
        """End the attempt: on success commit what is buffered and swap overwrite
        tables in; else roll back the open batch. Closes the connection."""

    def abort(self) -> None:
        """Cancel: roll back the open batch (committed batches stay) and close."""

    def truncate(self, streams: Iterable[StreamRef] | None = None) -> None:
        """Reset: empty the streams' tables and forget their state (not while open)."""

    def drop_tables(self, streams: Iterable[StreamRef] | None = None) -> None:
        """Reset: drop the streams' tables and forget their state (not while open)."""

    def check(self) -> None:
        """Connect, create and drop a test table; raise DestinationError if not."""

    def close(self) -> None:
        """Release the connection; an open batch is rolled back (like ``abort``)."""


# ---------------------------------------------------------------------------
# State keys


def state_key(state: dict[str, Any]) -> tuple[str, str, str]:
    """``(kind, namespace, name)`` under which a state object is stored."""
    kind = str(state.get("type") or LEGACY).upper()
    if kind == STREAM:
        descriptor = (state.get("stream") or {}).get("stream_descriptor") or {}
        return (STREAM, str(descriptor.get("namespace") or ""), str(descriptor["name"]))
    if kind == GLOBAL:
        return (GLOBAL, "", "")
    return (LEGACY, "", "")


def clean_state(state: dict[str, Any]) -> dict[str, Any]:
    """The state object without the per-message counters Airbyte attaches."""
    return {
        k: v for k, v in state.items() if k not in ("sourceStats", "destinationStats")
    }


def latest_states(
    states: Iterable[dict[str, Any]],
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The last of ``states`` under each ``state_key``; what a commit stores."""
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for state in states:
        try:
            latest[state_key(state)] = state
        except (KeyError, TypeError, AttributeError):
            raise DestinationError(
                "The source sent a STATE message without a stream name."
            ) from None
    return latest


def _global_streams(state: dict[str, Any]) -> list[dict[str, Any]]:
    return list((state.get("global") or {}).get("stream_states") or [])


def _descriptor_key(entry: dict[str, Any]) -> tuple[str, str]:
    descriptor = entry.get("stream_descriptor") or {}
    return (str(descriptor.get("namespace") or ""), str(descriptor.get("name") or ""))


# ---------------------------------------------------------------------------
# Per-stream plan


@dataclass(frozen=True)
class FieldRef:
    """A field path as SQL sees it: a column, and a path inside it if JSON."""

    column: Column
    subpath: tuple[str, ...] = ()


@dataclass
class RecordPlan:
    """A stream's columns, encoder, buffer and counters for this attempt: what
    every writer keeps per stream, whatever it writes to."""

    config: StreamConfig
    schema: str
    table: str
    columns: list[Column] = field(default_factory=list)
    #: One record -> one row; None keeps the record whole, as the row
    #: ``(data, emitted_at_ms, changes)`` (the files writer's JSON lines).
    encode: Encoder | None = None
    buffer: list[Any] = field(default_factory=list)
    buffer_bytes: int = 0
    pending_records: int = 0
    pending_bytes: int = 0
    #: Overwrite streams: committed into staging, reported at the swap.
    staged_records: int = 0
    staged_bytes: int = 0
    seq: int = 0
    warned_extra: bool = False

    def __post_init__(self) -> None:
        # Plain attributes, read once per record.
        self.mode: SyncMode = self.config.destination_sync_mode
        # Where build_encoder puts _airbyte_extra in a row (before seq for dedup).
        self.extra_index = -2 if self.mode == "append_dedup" else -1


PlanT = TypeVar("PlanT", bound=RecordPlan)


@dataclass(kw_only=True)
class StreamPlan(RecordPlan):
    """A stream's tables, columns, encoder and buffer for this attempt."""

    staging: str
    #: The table the rows go to: the staging table for overwrite streams.
    target: str = ""
    #: The primary key parts and the cursor, as columns (dedup only).
    key_refs: list[FieldRef] = field(default_factory=list)
    cursor_ref: FieldRef | None = None
    batch_table: str = ""
    #: Backend SQL prepared once per attempt (COPY/merge statements).
    sql: dict[str, str] = field(default_factory=dict)
    #: Backend load types, one per load column (PostgreSQL binary COPY).
    load_types: list[str] = field(default_factory=list)

    @property
    def load_columns(self) -> list[str]:
        """The columns each encoded row fills, in order."""
        names = [c.name for c in self.columns] + list(TAIL_COLUMNS)
        return [*names, SEQUENCE] if self.mode == "append_dedup" else names


def table_names(
    streams: Sequence[StreamConfig], *, schema: str, prefix: str
) -> dict[tuple[str | None, str], tuple[str, str]]:
    """``(schema, table)`` for each stream, distinct within each schema.

    A stream whose normalized name is taken in its schema (``Users`` and ``users``,
    or one name in two namespaces) gets a hash of its namespace and name appended.
    """
    result: dict[tuple[str | None, str], tuple[str, str]] = {}
    used: dict[str, set[str]] = {}
    ordered = sorted(streams, key=lambda s: (s.namespace or "", s.name))
    for stream in ordered:
        target_schema = normalize_name(stream.destination_schema or schema)
        target_schema = fit_identifier(target_schema)
        taken = used.setdefault(target_schema, {STATE_TABLE})
        original = f"{prefix}{stream.name}"
        name = fit_identifier(normalize_name(original), original=original)
        if name in taken or name.startswith(STAGING_PREFIX):
            identity = f"{stream.namespace or ''}\x00{stream.name}"
            name = fit_identifier(f"{name}_{short_hash(identity)}", original=identity)
        taken.add(name)
        result[stream.key] = (target_schema, name)
    return result


def staging_name(table: str, connection_id: str) -> str:
    """``_airbyte_tmp_<hash of the connection>_<table>``, at most 63 bytes.

    Keyed by connection: two connections syncing a stream of the same name into
    one schema would otherwise load, and drop, one staging table. A name too long
    keeps its head plus a hash of the whole (``fit_identifier``), so two long
    tables of two connections stay distinct too.
    """
    return fit_identifier(f"{STAGING_PREFIX}{short_hash(connection_id)}_{table}")


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier (PostgreSQL and DuckDB agree)."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A single-quoted SQL string literal (standard_conforming_strings)."""
    return "'" + text.replace("'", "''") + "'"


# ---------------------------------------------------------------------------
# The shared writers


class RecordWriter(Generic[PlanT]):
    """The record path every writer shares, whatever it writes to.

    Stream plans (found by ``(namespace, name)``, else by an unambiguous name),
    ``write`` (one record cast into one row of its plan's buffer), the buffer
    limits, the counters a commit reports, and the attempt's lifecycle around them.
    Subclasses make the plans (``_new_plan``) and say what a batch and a commit are
    (``_write_batch``, ``_commit_batch``, ``_fail_batch``); ``BaseWriter`` for
    SQL databases, ``files.FilesWriter`` for files.
    """

    backend: ClassVar[str] = ""

    #: Flush a stream's buffer at this many rows or bytes.
    batch_rows: int = 10_000
    batch_bytes: int = 16 * 1024 * 1024
    #: Flush the largest buffer when all buffers together hold this many rows.
    max_buffered_rows: int = 50_000
    #: The sync commits pending states together at most this often (seconds): each
    #: commit costs a destination transaction.
    commit_interval_seconds: float = 1.0

    def __init__(
        self,
        config: dict[str, Any],
        *,
        schema: str,
        table_prefix: str = "",
        streams: Sequence[StreamConfig],
        connection_id: str,
        log: LogFn | None = None,
    ) -> None:
        self.config = dict(config)
        self.schema = self._default_schema(schema)
        self.table_prefix = table_prefix or ""
        self.connection_id = str(connection_id)
        self.log: LogFn = log or (lambda level, message: None)
        self.streams = list(streams)
        names = table_names(self.streams, schema=self.schema, prefix=self.table_prefix)
        self._plans: dict[tuple[str | None, str], PlanT] = {}
        self._by_name: dict[str, PlanT | None] = {}
        for stream in self.streams:
            plan = self._new_plan(stream, *names[stream.key])
            self._plans[stream.key] = plan
            # A record without a namespace still finds a stream that has one, as
            # long as the name alone is unambiguous.
            self._by_name[stream.name] = None if stream.name in self._by_name else plan
        self._is_open = False
        self._buffered = 0
        self._last_ms: int | None = None
        self._last_ts: dt.datetime | None = None
        self._unknown_streams: set[tuple[str | None, str]] = set()

    def _default_schema(self, schema: str) -> str:
        """The writer's ``schema``: where streams without their own go."""
        return fit_identifier(normalize_name(schema or "public"))

    def _new_plan(self, stream: StreamConfig, schema: str, table: str) -> PlanT:
        raise NotImplementedError

    # -- lifecycle ---------------------------------------------------------

    def open(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if not self._is_open:
            return
        if exc_type is None:
            self.finish(success=True)
        else:
            self.abort()

    def write(
        self,
        stream: str,
        namespace: str | None,
        data: dict[str, Any],
        emitted_at_ms: int,
        *,
        size: int = 0,
        meta: dict[str, Any] | None = None,
    ) -> None:
        # Called once per record: everything it needs is a local or an attribute,
        # and it calls out only to encode a row and, at a batch's end, to flush.
        if not self._is_open:
            raise DestinationError("The destination writer is not open.")
        plan = self._plans.get((namespace or None, stream))
        if plan is None:
            plan = self._by_name.get(stream)
            if plan is None:
                self._unknown_stream(stream, namespace)
                return
        if type(data) is not dict:
            data = {"_airbyte_data": data}
        changes = None
        if meta and isinstance(meta.get("changes"), list) and meta["changes"]:
            changes = list(meta["changes"])
        encode = plan.encode
        if encode is None:
            row: Any = (data, emitted_at_ms, changes)
        else:
            if emitted_at_ms != self._last_ms:
                self._last_ms = emitted_at_ms
                self._last_ts = _timestamp(emitted_at_ms)
            plan.seq += 1
            row = encode(data, self._last_ts, plan.seq, changes)
            if row[plan.extra_index] is not None:
                self._warn_extra(plan, data)
        if not size:
            size = len(dumps_json(data))
        buffer = plan.buffer
        buffer.append(row)
        plan.buffer_bytes += size
        plan.pending_records += 1
        plan.pending_bytes += size
        self._buffered += 1
        if len(buffer) >= self.batch_rows or plan.buffer_bytes >= self.batch_bytes:
            self._flush(plan)
        elif self._buffered >= self.max_buffered_rows:
            self._flush(max(self._plans.values(), key=lambda p: len(p.buffer)))

    def commit(self, *states: dict[str, Any] | None) -> CommitResult:
        self._require_open()
        real = [clean_state(s) for s in states if s]
        try:
            self._commit_batch(real)
        except Exception as exc:
            self._fail_batch()
            if isinstance(exc, DestinationError):
                raise
            raise self._wrap(exc, "committing a batch") from exc
        return self._collect(states=len(real))

    def finish(self, *, success: bool) -> CommitResult:
        if not self._is_open:
            return CommitResult()
        if not success:
            self.abort()
            return CommitResult()
        try:
            self._finish_batch()
        except Exception as exc:
            self._fail_finish()
            self._close()
            if isinstance(exc, DestinationError):
                raise
            raise self._wrap(exc, "finishing the sync") from exc
        result = self._collect(states=0, swapped=True)
        self._close()
        return result

    def abort(self) -> None:
        if not self._is_open:
            return
        self._fail_batch()
        self._discard_staging()
        self._close()

    def close(self) -> None:
        """Release the connection or files; an open batch is rolled back or
        dropped (like ``abort``)."""
        self.abort()

    def truncate(self, streams: Iterable[StreamRef] | None = None) -> None:
        self._reset(streams, drop=False)

    def drop_tables(self, streams: Iterable[StreamRef] | None = None) -> None:
        self._reset(streams, drop=True)

    def forget_state(self, streams: Iterable[StreamRef] | None = None) -> None:
        """Reset without touching data: the streams' next sync starts over."""
        self._reset(streams, drop=False, keep_data=True)

    # -- batches -----------------------------------------------------------

    def _require_open(self) -> None:
        if not self._is_open:
            raise DestinationError("The destination writer is not open.")

    def _flush(self, plan: PlanT) -> None:
        rows = plan.buffer
        if not rows:
            return
        plan.buffer = []
        self._buffered -= len(rows)
        size, plan.buffer_bytes = plan.buffer_bytes, 0
        self._write_batch(plan, rows, size)

    def _write_batch(self, plan: PlanT, rows: list[Any], size: int) -> None:
        """Put one flushed buffer (``size`` bytes as received) where it goes."""
        raise NotImplementedError

    def _commit_batch(self, states: list[dict[str, Any]]) -> None:
        """Make what was written since the last commit and ``states`` durable."""
        raise NotImplementedError

    def _finish_batch(self) -> None:
        """Make the rest durable and put overwrite streams' staged rows in place."""
        raise NotImplementedError

    def _fail_finish(self) -> None:
        """After ``_finish_batch`` failed: what ``abort`` does before it closes."""
        self._fail_batch()
        self._discard_staging()

    def _fail_batch(self) -> None:
        """Forget everything since the last commit (subclasses: what they wrote)."""
        for plan in self._plans.values():
            plan.buffer.clear()
            plan.buffer_bytes = plan.pending_records = plan.pending_bytes = 0
        self._buffered = 0

    def _discard_staging(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        """End the attempt (subclasses: release what it held)."""
        self._is_open = False
        for plan in self._plans.values():
            plan.buffer.clear()
            plan.buffer_bytes = 0
        self._buffered = 0

    def _collect(self, *, states: int, swapped: bool = False) -> CommitResult:
        counts = {}
        for key, plan in self._plans.items():
            records, size = plan.pending_records, plan.pending_bytes
            plan.pending_records = plan.pending_bytes = 0
            if plan.mode == "overwrite":
                # In staging, no reader sees these rows yet: they count as committed
                # when the swap puts them in place, and never if it fails.
                plan.staged_records += records
                plan.staged_bytes += size
                if not swapped:
                    continue
                records, size = plan.staged_records, plan.staged_bytes
                plan.staged_records = plan.staged_bytes = 0
            if records:
                counts[key] = StreamCounts(records, size)
        return CommitResult(streams=counts, states=states)

    def _plans_for(self, streams: Iterable[StreamRef] | None) -> list[PlanT]:
        if streams is None:
            return list(self._plans.values())
        chosen = []
        for stream in streams:
            if isinstance(stream, StreamConfig):
                plan = self._plans.get(stream.key)
            elif isinstance(stream, str):
                plan = self._by_name.get(stream)
            else:
                namespace, name = stream
                plan = self._plans.get((namespace or None, name))
            if plan is None:
                raise DestinationError(f"Unknown or ambiguous stream {stream!r}.")
            chosen.append(plan)
        return chosen

    def _reset(
        self,
        streams: Iterable[StreamRef] | None,
        *,
        drop: bool,
        keep_data: bool = False,
    ) -> None:
        """Empty (or drop) the streams' data unless ``keep_data``; forget states."""
        raise NotImplementedError

    def _reset_scope(
        self, chosen: Sequence[PlanT]
    ) -> tuple[set[tuple[str, str]], tuple[str, ...]]:
        """The streams whose states a reset of ``chosen`` forgets, and the kinds:
        LEGACY state covers every stream, so it goes only when all of them do."""
        keys = {(p.config.namespace or "", p.config.name) for p in chosen}
        every = {p.config.key for p in chosen} == set(self._plans)
        return keys, (STREAM, GLOBAL, LEGACY) if every else (STREAM, GLOBAL)

    # -- messages ------------------------------------------------------------

    def _unknown_stream(self, stream: str, namespace: str | None) -> None:
        key = (namespace, stream)
        if key not in self._unknown_streams:
            self._unknown_streams.add(key)
            self.log(
                "WARN",
                f"Records of stream {stream!r} are skipped: the stream is not in "
                "this connection's configured catalog.",
            )

    def _warn_extra(self, plan: PlanT, data: dict[str, Any]) -> None:
        if plan.warned_extra:
            return
        plan.warned_extra = True
        known = {c.field for c in plan.columns}
        extra = sorted(k for k in data if k not in known)[:10]
        self.log(
            "WARN",
            f"Stream {plan.config.name!r} sends fields that are not in its schema "
            f"({', '.join(map(repr, extra))}); they are kept in {EXTRA}.",
        )

    def _wrap(self, exc: Exception, doing: str) -> DestinationError:
        raise NotImplementedError


class BaseWriter(RecordWriter[StreamPlan]):
    """Buffers, counters, state keeping and the attempt lifecycle; SQL per backend.

    Subclasses implement the ``_db_*`` hooks and set ``type_names``/``casts``.
    """

    #: Logical type -> the backend's column type.
    type_names: ClassVar[dict[LogicalType, str]] = {}
    #: Extra spellings of column types found in existing tables -> logical type.
    type_aliases: ClassVar[dict[str, LogicalType]] = {}
    #: SQL types of the _airbyte_* columns, by column.
    airbyte_types: ClassVar[dict[str, str]] = {}
    casts: Casts = Casts()

    def __init__(self, config: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self._stored_kinds: set[str] = set()

    def _new_plan(self, stream: StreamConfig, schema: str, table: str) -> StreamPlan:
        return StreamPlan(
            config=stream,
            schema=schema,
            table=table,
            staging=staging_name(table, self.connection_id),
        )

    # -- lifecycle ---------------------------------------------------------

    def open(self) -> None:
        if self._is_open:
            return
        self._db_connect()
        try:
            self._prepare()
        except DestinationError:
            self._db_rollback_quietly()
            self._db_close()
            raise
        except Exception as exc:
            self._db_rollback_quietly()
            self._db_close()
            raise self._wrap(exc, "preparing the destination tables") from exc
        self._is_open = True

    def read_state(self) -> list[dict[str, Any]]:
        opened_here = not self._is_open
        if opened_here:
            self._db_connect()
        try:
            rows = self._db_read_states()
        except Exception as exc:
            raise self._wrap(exc, "reading the saved state") from exc
        finally:
            if opened_here:
                self._db_rollback_quietly()
                self._db_close()
        return [state for _, _, _, state in rows]

    def check(self) -> None:
        self._db_connect()
        try:
            self._db_check()
        except DestinationError:
            raise
        except Exception as exc:
            raise self._wrap(exc, "checking the destination") from exc
        finally:
            self._db_rollback_quietly()
            self._db_close()

    # -- shared internals --------------------------------------------------

    def _close(self) -> None:
        super()._close()
        self._db_close()

    def _fail_batch(self) -> None:
        """Forget everything since the last commit: buffers, counters, the txn."""
        super()._fail_batch()
        self._db_rollback_quietly()

    def _commit_batch(self, states: list[dict[str, Any]]) -> None:
        for plan in self._plans.values():
            if plan.buffer:
                self._flush(plan)
        if states:
            self._persist_states(states)
        self._db_commit()

    def _finish_batch(self) -> None:
        for plan in self._plans.values():
            if plan.buffer:
                self._flush(plan)
        swapped = [p for p in self._plans.values() if p.mode == "overwrite"]
        for plan in swapped:
            self._db_swap(plan)
        if swapped:
            self._delete_states(
                {(p.config.namespace or "", p.config.name) for p in swapped},
                kinds=(STREAM,),
            )
        self._db_commit()

    def _discard_staging(self) -> None:
        """Drop a failed attempt's staging tables and states (best effort).

        Called after the open transaction was rolled back. The final tables are
        untouched; a staging table left behind would only be loaded twice by the
        retry (a full refresh source starts over) or linger. A destination that
        cannot be reached now keeps it, and the next attempt recreates it.
        """
        plans = [p for p in self._plans.values() if p.mode == "overwrite"]
        for plan in plans:
            plan.staged_records = plan.staged_bytes = 0
        if not plans:
            return
        try:
            for plan in plans:
                self._db_execute(
                    f"DROP TABLE IF EXISTS {self._ref(plan.schema, plan.staging)}"
                )
            self._delete_states(
                {(p.config.namespace or "", p.config.name) for p in plans},
                kinds=(STREAM,),
            )
            self._db_commit()
        except Exception as exc:
            self._db_rollback_quietly()
            self.log(
                "WARN",
                "Could not drop the staging tables of this attempt "
                f"({_first_line(exc)}); the next attempt recreates them.",
            )
            return
        names = ", ".join(sorted(p.staging for p in plans))
        self.log(
            "INFO",
            f"Dropped the staging table(s) {names}: the final tables are unchanged.",
        )

    def _write_batch(self, plan: StreamPlan, rows: list[Any], size: int) -> None:
        try:
            self._db_load(plan, rows)
        except DestinationError:
            raise
        except Exception as exc:
            raise self._wrap(exc, f"loading stream {plan.config.name!r}") from exc

    # -- preparing tables --------------------------------------------------

    def _prepare(self) -> None:
        schemas = {self.schema} | {p.schema for p in self._plans.values()}
        for schema in sorted(schemas):
            self._db_execute(f"CREATE SCHEMA IF NOT EXISTS {self._schema_ref(schema)}")
        self._db_create_state_table()
        committed = self._db_read_states()
        self._stored_kinds = {kind for kind, _, _, _ in committed}
        for plan in self._plans.values():
            self._prepare_stream(plan)
        # An overwrite stream starts over (see _prepare_stream): a STREAM state a
        # dead attempt committed would describe rows that are gone now.
        overwrite = {
            (p.config.namespace or "", p.config.name)
            for p in self._plans.values()
            if p.mode == "overwrite"
        }
        stale = {(ns, name) for kind, ns, name, _ in committed if kind == STREAM}
        if overwrite & stale:
            self._delete_states(overwrite & stale, kinds=(STREAM,))
        self._db_commit()

    def _prepare_stream(self, plan: StreamPlan) -> None:
        desired = columns_for_schema(plan.config.json_schema, reserved=AIRBYTE_COLUMNS)
        config = plan.config
        if config.destination_sync_mode == "overwrite":
            plan.target = plan.staging
            existing = None
            if self._db_columns(plan.schema, plan.staging) is not None:
                # Only this connection's attempt whose worker died leaves one (an
                # attempt that ends drops it). It is never resumed: the runner gives
                # a full refresh source no state, so the source starts over, and its
                # rows on top of these would be swapped in twice. The generation
                # cannot tell this job from a later one (it changes on reset only).
                self._db_execute(f"DROP TABLE {self._ref(plan.schema, plan.staging)}")
                self.log(
                    "INFO",
                    f"Stream {config.name!r}: dropped the staging table "
                    f"{plan.staging} an earlier attempt left; the stream starts "
                    "over and the final table is unchanged until the swap.",
                )
        else:
            plan.target = plan.table
            existing = self._db_columns(plan.schema, plan.table)
            # A staging table left by an overwrite sync before a mode change would
            # otherwise linger forever.
            self._db_execute(
                f"DROP TABLE IF EXISTS {self._ref(plan.schema, plan.staging)}"
            )
        if existing is None:
            self._create_table(plan.schema, plan.target, desired)
            plan.columns = desired
        else:
            plan.columns = self._evolve(plan, existing, desired)
        if config.destination_sync_mode == "append_dedup":
            self._prepare_dedup(plan)
        plan.encode = build_encoder(
            plan.columns,
            self.casts,
            generation_id=config.generation_id,
            with_sequence=config.destination_sync_mode == "append_dedup",
        )

    def _column_sql(self, column: Column) -> str:
        return f"{quote(column.name)} {self.type_names[column.type]}"

    def _airbyte_column_sql(self) -> list[str]:
        return [f"{quote(name)} {self.airbyte_types[name]}" for name in AIRBYTE_COLUMNS]

    def _create_table(self, schema: str, table: str, columns: Sequence[Column]) -> None:
        parts = self._airbyte_column_sql() + [self._column_sql(c) for c in columns]
        self._db_execute(
            f"CREATE TABLE IF NOT EXISTS {self._ref(schema, table)} "
            f"({', '.join(parts)})"
        )

    def _evolve(
        self, plan: StreamPlan, existing: dict[str, str], desired: list[Column]
    ) -> list[Column]:
        """Add missing columns; keep existing ones (and their types)."""
        ref = self._ref(plan.schema, plan.target)
        for name in AIRBYTE_COLUMNS:
            if name not in existing:
                # Rows already there have no value for it: no NOT NULL on them.
                sql_type = self.airbyte_types[name].replace(" NOT NULL", "")
                self._db_add_column(ref, name, sql_type)
        effective = []
        added = []
        for column in desired:
            current = existing.get(column.name)
            if current is None:
                self._db_add_column(ref, column.name, self.type_names[column.type])
                added.append(column.name)
                effective.append(column)
                continue
            kind = self._logical_from_db(current)
            if kind is None:
                raise DestinationError(
                    f"Column {column.name!r} of {plan.schema}.{plan.target} has type "
                    f"{current}, which the console does not write. Change it back "
                    f"to {self.type_names[column.type]} or reset the stream.",
                    failure_type="config_error",
                )
            if kind != column.type:
                self.log(
                    "WARN",
                    f"Stream {plan.config.name!r}: the schema now makes "
                    f"{column.name!r} a {column.type.value}, but the column is "
                    f"{current}; values are cast to {current}. Reset the stream "
                    "to change the column type.",
                )
            effective.append(Column(column.field, column.name, kind))
        if added:
            self.log(
                "INFO",
                f"Stream {plan.config.name!r}: added column(s) "
                f"{', '.join(added)} to {plan.schema}.{plan.target}.",
            )
        return effective

    def _logical_from_db(self, db_type: str) -> LogicalType | None:
        lowered = db_type.strip().lower()
        for kind, name in self.type_names.items():
            if name.lower() == lowered:
                return kind
        return self.type_aliases.get(lowered)

    def _key_paths(self, plan: StreamPlan) -> list[list[str]]:
        paths = [list(p) for p in plan.config.primary_key if p]
        if not paths:
            raise DestinationError(
                f"Stream {plan.config.name!r} is set to deduplicate but has no "
                "primary key.",
                failure_type="config_error",
            )
        return paths

    def _field_ref(self, plan: StreamPlan, path: Sequence[str], what: str) -> FieldRef:
        for column in plan.columns:
            if column.field == path[0]:
                if len(path) > 1 and column.type != LogicalType.JSON:
                    break
                return FieldRef(column, tuple(path[1:]))
        raise DestinationError(
            f"Stream {plan.config.name!r}: the {what} {'.'.join(path)!r} is not a "
            "field of the stream's schema.",
            failure_type="config_error",
        )

    def _prepare_dedup(self, plan: StreamPlan) -> None:
        plan.key_refs = [
            self._field_ref(plan, path, "primary key") for path in self._key_paths(plan)
        ]
        cursor = list(plan.config.cursor_field or ())
        plan.cursor_ref = (
            self._field_ref(plan, cursor, "cursor field") if cursor else None
        )
        plan.batch_table = f"_ab_batch_{short_hash(plan.schema + '.' + plan.table, 12)}"
        self._db_prepare_dedup(plan)

    def _expr(self, ref: FieldRef, alias: str, *, text: bool) -> str:
        """SQL for a field path under a table alias: the column or a JSON lookup."""
        column = (
            f"{alias}.{quote(ref.column.name)}" if alias else quote(ref.column.name)
        )
        if not ref.subpath:
            return column
        return self._db_json_path(column, list(ref.subpath), text=text)

    def _keys_sql(self, plan: StreamPlan, alias: str = "") -> list[str]:
        return [self._expr(ref, alias, text=True) for ref in plan.key_refs]

    def _cursor_sql(self, plan: StreamPlan, alias: str = "") -> str | None:
        if plan.cursor_ref is None:
            return None
        return self._expr(plan.cursor_ref, alias, text=False)

    def _latest_first(self, plan: StreamPlan, alias: str = "", *, tiebreak: str) -> str:
        """ORDER BY items that put the winning row of a primary key first."""
        cursor = self._cursor_sql(plan, alias)
        tie = f"{alias}.{tiebreak}" if alias else tiebreak
        return f"{cursor} DESC NULLS LAST, {tie} DESC" if cursor else f"{tie} DESC"

    def _schema_ref(self, schema: str) -> str:
        return quote(schema)

    def _ref(self, schema: str, table: str) -> str:
        return f"{self._schema_ref(schema)}.{quote(table)}"

    # -- states ------------------------------------------------------------

    def _persist_states(self, states: list[dict[str, Any]]) -> None:
        latest = latest_states(states)
        kinds = {key[0] for key in latest}
        if self._stored_kinds - kinds:
            # A connection keeps one kind of state; after a switch (e.g. a source
            # moving from LEGACY to per-stream state) the old kind must not linger.
            self._db_execute(
                f"DELETE FROM {self._ref(self.schema, STATE_TABLE)} "
                "WHERE connection_id = %s AND kind NOT IN "
                f"({', '.join(['%s'] * len(kinds))})",
                (self.connection_id, *sorted(kinds)),
            )
        self._stored_kinds = set(kinds)
        self._db_write_states(
            [
                (kind, ns, name, dumps_json(state).decode())
                for (kind, ns, name), state in latest.items()
            ]
        )

    def _delete_states(
        self, keys: set[tuple[str, str]], *, kinds: Sequence[str]
    ) -> None:
        """Forget the states of the streams ``keys`` ((namespace, name))."""
        table = self._ref(self.schema, STATE_TABLE)
        for namespace, name in sorted(keys):
            if STREAM in kinds:
                self._db_execute(
                    f"DELETE FROM {table} WHERE connection_id = %s AND kind = %s "
                    "AND stream_namespace = %s AND stream_name = %s",
                    (self.connection_id, STREAM, namespace, name),
                )
        if GLOBAL in kinds:
            self._forget_in_global(keys)
        if LEGACY in kinds:
            self._db_execute(
                f"DELETE FROM {table} WHERE connection_id = %s AND kind = %s",
                (self.connection_id, LEGACY),
            )

    def _forget_in_global(self, streams: set[tuple[str, str]]) -> None:
        table = self._ref(self.schema, STATE_TABLE)
        for kind, _, _, state in self._db_read_states():
            if kind != GLOBAL:
                continue
            entries = _global_streams(state)
            kept = [e for e in entries if _descriptor_key(e) not in streams]
            if len(kept) == len(entries):
                continue
            self._db_execute(
                f"DELETE FROM {table} WHERE connection_id = %s AND kind = %s",
                (self.connection_id, GLOBAL),
            )
            if kept:
                state = dict(state)
                state["global"] = dict(state.get("global") or {}, stream_states=kept)
                self._db_write_states([(GLOBAL, "", "", dumps_json(state).decode())])

    # -- reset ---------------------------------------------------------------

    def _reset(
        self,
        streams: Iterable[StreamRef] | None,
        *,
        drop: bool,
        keep_data: bool = False,
    ) -> None:
        if self._is_open:
            raise DestinationError("Reset a destination only outside a sync.")
        chosen = self._plans_for(streams)
        self._db_connect()
        try:
            self._db_create_state_table()
            for plan in [] if keep_data else chosen:
                staging = self._ref(plan.schema, plan.staging)
                self._db_execute(f"DROP TABLE IF EXISTS {staging}")
                ref = self._ref(plan.schema, plan.table)
                if drop:
                    self._db_execute(f"DROP TABLE IF EXISTS {ref}")
                elif self._db_columns(plan.schema, plan.table) is not None:
                    self._db_truncate(ref)
            keys, kinds = self._reset_scope(chosen)
            self._delete_states(keys, kinds=kinds)
            self._db_commit()
        except Exception as exc:
            self._db_rollback_quietly()
            if isinstance(exc, DestinationError):
                raise
            raise self._wrap(exc, "resetting streams") from exc
        finally:
            self._db_close()
        names = ", ".join(f"{p.schema}.{p.table}" for p in chosen)
        if keep_data:
            self.log("INFO", f"Reset: cleared the state of {names}; the data stays.")
        else:
            verb = "dropped" if drop else "emptied"
            self.log("INFO", f"Reset: {verb} {names} and cleared their state.")

    # -- errors ----------------------------------------------------------------

    def _wrap(self, exc: Exception, doing: str) -> DestinationError:
        return DestinationError(
            f"{self.backend} failed while {doing}: {_first_line(exc)}",
            failure_type=self._failure_type(exc),
        )

    def _failure_type(self, exc: Exception) -> str:
        return "system_error"

    # -- backend hooks -------------------------------------------------------

    def _db_connect(self) -> None:
        raise NotImplementedError

    def _db_close(self) -> None:
        raise NotImplementedError

    def _db_commit(self) -> None:
        raise NotImplementedError

    def _db_rollback_quietly(self) -> None:
        raise NotImplementedError

    def _db_execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    def _db_columns(self, schema: str, table: str) -> dict[str, str] | None:
        """Column name -> type of an existing table, None when it does not exist."""
        raise NotImplementedError

    def _db_add_column(self, ref: str, name: str, sql_type: str) -> None:
        self._db_execute(f"ALTER TABLE {ref} ADD COLUMN {quote(name)} {sql_type}")

    def _db_truncate(self, ref: str) -> None:
        self._db_execute(f"DELETE FROM {ref}")

    def _db_create_state_table(self) -> None:
        raise NotImplementedError

    def _db_read_states(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        raise NotImplementedError

    def _db_write_states(self, rows: list[tuple[str, str, str, str]]) -> None:
        raise NotImplementedError

    def _db_prepare_dedup(self, plan: StreamPlan) -> None:
        raise NotImplementedError

    def _db_json_path(self, column_sql: str, path: list[str], *, text: bool) -> str:
        raise NotImplementedError

    def _db_load(self, plan: StreamPlan, rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def _db_swap(self, plan: StreamPlan) -> None:
        staging = self._ref(plan.schema, plan.staging)
        target = self._ref(plan.schema, plan.table)
        self._db_execute(f"DROP TABLE IF EXISTS {target}")
        self._db_execute(f"ALTER TABLE {staging} RENAME TO {quote(plan.table)}")

    def _db_check(self) -> None:
        raise NotImplementedError


class ServerWriter(BaseWriter):
    """A writer over one DB-API connection to a database server (PostgreSQL, MySQL).

    Subclasses open ``self._conn`` in ``_db_connect``; this holds what they do
    alike with it afterwards.
    """

    _conn: Any = None

    @property
    def conn(self) -> Any:
        if self._conn is None:
            raise DestinationError(f"The {self.backend} connection is closed.")
        return self._conn

    def _db_commit(self) -> None:
        self.conn.commit()

    def _db_rollback_quietly(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.rollback()

    def _db_close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def _timestamp(ms: int) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    except (OverflowError, ValueError, OSError, TypeError):
        return dt.datetime.now(dt.UTC)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
