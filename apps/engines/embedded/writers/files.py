"""The files destination writer: Parquet, JSON lines or CSV, in a folder or S3.

It drives the same interface as the SQL writers and shares their record path
(``base.RecordWriter``: stream plans, ``write``, buffers, counters), with files
where they have tables:

- **Layout.** ``<root>/<schema>/<prefix><stream>/``, names normalized like the SQL
  writers' tables (``table_names``), so a connection's streams land in the same
  words whichever destination it has. Each attempt writes new files named
  ``<UTC start>_<attempt token>_<part>.<ext>`` (``20261204T230112Z_3f9c1a2b_
  00001.parquet``): sorted by name, files are in the order they were written. The
  writer is not told the job's id, so a random token of the attempt stands for it.
- **Commits.** Records are buffered per stream (``batch_rows``/``batch_bytes``,
  bounded across streams by ``max_buffered_rows``) and flushed into a local part
  file: a Parquet row group, CSV rows, JSON lines. ``commit`` closes each stream's
  part and puts it in place, then writes the connection's state file
  (``<root>/_airbyte_state/<connection id>.json``): a committed batch is a closed
  file, and the state that covers it is written only after it. A crash between
  the two re-sends that batch on the next attempt (delivery is at least once, as
  with Airbyte's S3 destination); a batch that was never committed is never seen,
  because its part was still local. ``abort`` and a failed ``finish`` delete the
  local parts.
- **Modes.** ``append`` adds files and keeps the older ones. ``overwrite`` writes
  to ``<root>/_airbyte_staging/<connection id>/<schema>/<table>/`` (per connection:
  two connections syncing a stream of the same name into one root never delete
  each other's staged files) and only a successful ``finish`` replaces the
  stream's folder with it: the new file names are written
  in the state file first, then the files moved in, then the old ones deleted, so
  a worker that dies midway leaves a swap the next attempt finishes (rolls
  forward). A failed or cancelled sync deletes its staging files and leaves the
  stream's folder as it was. ``append_dedup`` is refused when the writer opens:
  files are only ever added, so a row cannot be replaced by its key.
- **Columns** (Parquet and CSV): ``_airbyte_raw_id``, ``_airbyte_extracted_at``,
  ``_airbyte_meta`` (JSON text, ``{"changes": [...]}``), ``_airbyte_generation_id``,
  ``_airbyte_extra`` (fields not in the schema, JSON text), then one column per
  top-level property, typed from the JSON schema by ``typing.logical_type``. A
  value that cannot be cast is NULL and recorded in ``_airbyte_meta``, as in the
  SQL writers. Parquet types: see ``files_formats.arrow_type``; a type Parquet
  cannot hold (time with time zone) is written as text and the sync's log says so.
  JSON lines carry the record whole in ``_airbyte_data`` (Airbyte's shape).

Every file carries its own schema: a later sync whose stream gained a property
writes files with one more column; readers that union by name (DuckDB's
``read_parquet(..., union_by_name=true)``, Arrow datasets) read them together.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import orjson

from apps.engines.embedded.writers.base import (
    AIRBYTE_COLUMNS,
    EXTRA,
    EXTRACTED_AT,
    GENERATION_ID,
    GLOBAL,
    LEGACY,
    META,
    RAW_ID,
    STREAM,
    DestinationError,
    RecordPlan,
    RecordWriter,
    StreamConfig,
    StreamRef,
    _descriptor_key,
    _first_line,
    _global_streams,
    latest_states,
)
from apps.engines.embedded.writers.files_formats import (
    EXTENSIONS,
    JSONL,
    PARQUET,
    FileColumn,
    PartFile,
    file_extension,
    part_class,
)
from apps.engines.embedded.writers.files_storage import (
    LocalStorage,
    S3Storage,
    Storage,
)
from apps.engines.embedded.writers.typing import (
    INT64_MAX,
    INT64_MIN,
    Casts,
    DoubleCasts,
    LogicalType,
    build_encoder,
    columns_for_schema,
    dumps_json,
)

STATE_FOLDER = "_airbyte_state"
STAGING_FOLDER = "_airbyte_staging"
SCRATCH_FOLDER = "_airbyte_tmp"
# The folders of the root that are the writer's own, never a schema's.
RESERVED = (STATE_FOLDER, STAGING_FOLDER, SCRATCH_FOLDER)
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class ParquetCasts(DoubleCasts):
    """Cells for Arrow: doubles for numbers, text where Parquet has no type."""

    def timetz(self, value: Any) -> Any:
        # Parquet has no time of day with a time zone: the column is text.
        return super().timetz(value).isoformat()


class TextCasts(Casts):
    """Cells for CSV: every number kept exact (it is written as text anyway)."""

    fast_paths: ClassVar[dict[LogicalType, str]] = {
        LogicalType.STRING: "type(v) is str and v.isascii()",
        LogicalType.INTEGER: f"type(v) is int and {INT64_MIN} <= v <= {INT64_MAX}",
        LogicalType.NUMBER: "type(v) is float or type(v) is int",
        LogicalType.BOOLEAN: "v is True or v is False",
    }


@dataclass(kw_only=True)
class FilePlan(RecordPlan):
    """One stream's folders, columns, encoder, buffer and part file this attempt.

    JSON lines have no encoder (``encode`` None): the record is kept whole.
    """

    file_columns: list[FileColumn] = field(default_factory=list)
    part: PartFile | None = None
    part_bytes: int = 0
    part_number: int = 0
    #: Closed parts not yet put in place (rolled over inside one commit).
    closed: list[PartFile] = field(default_factory=list)
    #: The connection's own staging folder (``staging_folder``).
    staging_root: str = STAGING_FOLDER

    @property
    def folder(self) -> str:
        """The stream's folder, relative to the root."""
        return f"{self.schema}/{self.table}"

    @property
    def staging(self) -> str:
        """Where an overwrite sync's files wait for the swap."""
        return f"{self.staging_root}/{self.folder}"

    @property
    def target(self) -> str:
        return self.staging if self.mode == "overwrite" else self.folder


def staging_folder(connection_id: str) -> str:
    """``_airbyte_staging/<connection id>``: the one staging folder a connection
    writes, cleans and swaps from (dots stripped: never ``..``)."""
    return f"{STAGING_FOLDER}/{_SAFE.sub('_', connection_id).strip('.') or '_'}"


def storage_for(config: dict[str, Any]) -> Storage:
    """The storage a prepared config names (a resolved local folder, or S3)."""
    storage = config.get("storage") or {}
    kind = storage.get("storage_type")
    if kind == "Local":
        path = str(storage.get("destination_path") or "")
        if not path or not Path(path).is_absolute():
            raise DestinationError(
                "The files destination's folder was not resolved.",
                failure_type="config_error",
            )
        return LocalStorage(Path(path))
    if kind == "S3":
        return S3Storage(
            bucket=str(storage.get("s3_bucket_name") or ""),
            prefix=str(storage.get("s3_bucket_path") or ""),
            region=str(storage.get("s3_bucket_region") or ""),
            endpoint=str(storage.get("s3_endpoint") or ""),
            access_key_id=str(storage.get("access_key_id") or ""),
            secret_access_key=str(storage.get("secret_access_key") or ""),
        )
    raise DestinationError(
        f"Unknown storage {kind!r} for a files destination (Local or S3).",
        failure_type="config_error",
    )


def format_of(config: dict[str, Any]) -> tuple[str, str]:
    """``(format_type, compression codec)`` of a config.

    Parquet compresses inside the file (SNAPPY unless the config says); JSON lines
    and CSV are whole-file gzip or nothing ("" here).
    """
    chosen = config.get("format") or {}
    kind = str(chosen.get("format_type") or PARQUET)
    if kind not in EXTENSIONS:
        raise DestinationError(
            f"Unknown file format {kind!r} (Parquet, JSONL or CSV).",
            failure_type="config_error",
        )
    codec = str(chosen.get("compression_codec") or "").upper()
    if kind == PARQUET:
        return kind, codec or "SNAPPY"
    return kind, "GZIP" if codec == "GZIP" else ""


class FilesWriter(RecordWriter[FilePlan]):
    """Writes streams as files in a folder or an S3 bucket; see the module docstring.

    ``storage`` is for tests that bring their own; a sync builds it from the config.
    """

    backend: ClassVar[str] = "Files"
    #: Start a new part file past this many rows or (input) bytes.
    part_rows: int = 1_000_000
    part_bytes: int = 512 * 1024 * 1024

    def __init__(
        self, config: dict[str, Any], *, storage: Storage | None = None, **kwargs: Any
    ) -> None:
        self.format, self.codec = format_of(config)
        self._storage = storage
        super().__init__(config, **kwargs)
        self._staging_root = staging_folder(self.connection_id)
        self.casts: Casts = ParquetCasts() if self.format == PARQUET else TextCasts()
        self._doc: dict[str, Any] | None = None
        self._scratch: Path | None = None
        self._stamp = ""
        self._token = ""
        #: Set once ``finish`` has begun moving staged files in.
        self._swap_started = False

    def _default_schema(self, schema: str) -> str:
        name = super()._default_schema(schema)
        return f"{name}_" if name in RESERVED else name

    def _new_plan(self, stream: StreamConfig, schema: str, table: str) -> FilePlan:
        return FilePlan(
            config=stream,
            schema=f"{schema}_" if schema in RESERVED else schema,
            table=table,
            staging_root=staging_folder(self.connection_id),
        )

    # -- storage and the state file --------------------------------------------

    @property
    def storage(self) -> Storage:
        if self._storage is None:
            self._storage = storage_for(self.config)
        return self._storage

    @property
    def state_key(self) -> str:
        return f"{STATE_FOLDER}/{_SAFE.sub('_', self.connection_id) or '_'}.json"

    def _load_doc(self) -> dict[str, Any]:
        raw = self.storage.get_bytes(self.state_key)
        if raw is None:
            return {"states": [], "swap": {}}
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise DestinationError(
                f"The state file {self.state_key} in {self.storage.where} is not "
                "JSON; delete it (the next sync starts over) or restore it.",
                failure_type="config_error",
            ) from None
        doc.setdefault("states", [])
        doc.setdefault("swap", {})
        return doc

    def _save_doc(self) -> None:
        assert self._doc is not None
        doc = dict(self._doc, connection_id=self.connection_id)
        self.storage.put_bytes(self.state_key, dumps_json(doc))

    def _doc_states(self) -> list[tuple[str, str, str, dict[str, Any]]]:
        assert self._doc is not None
        return [tuple(entry) for entry in self._doc["states"]]  # type: ignore[misc]

    # -- lifecycle ----------------------------------------------------------------

    def open(self) -> None:
        if self._is_open:
            return
        for plan in self._plans.values():
            if plan.mode == "append_dedup":
                raise DestinationError(
                    f"Stream {plan.config.name!r} is set to Append + Deduped, which "
                    "a files destination cannot do: files are only ever added, so "
                    "a row cannot be replaced by its primary key. Choose Append "
                    "(and deduplicate when you read) or Overwrite in the "
                    "connection's streams.",
                    failure_type="config_error",
                )
        try:
            self._doc = self._load_doc()
            self._finish_swaps()
            self._open_scratch()
            for plan in self._plans.values():
                self._prepare_stream(plan)
            self._save_doc()
        except DestinationError:
            self._drop_scratch()
            raise
        except Exception as exc:
            self._drop_scratch()
            raise self._wrap(exc, "preparing the destination folders") from exc
        now = dt.datetime.now(dt.UTC)
        self._stamp = now.strftime("%Y%m%dT%H%M%SZ")
        self._token = uuid.uuid4().hex[:8]
        self._is_open = True

    def _open_scratch(self) -> None:
        """A local folder for this attempt's parts; a dead attempt's is removed.

        In a local root it is ``_airbyte_tmp/<connection>/`` (one sync per
        connection runs at a time, so anything there is a dead attempt's), and a
        part is put in place by a rename.
        """
        base = self.storage.scratch()
        if base is None:
            from apps.engines.embedded import scratch

            self._scratch = Path(tempfile.mkdtemp(dir=scratch.worker_dir()))
            return
        folder = base / SCRATCH_FOLDER / _SAFE.sub("_", self.connection_id)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        self._scratch = folder

    def _drop_scratch(self) -> None:
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            parent = self._scratch.parent
            self._scratch = None
            if parent.name == SCRATCH_FOLDER:
                with contextlib.suppress(OSError):
                    parent.rmdir()  # only when no other connection's is there

    def _prepare_stream(self, plan: FilePlan) -> None:
        config = plan.config
        plan.columns = columns_for_schema(config.json_schema, reserved=AIRBYTE_COLUMNS)
        plan.file_columns = self._file_columns(plan)
        if self.format != JSONL:
            plan.encode = build_encoder(
                plan.columns, self.casts, generation_id=config.generation_id
            )
        # Staged files an attempt left behind (its worker died) are never resumed:
        # an overwrite stream is a full refresh, whose source starts over and would
        # send those rows again. They go, whatever the stream's mode is now.
        staged = self.storage.list(plan.staging)
        if staged:
            self.storage.delete(staged)
            self.log(
                "INFO",
                f"Stream {config.name!r}: deleted {len(staged)} staged file(s) an "
                "earlier attempt left; the stream's folder is unchanged.",
            )

    def _file_columns(self, plan: FilePlan) -> list[FileColumn]:
        if self.format == JSONL:
            return []
        head = [
            FileColumn(RAW_ID, LogicalType.STRING),
            FileColumn(EXTRACTED_AT, LogicalType.TIMESTAMPTZ),
            FileColumn(META, LogicalType.STRING),
            FileColumn(GENERATION_ID, LogicalType.INTEGER),
            FileColumn(EXTRA, LogicalType.STRING),
        ]
        data = []
        for column in plan.columns:
            kind = column.type
            if self.format == PARQUET and kind == LogicalType.TIMETZ:
                self.log(
                    "WARN",
                    f"Stream {plan.config.name!r}: {column.field!r} is a time of "
                    "day with a time zone, which Parquet has no type for; it is "
                    "written as text (ISO 8601, e.g. 10:30:00+02:00).",
                )
                kind = LogicalType.STRING
            data.append(FileColumn(column.name, kind))
        return head + data

    def read_state(self) -> list[dict[str, Any]]:
        try:
            doc = self._doc if self._is_open else self._load_doc()
        except DestinationError:
            raise
        except Exception as exc:
            raise self._wrap(exc, "reading the saved state") from exc
        assert doc is not None
        return [entry[3] for entry in doc["states"]]

    def check(self) -> None:
        self.storage.probe()

    # -- batches ----------------------------------------------------------------

    def _write_batch(self, plan: FilePlan, rows: list[Any], size: int) -> None:
        try:
            if plan.part is None:
                plan.part_number += 1
                assert self._scratch is not None
                name = (
                    f"{self._stamp}_{self._token}_{plan.part_number:05d}."
                    f"{file_extension(self.format, self.codec)}"
                )
                cls = part_class(self.format)
                path = self._scratch / name
                plan.part = cls(path, plan.file_columns, codec=self.codec)
                plan.part_bytes = 0
            plan.part.write(self._columns(plan, rows))
            plan.part_bytes += size
        except DestinationError:
            raise
        except Exception as exc:
            raise self._wrap(exc, f"writing stream {plan.config.name!r}") from exc
        if plan.part.rows >= self.part_rows or plan.part_bytes >= self.part_bytes:
            plan.part.close()
            plan.closed.append(plan.part)
            plan.part = None

    def _columns(self, plan: FilePlan, rows: list[Any]) -> list[Sequence[Any]]:
        """The batch as one sequence per file column (JSON lines: one of objects)."""
        new_id = uuid.uuid4
        generation = plan.config.generation_id
        if self.format == JSONL:
            return [
                [
                    {
                        RAW_ID: str(new_id()),
                        EXTRACTED_AT: ms,
                        META: {"changes": changes or []},
                        GENERATION_ID: generation,
                        "_airbyte_data": data,
                    }
                    for data, ms, changes in rows
                ]
            ]
        cells = list(zip(*rows, strict=True))
        width = len(plan.columns)
        # build_encoder gives the data cells, then extracted_at, meta,
        # generation_id and extra; files keep the SQL writers' column order.
        return [
            [str(new_id()) for _ in rows],
            cells[width],
            cells[width + 1],
            cells[width + 2],
            cells[width + 3],
            *cells[:width],
        ]

    def _put_parts(self) -> None:
        """Close every stream's part and put the closed parts in place."""
        assert self._doc is not None
        for plan in self._plans.values():
            if plan.buffer:
                self._flush(plan)
            if plan.part is not None:
                plan.part.close()
                plan.closed.append(plan.part)
                plan.part = None
            if not plan.closed:
                continue
            while plan.closed:
                part = plan.closed[0]
                self.storage.put_file(part.path, f"{plan.target}/{part.path.name}")
                plan.closed.pop(0)

    def _commit_batch(self, states: list[dict[str, Any]]) -> None:
        """A committed batch is a closed file in place; its state is saved after."""
        self._put_parts()
        if states:
            self._persist_states(states)
        self._save_doc()

    def _finish_batch(self) -> None:
        swapped = [p for p in self._plans.values() if p.mode == "overwrite"]
        self._swap_started = False
        self._put_parts()
        if swapped:
            assert self._doc is not None
            # The swap is written down before it starts: a worker that dies
            # midway leaves it for the next attempt to finish.
            self._doc["swap"] = {
                plan.folder: [_name(key) for key in self.storage.list(plan.staging)]
                for plan in swapped
            }
        self._save_doc()
        if swapped:
            self._swap_started = True
            self._finish_swaps()
            self._save_doc()

    def _fail_finish(self) -> None:
        if not self._swap_started:
            super()._fail_finish()
            return
        self._fail_batch()
        # Some staged files may be in place already: they are the sync's whole
        # result, so the next attempt finishes the swap; deleting them now would
        # leave the folder half replaced.
        self.log(
            "WARN",
            "Replacing the streams' files was cut short; the next attempt "
            "finishes it before it starts.",
        )

    def _fail_batch(self) -> None:
        """Forget everything since the last commit: buffers, counters, parts."""
        super()._fail_batch()
        for plan in self._plans.values():
            for part in [*plan.closed, *([plan.part] if plan.part else [])]:
                with contextlib.suppress(Exception):  # the file goes anyway
                    part.discard()
            plan.closed.clear()
            plan.part = None

    def _close(self) -> None:
        super()._close()
        self._drop_scratch()

    # -- overwrite: staging and the swap -------------------------------------------

    def _finish_swaps(self) -> None:
        """Replace each listed stream folder by its staged files (idempotent).

        ``swap`` in the state file names, per folder, the files the folder must
        hold afterwards: staged files still waiting are moved in, every other file
        of the folder is deleted, then the streams' STREAM states are forgotten
        (the next full refresh starts over) and the swap is struck off.
        """
        assert self._doc is not None
        swaps = dict(self._doc.get("swap") or {})
        if not swaps:
            return
        done = []
        for folder, names in swaps.items():
            staging = f"{self._staging_root}/{folder}"
            for key in self.storage.list(staging):
                self.storage.move(key, f"{folder}/{_name(key)}")
            keep = set(names)
            present = self.storage.list(folder)
            missing = keep - {_name(k) for k in present}
            if missing:
                # A swap written down before staging was kept per connection: its
                # files wait in the shared staging folder. Exactly those move in
                # (their names carry this connection's attempt token), nothing of
                # another connection's.
                for key in self.storage.list(f"{STAGING_FOLDER}/{folder}"):
                    if _name(key) in missing:
                        self.storage.move(key, f"{folder}/{_name(key)}")
                present = self.storage.list(folder)
            old = [k for k in present if _name(k) not in keep]
            self.storage.delete(old)
            done.append(folder)
            self.log(
                "INFO",
                f"Replaced the files of {folder}/ with this sync's {len(keep)} "
                f"file(s) ({len(old)} older file(s) deleted).",
            )
        swapped = {
            (p.config.namespace or "", p.config.name)
            for p in self._plans.values()
            if p.folder in done
        }
        self._delete_states(swapped, kinds=(STREAM,))
        self._doc["swap"] = {}

    def _discard_staging(self) -> None:
        """Delete a failed attempt's staged files and their states (best effort)."""
        plans = [p for p in self._plans.values() if p.mode == "overwrite"]
        for plan in plans:
            plan.staged_records = plan.staged_bytes = 0
        if not plans or self._doc is None:
            return
        try:
            for plan in plans:
                self.storage.delete(self.storage.list(plan.staging))
            self._delete_states(
                {(p.config.namespace or "", p.config.name) for p in plans},
                kinds=(STREAM,),
            )
            self._save_doc()
        except Exception as exc:  # reported; the next attempt deletes them
            self.log(
                "WARN",
                "Could not delete the staged files of this attempt "
                f"({_first_line(exc)}); the next attempt deletes them.",
            )
            return
        self.log(
            "INFO",
            "Deleted the staged files of this attempt: the streams' folders are "
            "unchanged.",
        )

    # -- states ---------------------------------------------------------------

    def _persist_states(self, states: list[dict[str, Any]]) -> None:
        assert self._doc is not None
        latest = latest_states(states)
        kinds = {key[0] for key in latest}
        # A connection keeps one kind of state; after a switch the old kind goes.
        kept = {
            (kind, ns, name): state
            for kind, ns, name, state in self._doc_states()
            if kind in kinds
        }
        kept.update(latest)
        self._doc["states"] = [[*key, state] for key, state in kept.items()]

    def _delete_states(
        self, keys: set[tuple[str, str]], *, kinds: Sequence[str]
    ) -> None:
        assert self._doc is not None
        result = []
        for kind, ns, name, state in self._doc_states():
            if kind == STREAM and STREAM in kinds and (ns, name) in keys:
                continue
            if kind == LEGACY and LEGACY in kinds:
                continue
            if kind == GLOBAL and GLOBAL in kinds:
                entries = _global_streams(state)
                kept = [e for e in entries if _descriptor_key(e) not in keys]
                if not kept:
                    continue
                if len(kept) != len(entries):
                    state = dict(state)
                    state["global"] = dict(
                        state.get("global") or {}, stream_states=kept
                    )
            result.append([kind, ns, name, state])
        self._doc["states"] = result

    # -- reset --------------------------------------------------------------------

    def _reset(
        self,
        streams: Iterable[StreamRef] | None,
        *,
        drop: bool,
        keep_data: bool = False,
    ) -> None:
        # Truncate and drop are one here: a stream's data is its folder's files.
        delete = not keep_data
        if self._is_open:
            raise DestinationError("Reset a destination only outside a sync.")
        chosen = self._plans_for(streams)
        try:
            self._doc = self._load_doc()
            for plan in chosen if delete else []:
                self.storage.delete(self.storage.list(plan.staging))
                self.storage.delete(self.storage.list(plan.folder))
            keys, kinds = self._reset_scope(chosen)
            self._delete_states(keys, kinds=kinds)
            self._save_doc()
        except DestinationError:
            raise
        except Exception as exc:
            raise self._wrap(exc, "resetting streams") from exc
        names = ", ".join(f"{p.folder}/" for p in chosen)
        if delete:
            self.log("INFO", f"Reset: deleted the files of {names} and their state.")
        else:
            self.log("INFO", f"Reset: cleared the state of {names}; the files stay.")

    # -- messages -----------------------------------------------------------------

    def _wrap(self, exc: Exception, doing: str) -> DestinationError:
        if isinstance(exc, DestinationError):
            return exc
        if isinstance(exc, OSError):
            where = f" ({exc.filename})" if isinstance(exc.filename, str) else ""
            return DestinationError(
                f"Files destination {self.storage.where}: {doing} failed: "
                f"{exc.strerror or _first_line(exc)}{where}.",
                failure_type="system_error",
            )
        return DestinationError(
            f"Files destination {self.storage.where}: {doing} failed: "
            f"{_first_line(exc)}",
            failure_type="system_error",
        )


def _name(key: str) -> str:
    return key.rsplit("/", 1)[-1]
