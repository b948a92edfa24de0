"""Running a sync job on a worker: claim it, run the engine, report, finish.

``sync_run`` is what the Celery task calls. It claims the job (or returns when
another worker has it), builds the engine's request from the database rows, and
runs the attempt with a ``JobReporter`` that beats on the attempt row from its own
thread (so a busy writer never looks dead), keeps a capped log, mirrors committed
state and notices a cancel within a heartbeat.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from datetime import UTC
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db import connection as db_connection
from django.template.defaultfilters import filesizeformat as _filesize
from django.utils import timezone

from apps.connections import lifecycle
from apps.connections.models import Connection, ConnectionState, SyncAttempt, SyncJob
from apps.engines.base import (
    AttemptOutcome,
    AttemptRequest,
    EngineError,
    StreamRequest,
)
from apps.engines.registry import get_engine

logger = logging.getLogger(__name__)


class JobReporter:
    """The console's side of a running attempt (the engine's ``AttemptReporter``)."""

    def __init__(self, attempt: SyncAttempt) -> None:
        self.attempt = attempt
        self.connection: Connection = attempt.job.connection
        self._lock = threading.Lock()
        self._counters = {
            "records_emitted": 0,
            "records_committed": 0,
            "bytes_committed": 0,
        }
        self._streams: dict[str, Any] = {}
        self._cancel = threading.Event()
        self._stop = threading.Event()
        self._log: deque[str] = deque()
        self._log_bytes = 0
        self._log_dropped = 0
        self._log_dirty = False
        # State messages the destination committed during this attempt (summary).
        self.states_saved = 0
        self._thread = threading.Thread(
            target=self._beat_forever, name=f"heartbeat-{attempt.pk}", daemon=True
        )

    # -- AttemptReporter --------------------------------------------------------------
    def progress(
        self,
        *,
        records_emitted: int,
        records_committed: int,
        bytes_committed: int,
        streams: dict[str, Any],
    ) -> None:
        with self._lock:
            self._counters = {
                "records_emitted": records_emitted,
                "records_committed": records_committed,
                "bytes_committed": bytes_committed,
            }
            self._streams = streams

    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    def log(self, line: str) -> None:
        # UTC, said with a Z: the log is read by people in any zone.
        line = f"{timezone.now().astimezone(UTC):%Y-%m-%d %H:%M:%SZ} {line}"
        size = len(line.encode()) + 1
        with self._lock:
            self._log.append(line)
            self._log_bytes += size
            self._log_dirty = True
            # Keep the tail: the end of a log says why an attempt ended.
            while self._log_bytes > settings.SYNC_LOG_MAX_BYTES and len(self._log) > 1:
                dropped = self._log.popleft()
                self._log_bytes -= len(dropped.encode()) + 1
                self._log_dropped += len(dropped.encode()) + 1

    def state_committed(self, states: list[dict[str, Any]]) -> None:
        state_mirror_save(connection=self.connection, states=states)
        with self._lock:
            self.states_saved += len(states)

    def connector_started(self, process_group: int) -> None:
        SyncAttempt.objects.filter(pk=self.attempt.pk).update(
            connector_pgid=process_group
        )

    def config_updated(self, config: dict[str, Any]) -> None:
        from apps.connectors.services import source_config_replace_from_connector

        source_config_replace_from_connector(
            source=self.connection.source, config=config
        )
        self.log("INFO The source sent a new configuration; it was saved (encrypted).")

    # -- heartbeat thread -------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._flush(final=True)

    def _beat_forever(self) -> None:
        try:
            while not self._stop.wait(settings.SYNC_HEARTBEAT_SECONDS):
                self._flush(final=False)
        finally:
            db_connection.close()

    def _flush(self, *, final: bool) -> None:
        with self._lock:
            counters = dict(self._counters)
            streams = dict(self._streams)
            log_text = "\n".join(self._log) if self._log_dirty or final else None
            self._log_dirty = False
            dropped = self._log_dropped
        try:
            if lifecycle.attempt_heartbeat(
                attempt_id=self.attempt.pk, progress=streams, **counters
            ):
                self._cancel.set()
            if log_text is not None:
                SyncAttempt.objects.filter(pk=self.attempt.pk).update(
                    log=log_text, log_truncated_bytes=dropped
                )
        except (
            Exception
        ):  # a database blip must not kill the sync; the next beat retries
            logger.warning(
                "Heartbeat of attempt %s failed", self.attempt.pk, exc_info=True
            )


@transaction.atomic
def state_mirror_save(*, connection: Connection, states: list[dict[str, Any]]) -> None:
    """Mirror state messages the destination committed (its copy is the truth)."""
    for message in states:
        kind = str(message.get("type") or "LEGACY").lower()
        if kind == "stream":
            stream = message.get("stream") or {}
            descriptor = stream.get("stream_descriptor") or {}
            key = {
                "stream_name": descriptor.get("name", ""),
                "stream_namespace": descriptor.get("namespace") or "",
            }
        else:
            key = {"stream_name": "", "stream_namespace": ""}
        ConnectionState.objects.update_or_create(
            connection=connection, kind=kind, **key, defaults={"state": message}
        )


def _state_messages(connection: Connection) -> tuple[dict[str, Any], ...]:
    return tuple(
        state.state for state in connection.states.order_by("kind", "stream_name")
    )


def build_request(attempt: SyncAttempt) -> AttemptRequest:
    """The engine's view of an attempt, from the rows (secrets decrypted here only)."""
    from apps.connectors.selectors import connector_full_config, connector_secrets

    job = attempt.job
    connection = Connection.objects.select_related(
        "source__definition", "destination__definition", "workspace"
    ).get(pk=job.connection_id)
    streams = tuple(
        StreamRequest(
            name=s.name,
            namespace=s.namespace or None,
            json_schema=s.synced_json_schema,
            sync_mode=s.sync_mode,
            destination_sync_mode=s.destination_sync_mode,
            cursor_field=tuple(s.cursor_field),
            primary_key=tuple(tuple(path) for path in s.primary_key),
            generation_id=s.generation_id,
            supported_sync_modes=_supported_modes(connection, s.name, s.namespace),
            selected_fields=tuple(s.selected_fields or ()),
        )
        for s in connection.streams.filter(selected=True)
    )
    source_config = connector_full_config(connection.source)
    destination_config = connector_full_config(connection.destination)
    secret_values = frozenset(
        str(value)
        for obj in (connection.source, connection.destination)
        for value in connector_secrets(obj).values()
        if isinstance(value, str | int) and str(value)
    )
    return AttemptRequest(
        attempt_id=attempt.pk,
        job_id=str(job.public_id),
        connection_id=str(connection.public_id),
        workspace_id=str(connection.workspace.public_id),
        # The source's own pinned version, not the catalog's current default.
        source_definition=connection.source.connector_ref,
        source_config=source_config,
        destination_definition=connection.destination.definition.ref,
        destination_config=destination_config,
        streams=streams,
        namespace=connection.namespace,
        table_prefix=connection.table_prefix,
        state=_state_messages(connection),
        secret_values=secret_values,
    )


def _supported_modes(
    connection: Connection, name: str, namespace: str
) -> tuple[str, ...]:
    for stream in (connection.source.catalog or {}).get("streams", []):
        if stream.get("name") == name and (stream.get("namespace") or "") == namespace:
            return tuple(stream.get("supported_sync_modes") or ("full_refresh",))
    return ("full_refresh",)


def sync_run(*, job_id: int) -> SyncJob | None:
    """Run the next attempt of a job: on this worker, or through its engine."""
    close_old_connections()
    job = (
        SyncJob.objects.select_related("connection__workspace")
        .filter(pk=job_id)
        .first()
    )
    if job is None:
        return None
    engine = get_engine(job.connection.workspace)
    return engine.start_job(job_id, run_here=lambda: _run_here(job_id))


def _run_here(job_id: int) -> SyncJob | None:
    """Claim the job and run its next attempt in this process, with a heartbeat."""
    attempt = lifecycle.attempt_claim(job_id=job_id)
    if attempt is None:
        return None
    attempt = SyncAttempt.objects.select_related(
        "job__connection__workspace", "job__connection__source"
    ).get(pk=attempt.pk)
    reporter = JobReporter(attempt)
    reporter.start()
    began = time.monotonic()
    outcome: AttemptOutcome | None = None
    try:
        request = build_request(attempt)
        engine = get_engine(attempt.job.connection.workspace)
        reporter.log(
            f"INFO Attempt {attempt.number} of job {attempt.job.public_id} "
            f"started on {attempt.worker} ({engine.name} engine)."
        )
        outcome = engine.run_attempt(request, reporter)
    except EngineError as exc:
        reporter.log(f"ERROR {exc.message}")
        outcome = AttemptOutcome(
            status=SyncAttempt.Status.FAILED,
            failure_type=SyncJob.FailureType.SYSTEM_ERROR,
            failure_origin=SyncJob.FailureOrigin.CONSOLE,
            failure_message=exc.message,
        )
    except Exception as exc:  # never lose the attempt: record why it died
        logger.exception("Attempt %s crashed", attempt.pk)
        reporter.log(
            f"ERROR The console failed while running the sync: {type(exc).__name__}"
        )
        outcome = AttemptOutcome(
            status=SyncAttempt.Status.FAILED,
            failure_type=SyncJob.FailureType.SYSTEM_ERROR,
            failure_origin=SyncJob.FailureOrigin.CONSOLE,
            failure_message=f"The console failed while running the sync "
            f"({type(exc).__name__}). The log has the details.",
        )
    finally:
        if outcome is not None:
            for line in attempt_summary(
                number=attempt.number,
                outcome=outcome,
                seconds=time.monotonic() - began,
                states_saved=reporter.states_saved,
            ):
                reporter.log(line)
        reporter.stop()
    job = lifecycle.attempt_finish(attempt_id=attempt.pk, outcome=outcome)
    _schedule_retry(job)
    return job


def filesizeformat(size: int) -> str:
    """Django's byte sizes (``12.3 KB``) with a plain space, for a text log."""
    return str(_filesize(size)).replace("\xa0", " ")


def attempt_summary(
    *, number: int, outcome: AttemptOutcome, seconds: float, states_saved: int
) -> list[str]:
    """The log's last lines: how the attempt ended, what each stream committed,
    the state saved and how long it took (Airbyte's sync summary)."""
    word = {"succeeded": "succeeded", "cancelled": "was cancelled"}.get(
        outcome.status, "failed"
    )
    lines = [f"INFO Sync summary: attempt {number} {word} after {seconds:.1f} s."]
    for stream, stats in sorted((outcome.stream_stats or {}).items()):
        lines.append(
            f"INFO   {stream}: {stats.get('records_committed', 0):,} records, "
            f"{filesizeformat(stats.get('bytes_committed', 0))} committed"
        )
    saved = (
        f"state saved ({states_saved} message{'s' if states_saved != 1 else ''})"
        if states_saved
        else "no state saved"
    )
    lines.append(
        f"INFO   Total: {outcome.records_committed:,} records, "
        f"{filesizeformat(outcome.bytes_committed)} committed; {saved}."
    )
    return lines


def _schedule_retry(job: SyncJob) -> None:
    """A short retry wait is handed to the broker; the reaper covers the rest."""
    if job.status != SyncJob.Status.INCOMPLETE or job.next_attempt_at is None:
        return
    wait = (job.next_attempt_at - timezone.now()).total_seconds()
    if wait > settings.SYNC_REENQUEUE_AFTER_SECONDS:
        return
    from apps.connections.tasks import sync_job_task, sync_queue

    try:
        sync_job_task.apply_async(
            args=[job.pk],
            countdown=max(0, wait) + 0.5,
            queue=sync_queue(job.pk),
            retry=False,
        )
    except Exception:  # broker down: the reaper enqueues it when the wait is over
        logger.warning("Could not schedule the retry of job %s", job.pk, exc_info=True)
        return
    SyncJob.objects.filter(pk=job.pk).update(enqueued_at=timezone.now())


def connection_clear_tables(
    *, connection_id: int, streams: list[str], empty_tables: bool = True
) -> None:
    """Forget the streams' state in the destination (and empty their tables)."""
    from apps.connectors.selectors import connector_full_config

    connection = Connection.objects.select_related("destination__definition").get(
        pk=connection_id
    )
    engine = get_engine(connection.workspace)
    engine.clear_tables(
        destination_definition=connection.destination.definition.ref,
        destination_config=connector_full_config(connection.destination),
        namespace=connection.namespace,
        table_prefix=connection.table_prefix,
        streams=streams,
        connection_id=str(connection.public_id),
        empty_tables=empty_tables,
        workspace_id=str(connection.workspace.public_id),
    )
