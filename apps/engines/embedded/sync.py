"""One embedded sync attempt: a source connector's ``read`` into a console writer.

The connector runs in its own process group with its config, catalog and state in
0600 temp files. Its stdout is read here line by line:

- RECORD goes to the destination writer's buffer;
- STATE makes the writer commit the buffered records and that state in one
  destination transaction, then the console mirrors it;
- LOG and lines that are not messages go to the attempt's log (masked);
- TRACE ERROR sets the failure reason; ESTIMATE and STREAM_STATUS feed progress;
- CONTROL with a new connector config is saved.

A watchdog thread stops the connector's process group when the user cancels or the
connector has been silent too long; the main loop then sees the end of the stream
and rolls back the open batch. Committed batches always stay.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings

from apps.engines import declarative, registry
from apps.engines.base import (
    RUNTIME_DOCKER,
    AttemptOutcome,
    AttemptReporter,
    AttemptRequest,
    EngineError,
    StreamRequest,
    connector_ref,
)
from apps.engines.embedded import launch, protocol, resources
from apps.engines.embedded.runner import (
    ConnectorProcess,
    connector_env,
    kill_group,
    private_files,
    read_argv,
)
from apps.engines.embedded.writers import (
    DestinationError,
    StreamConfig,
    decode_json,
)
from apps.engines.masking import SecretMasker

logger = logging.getLogger(__name__)

SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
# How often the main loop hands counters to the reporter (it throttles writes).
PROGRESS_EVERY_RECORDS = 2000


def make_writer(
    definition: Any, config: dict[str, Any], *, workspace_id: str, **options: Any
) -> Any:
    """The console's own writer for a built-in destination, on its prepared config.

    ``workspace_id`` (the public id) is whose files the destination may open.
    """
    descriptor = registry.destination(definition.builtin or "")
    if descriptor is None:
        raise DestinationError(
            f"{definition.name} is not a destination the embedded engine writes.",
            failure_type="config_error",
        )
    try:
        # The same rules as the check (a DuckDB path stays in the workspace's own
        # folder unless DUCKDB_ALLOW_ANY_PATH), so a sync refuses what "Test" does.
        config = descriptor.prepare_config(config, workspace_id=workspace_id)
    except ValueError as exc:
        raise DestinationError(str(exc), failure_type="config_error") from None
    return descriptor.writer()(config, **options)


def configured_catalog(streams: tuple[StreamRequest, ...]) -> dict[str, Any]:
    """The ConfiguredAirbyteCatalog the connector's ``read`` takes."""
    configured = []
    for stream in streams:
        airbyte_stream: dict[str, Any] = {
            "name": stream.name,
            "json_schema": stream.json_schema,
            "supported_sync_modes": list(stream.supported_sync_modes),
        }
        if stream.namespace:
            airbyte_stream["namespace"] = stream.namespace
        configured.append(
            {
                "stream": airbyte_stream,
                "sync_mode": stream.sync_mode,
                "destination_sync_mode": (
                    "append_dedup"
                    if stream.destination_sync_mode == "append_dedup"
                    else stream.destination_sync_mode
                ),
                "cursor_field": list(stream.cursor_field),
                "primary_key": [list(path) for path in stream.primary_key],
                "generation_id": stream.generation_id,
                "minimum_generation_id": (
                    stream.generation_id
                    if stream.destination_sync_mode == "overwrite"
                    else 0
                ),
                "sync_id": 0,
            }
        )
    return {"streams": configured}


def _stream_key(name: str, namespace: str | None) -> str:
    return f"{namespace}.{name}" if namespace else name


def _input_state(
    request: AttemptRequest, destination_states: list[dict[str, Any]]
) -> list[dict[str, Any]] | None:
    """The state to resume from: the destination's copy (truth), else the console's.

    Full-refresh streams always start over, so their state is not passed on.
    """
    states = destination_states or list(request.state)
    incremental = {
        (s.name, s.namespace or None)
        for s in request.streams
        if s.sync_mode == "incremental"
    }
    kept = []
    for message in states:
        if message.get("type") == "STREAM":
            descriptor = (message.get("stream") or {}).get("stream_descriptor") or {}
            key = (descriptor.get("name"), descriptor.get("namespace") or None)
            if key not in incremental:
                continue
        kept.append(message)
    return kept or None


@dataclass
class _Counters:
    records_emitted: int = 0
    records_committed: int = 0
    bytes_committed: int = 0
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    states: int = 0

    def stream(self, key: str) -> dict[str, Any]:
        if key not in self.streams:
            self.streams[key] = {
                "records_emitted": 0,
                "records_committed": 0,
                "bytes_committed": 0,
                "status": "STARTED",
                "row_estimate": None,
            }
        return self.streams[key]


def _lines(stdout: Any, watchdog: _Watchdog) -> Iterator[bytes]:
    """The connector's stdout, line by line, read ahead by a thread.

    Reading in 1 MiB chunks on another thread keeps the connector writing while
    this one flushes or commits a batch (with plain ``readline`` the two take turns
    and the pipe fills). At most 8 chunks wait, so memory stays bounded.
    """
    chunks: queue.Queue[bytes] = queue.Queue(maxsize=8)
    stop = threading.Event()
    fd = stdout.fileno()

    def pump() -> None:
        while not stop.is_set():
            try:
                chunk = os.read(fd, 1 << 20)
            except OSError:
                chunk = b""
            while not stop.is_set():
                try:
                    chunks.put(chunk, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if not chunk:
                return

    reader = threading.Thread(target=pump, name="connector-stdout", daemon=True)
    reader.start()
    rest = b""
    try:
        while True:
            chunk = chunks.get()
            if not chunk:
                if rest:
                    yield rest
                return
            watchdog.last_message = time.monotonic()
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            yield from lines
    finally:
        stop.set()


class _Watchdog(threading.Thread):
    """Stops the connector when the user cancels or it goes silent too long."""

    def __init__(
        self, reporter: AttemptReporter, silence_limit: float, interval: float = 1.0
    ) -> None:
        super().__init__(name="sync-watchdog", daemon=True)
        self.reporter = reporter
        self.silence_limit = silence_limit
        self.interval = interval
        self.last_message = time.monotonic()
        self.process: Any = None
        self.reason = ""
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            if self.reporter.cancel_requested():
                self._stop_connector("cancelled")
                return
            silent = time.monotonic() - self.last_message
            if silent > self.silence_limit:
                self._stop_connector("unresponsive")
                return

    def _stop_connector(self, reason: str) -> None:
        self.reason = reason
        if self.process is not None and self.process.poll() is None:
            kill_group(self.process)

    def finish(self) -> None:
        self._done.set()


def run_sync(request: AttemptRequest, reporter: AttemptReporter) -> AttemptOutcome:
    """Run one attempt end to end and say how it ended, and what it cost."""
    meter = resources.AttemptMeter()
    meter.start()
    try:
        outcome = _run_sync(request, reporter, meter)
    finally:
        cost = meter.stop()
    return replace(outcome, resources=cost)


def _run_sync(
    request: AttemptRequest, reporter: AttemptReporter, meter: resources.AttemptMeter
) -> AttemptOutcome:
    definition = connector_ref(request.source_definition)
    masker = SecretMasker(request.secret_values)
    try:
        # Installing on demand (a new host, an image to pull) shows in the log.
        ready = launch.launch(
            definition, on_output=lambda line: reporter.log(f"INFO install: {line}")
        )
    except EngineError as exc:
        return _failed(
            "system_error", "console", f"Installing the source: {exc.message}"
        )
    source_config = request.source_config
    if definition.manifest:
        manifest, user_config = declarative.split_config(source_config)
        if manifest is None:
            return _failed(
                "config_error", "source", "The source has no manifest to run."
            )
        source_config = declarative.build_config(manifest, user_config)
    try:
        source_config = ready.prepare_config(source_config)
    except EngineError as exc:
        return _failed("config_error", "source", masker.mask(exc.message))
    try:
        writer = make_writer(
            connector_ref(request.destination_definition),
            request.destination_config,
            schema=request.namespace,
            table_prefix=request.table_prefix,
            streams=[_stream_config(s) for s in request.streams],
            connection_id=request.connection_id,
            log=lambda level, text: reporter.log(
                f"{level} destination: {masker.mask(text)}"
            ),
            workspace_id=request.workspace_id,
        )
        writer.open()
        destination_states = writer.read_state()
    except DestinationError as exc:
        return _failed(exc.failure_type, "destination", masker.mask(exc.message))
    run = _Run(request, reporter, writer, masker, meter)
    try:
        return run.read(ready, source_config, _input_state(request, destination_states))
    except BaseException:
        # Anything unexpected: roll back the open batch; committed ones stay.
        writer.abort()
        raise


def _stream_config(stream: StreamRequest) -> StreamConfig:
    return StreamConfig(
        name=stream.name,
        namespace=stream.namespace,
        json_schema=stream.json_schema,
        destination_sync_mode=stream.destination_sync_mode,
        primary_key=[list(p) for p in stream.primary_key],
        cursor_field=list(stream.cursor_field),
        generation_id=stream.generation_id,
    )


def _failed(
    failure_type: str,
    origin: str,
    message: str,
    counters: _Counters | None = None,
    state_end: Any = None,
) -> AttemptOutcome:
    counters = counters or _Counters()
    return AttemptOutcome(
        status=FAILED,
        records_committed=counters.records_committed,
        bytes_committed=counters.bytes_committed,
        stream_stats=_stats(counters),
        state_end=state_end,
        failure_type=failure_type,
        failure_origin=origin,
        failure_message=message,
    )


def _stats(counters: _Counters) -> dict[str, Any]:
    keep = ("records_emitted", "records_committed", "bytes_committed", "status")
    return {key: {k: value[k] for k in keep} for key, value in counters.streams.items()}


class _Run:
    """The read loop of one attempt and what it has seen so far."""

    def __init__(
        self,
        request: AttemptRequest,
        reporter: AttemptReporter,
        writer: Any,
        masker: SecretMasker,
        meter: resources.AttemptMeter,
    ) -> None:
        self.request = request
        self.reporter = reporter
        self.writer = writer
        self.masker = masker
        self.meter = meter
        self.counters = _Counters()
        self.error: tuple[str, str] | None = None
        self.last_state: Any = None
        self.pending_states: list[dict[str, Any]] = []
        self.last_commit = time.monotonic()
        # Field selection per stream, by (namespace, name) and by name alone (a
        # source may leave the namespace out of its records, as the writer allows).
        self.field_filters: dict[tuple[str | None, str], frozenset[str]] = {}
        for stream in request.streams:
            if stream.selected_fields:
                allowed = frozenset(stream.selected_fields)
                self.field_filters[(stream.namespace or None, stream.name)] = allowed
                self.field_filters.setdefault((None, stream.name), allowed)

    # -- reporting ---------------------------------------------------------------------
    def report(self) -> None:
        counters = self.counters
        self.reporter.progress(
            records_emitted=counters.records_emitted,
            records_committed=counters.records_committed,
            bytes_committed=counters.bytes_committed,
            streams={k: dict(v) for k, v in counters.streams.items()},
        )

    def outcome(self, status: str, **extra: Any) -> AttemptOutcome:
        self.report()
        return AttemptOutcome(
            status=status,
            records_committed=self.counters.records_committed,
            bytes_committed=self.counters.bytes_committed,
            stream_stats=_stats(self.counters),
            state_end=self.last_state,
            **extra,
        )

    def failed(self, failure_type: str, origin: str, message: str) -> AttemptOutcome:
        return self.outcome(
            FAILED,
            failure_type=failure_type or "system_error",
            failure_origin=origin,
            failure_message=message,
        )

    # -- committing --------------------------------------------------------------------
    def count(self, result: Any) -> None:
        for (namespace, name), counts in result.streams.items():
            entry = self.counters.stream(_stream_key(name, namespace))
            entry["records_committed"] += counts.records
            entry["bytes_committed"] += counts.bytes
            self.counters.records_committed += counts.records
            self.counters.bytes_committed += counts.bytes

    def commit_pending(self) -> None:
        """Commit buffered records with the states seen since the last commit."""
        states = self.pending_states
        self.pending_states = []
        self.count(self.writer.commit(*states))
        self.last_commit = time.monotonic()
        if states:
            self.reporter.state_committed(states)
        self.report()

    # -- the loop ----------------------------------------------------------------------
    def read(
        self,
        ready: launch.Launch,
        source_config: dict[str, Any],
        state: list[dict[str, Any]] | None,
    ) -> AttemptOutcome:
        request, reporter, writer, masker = (
            self.request,
            self.reporter,
            self.writer,
            self.masker,
        )
        watchdog = _Watchdog(reporter, float(settings.SYNC_CONNECTOR_SILENCE_SECONDS))
        with private_files(
            config=source_config,
            catalog=configured_catalog(request.streams),
            state=state,
        ) as (directory, files):
            argv = read_argv(ready.command(directory), files)
            if "state" in files:
                reporter.log(f"INFO Resuming from {len(state or [])} saved state(s).")
            process = ConnectorProcess(
                argv,
                masker=masker,
                env=connector_env(ready.bin_dir, **dict(ready.env)),
                cwd=directory,
                workspace_id=request.workspace_id,
                sandboxed=ready.sandboxed,
                on_exit=self.meter.connector_exited,
            )
            try:
                process.start()
            except OSError as exc:
                writer.abort()
                return self.failed(
                    "system_error",
                    "source",
                    f"Could not start the source: {exc.strerror or exc}",
                )
            try:
                # Its own process group: the reaper kills it if this worker dies.
                # Inside the try: should recording it fail, the process (and a
                # container) is still stopped below.
                reporter.connector_started(process.process.pid)
                # What runs here for a Docker connector is the CLI, not the
                # container: measuring it would mislead, so it is left out.
                if ready.runtime != RUNTIME_DOCKER:
                    self.meter.watch_connector(process.process.pid)
                watchdog.process = process.process
                watchdog.start()
                self._consume(process.process.stdout, watchdog)
            except DestinationError as exc:
                kill_group(process.process)
                writer.abort()
                return self.failed(
                    exc.failure_type, "destination", masker.mask(exc.message)
                )
            finally:
                watchdog.finish()
                returncode = process.stop()
                self.meter.connector_stopped()
                ready.cleanup(directory)
                for line in process.logs:
                    reporter.log(f"INFO source: {line}")
                for line in process.stderr_tail:
                    reporter.log(f"INFO source stderr: {line}")
        return self._end(returncode, watchdog.reason, list(process.stderr_tail))

    def _consume(self, stdout: Any, watchdog: _Watchdog) -> None:
        counters, reporter, masker = self.counters, self.reporter, self.masker
        write = self.writer.write
        commit_interval = self.writer.commit_interval_seconds
        # decode_json keeps every digit of large numbers (orjson alone would round
        # them to doubles) and costs under a microsecond on ordinary lines.
        loads = decode_json
        for raw in _lines(stdout, watchdog):
            # The hot path: records are recognised by their prefix, parsed once.
            if raw.startswith((b'{"type":"RECORD"', b'{"type": "RECORD"')):
                try:
                    record = loads(raw)["record"]
                except (ValueError, KeyError, TypeError):
                    text = raw[:200].decode("utf-8", "replace")
                    reporter.log(f"WARN Unreadable record: {masker.mask(text)}")
                    continue
                self._record(record, write, len(raw))
                if counters.records_emitted % PROGRESS_EVERY_RECORDS == 0:
                    self.report()
                continue
            message = protocol.parse_line(raw)
            if message is None:
                text = raw.decode("utf-8", "replace").rstrip()
                if text:
                    reporter.log(f"INFO source: {masker.mask(text[:4000])}")
                continue
            kind = message["type"]
            if kind == protocol.RECORD:
                self._record(message.get("record") or {}, write, len(raw))
            elif kind == protocol.STATE:
                state = message.get("state") or {}
                self.pending_states.append(state)
                self.last_state = state
                # Sources emit STATE often (faker: every 100 records) and each
                # commit costs a destination transaction, so states are committed
                # together at most as often as the writer says.
                if time.monotonic() - self.last_commit >= commit_interval:
                    self.commit_pending()
            elif kind == protocol.LOG:
                reporter.log(masker.mask(protocol.log_text(message)))
            elif kind == protocol.TRACE:
                self.error = _trace(message, counters, masker, reporter) or self.error
            elif kind == protocol.CONTROL:
                _control(message, reporter)

    def _record(self, record: dict[str, Any], write: Any, size: int) -> None:
        stream = record.get("stream", "")
        namespace = record.get("namespace")
        data = record.get("data") or {}
        if self.field_filters and type(data) is dict:
            # Field selection: fields left out of the stream are not written at
            # all (not even into _airbyte_extra).
            allowed = self.field_filters.get((namespace or None, stream))
            if allowed is not None:
                data = {k: v for k, v in data.items() if k in allowed}
        write(
            stream,
            namespace,
            data,
            int(record.get("emitted_at") or 0),
            size=size,
            meta=record.get("meta"),
        )
        self.counters.records_emitted += 1
        self.counters.stream(_stream_key(stream, namespace))["records_emitted"] += 1

    def _commit_what_was_said(self) -> None:
        """Commit the records covered by states the source sent before it failed."""
        if not self.pending_states:
            return
        try:
            self.commit_pending()
        except DestinationError as exc:
            self.reporter.log(f"WARN destination: {self.masker.mask(exc.message)}")

    def _end(
        self, returncode: int | None, reason: str, stderr: list[str]
    ) -> AttemptOutcome:
        writer, reporter = self.writer, self.reporter
        if reason == "cancelled":
            writer.abort()
            reporter.log(
                "INFO Cancelled: the open batch was rolled back; committed data stays."
            )
            return self.outcome(CANCELLED, failure_type="manual_cancellation")
        if reason == "unresponsive":
            # What the source said before it went quiet is sound: keep it.
            self._commit_what_was_said()
            writer.abort()
            return self.failed(
                "transient_error",
                "source",
                f"The source sent nothing for {settings.SYNC_CONNECTOR_SILENCE_SECONDS}"
                " s and was stopped as unresponsive.",
            )
        if returncode != 0 or self.error is not None:
            self._commit_what_was_said()
            writer.finish(success=False)
            if self.error is not None:
                text, failure_type = self.error
            else:
                failure_type = "system_error"
                tail = " | ".join(stderr[-3:])
                how = (
                    f"was killed by signal {-returncode}"
                    if returncode is not None and returncode < 0
                    else f"exited with code {returncode}"
                )
                text = f"The source {how}" + (f": {tail}" if tail else ".")
            return self.failed(failure_type, "source", text)
        try:
            # Records after the last STATE are committed when the source ends well.
            self.commit_pending()
            self.count(writer.finish(success=True))
        except DestinationError as exc:
            writer.abort()
            return self.failed(
                exc.failure_type, "destination", self.masker.mask(exc.message)
            )
        for entry in self.counters.streams.values():
            if entry["status"] != "INCOMPLETE":
                entry["status"] = "COMPLETE"
        return self.outcome(SUCCEEDED)


def _trace(
    message: dict[str, Any],
    counters: _Counters,
    masker: SecretMasker,
    reporter: AttemptReporter,
) -> tuple[str, str] | None:
    trace = message.get("trace") or {}
    kind = trace.get("type")
    if kind == "ERROR":
        found = protocol.trace_error(message)
        if found is None:
            return None
        text = masker.mask(found[0])
        reporter.log(f"ERROR source: {text}")
        return text, found[1]
    if kind == "ESTIMATE":
        estimate = trace.get("estimate") or {}
        if estimate.get("type") == "STREAM" and estimate.get("name"):
            key = _stream_key(estimate["name"], estimate.get("namespace"))
            counters.stream(key)["row_estimate"] = estimate.get("row_estimate")
    elif kind == "STREAM_STATUS":
        status = trace.get("stream_status") or {}
        descriptor = status.get("stream_descriptor") or {}
        if descriptor.get("name"):
            key = _stream_key(descriptor["name"], descriptor.get("namespace"))
            counters.stream(key)["status"] = status.get("status", "RUNNING")
    return None


def _control(message: dict[str, Any], reporter: AttemptReporter) -> None:
    control = message.get("control") or {}
    if control.get("type") != "CONNECTOR_CONFIG":
        return
    config = (control.get("connectorConfig") or {}).get("config")
    if isinstance(config, dict):
        # The manifest rides along in the config the connector echoes; it is not
        # part of what the user configured.
        config = {k: v for k, v in config.items() if k != declarative.MANIFEST_KEY}
        reporter.config_updated(config)
