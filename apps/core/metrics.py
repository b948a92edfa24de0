"""Pipeline metrics for Prometheus (issue #17), counted where each event happens.

Syncs, schedules, webhook deliveries, transform runs and connector installs call
the small functions below at the moment their row changes state (a worker, beat's
dispatcher, the CLI). Every process writes its values into one folder,
``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode), and a scrape
sums the folder, so gunicorn's processes and every Celery worker process add up to
one set of totals. prometheus-client chooses that mode when it is first imported,
from the environment variable; ``airbyte_console/celery.py`` sets it (the package
imports that module before anything else) and `serve` cleans the folder at start.
A scrape first tidies the folder: the live gauges of processes that are gone leave
the sums, and the counters and histograms of ended processes are folded into one
archive file per type (the totals stay; the files do not pile up).

Label values come from fixed sets, so the number of series stays bounded whatever
the number of connections: a value outside its set is counted as ``other``, an
empty one as ``none``. The connection's public id is a label only with
``METRICS_PER_CONNECTION=1``.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import logging
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from apps.core.pids import pid_alive

logger = logging.getLogger(__name__)

PREFIX = "airbyte_console"

# The fixed label values (the models' choices; tests/core/test_metrics.py checks
# they still match, core may not import the apps that define them).
ENGINES = ("embedded", "airbyte")
SYNC_STATUSES = ("succeeded", "failed", "cancelled")
FAILURE_ORIGINS = ("source", "destination", "console", "airbyte")
TRIGGERS = ("manual", "scheduled", "api", "retry", "reset")
WEBHOOK_OUTCOMES = ("succeeded", "http_error", "network_error", "refused")
TRANSFORM_STATUSES = ("succeeded", "failed", "cancelled")
TRANSFORM_COMMANDS = (
    "build",
    "run",
    "test",
    "seed",
    "snapshot",
    "compile",
    "docs generate",
    "show",
    "parse",
)
INSTALL_OUTCOMES = ("installed", "failed")

OTHER = "other"
NONE = "none"

# Seconds. A sync takes from seconds to hours; a queue wait and a schedule lag are
# short when all is well and minutes when the workers are behind.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
WAIT_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)
LAG_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 900, 3600)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def bounded(value: str | None, allowed: tuple[str, ...]) -> str:
    """``value`` when it is one of ``allowed``; ``none`` when empty, else ``other``."""
    if not value:
        return NONE
    value = str(value)
    return value if value in allowed else OTHER


class PipelineMetrics:
    """The metric objects, with or without the per-connection label."""

    def __init__(self, *, per_connection: bool) -> None:
        self.per_connection = per_connection
        # Their own registry: the multiprocess scrape reads the folder, and a
        # process without multiprocess mode exports this beside Django's.
        self.registry = CollectorRegistry(auto_describe=True)
        sync = ("connection",) if per_connection else ()

        def counter(name: str, help: str, labels: tuple[str, ...]) -> Counter:
            return Counter(f"{PREFIX}_{name}", help, labels, registry=self.registry)

        def histogram(
            name: str, help: str, labels: tuple[str, ...], buckets: tuple
        ) -> Histogram:
            return Histogram(
                f"{PREFIX}_{name}",
                help,
                labels,
                buckets=buckets,
                registry=self.registry,
            )

        self.syncs_started = counter(
            "syncs_started",
            "Sync jobs whose first attempt started.",
            ("engine", "trigger", *sync),
        )
        self.syncs_finished = counter(
            "syncs_finished",
            "Sync jobs that ended, by status and failure origin.",
            ("engine", "status", "failure_origin", *sync),
        )
        self.records_committed = counter(
            "sync_records_committed",
            "Records the destination committed, counted when the job ends.",
            ("engine", *sync),
        )
        self.bytes_committed = counter(
            "sync_bytes_committed",
            "Bytes the destination committed, counted when the job ends.",
            ("engine", *sync),
        )
        self.sync_duration = histogram(
            "sync_duration_seconds",
            "From a job's first start to its end.",
            ("engine", "status", *sync),
            DURATION_BUCKETS,
        )
        self.queue_wait = histogram(
            "sync_queue_wait_seconds",
            "From a sync's request to the start of its first attempt (claim).",
            ("engine", *sync),
            WAIT_BUCKETS,
        )
        self.retries = counter(
            "sync_retries",
            "Failed attempts that left their job waiting for another attempt.",
            ("engine", *sync),
        )
        self.schedule_lag = histogram(
            "schedule_lag_seconds",
            "From a schedule's due time to the enqueue of its sync.",
            sync,
            LAG_BUCKETS,
        )
        # livesum: a process that ends takes its running attempts with it, so the
        # scrape sums live processes only (prometheus-client drops dead ones' files).
        self.syncs_running = Gauge(
            f"{PREFIX}_syncs_running",
            "Sync attempts running now in the console's worker processes.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.webhook_deliveries = counter(
            "webhook_deliveries",
            "Webhook delivery attempts, by outcome.",
            ("outcome",),
        )
        self.webhook_latency = histogram(
            "webhook_delivery_seconds",
            "How long a webhook receiver took to answer (or to fail).",
            ("outcome",),
            LATENCY_BUCKETS,
        )
        self.transform_runs = counter(
            "transform_runs",
            "dbt transform runs that ended, by status and command.",
            ("status", "command"),
        )
        self.connector_installs = counter(
            "connector_installs",
            "Connector installs into a virtualenv, by outcome.",
            ("outcome",),
        )

    def sync_labels(self, connection_id: str | None, **labels: str) -> dict[str, str]:
        if self.per_connection:
            labels["connection"] = str(connection_id or NONE)
        return labels


@functools.cache
def build(*, per_connection: bool) -> PipelineMetrics:
    """The metric objects of this process (one set per label layout)."""
    return PipelineMetrics(per_connection=per_connection)


def current() -> PipelineMetrics:
    """The metrics as the settings want them (``METRICS_PER_CONNECTION``)."""
    return build(per_connection=bool(settings.METRICS_PER_CONNECTION))


def sample_names() -> set[str]:
    """Every series name a scrape can show (``_total``, ``_bucket``, ...)."""
    names: set[str] = set()
    for family in build(per_connection=False).registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{s}" for s in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


# -- what the apps call ----------------------------------------------------------------


def sync_started(
    *,
    engine: str,
    trigger: str,
    queue_wait_seconds: float | None,
    connection_id: str | None = None,
) -> None:
    """A job's first attempt started (counted once per job, after the commit)."""
    m = current()
    engine = bounded(engine, ENGINES)
    m.syncs_started.labels(
        **m.sync_labels(
            connection_id, engine=engine, trigger=bounded(trigger, TRIGGERS)
        )
    ).inc()
    if queue_wait_seconds is not None:
        m.queue_wait.labels(**m.sync_labels(connection_id, engine=engine)).observe(
            max(0.0, queue_wait_seconds)
        )


def sync_finished(
    *,
    engine: str,
    status: str,
    failure_origin: str,
    records_committed: int,
    bytes_committed: int,
    duration_seconds: float | None,
    connection_id: str | None = None,
) -> None:
    """A job ended (succeeded, failed or cancelled), after the commit that ended it."""
    m = current()
    engine = bounded(engine, ENGINES)
    status = bounded(status, SYNC_STATUSES)
    origin = bounded(failure_origin, FAILURE_ORIGINS)
    m.syncs_finished.labels(
        **m.sync_labels(
            connection_id, engine=engine, status=status, failure_origin=origin
        )
    ).inc()
    labels = m.sync_labels(connection_id, engine=engine)
    if records_committed > 0:
        m.records_committed.labels(**labels).inc(records_committed)
    if bytes_committed > 0:
        m.bytes_committed.labels(**labels).inc(bytes_committed)
    if duration_seconds is not None:
        m.sync_duration.labels(
            **m.sync_labels(connection_id, engine=engine, status=status)
        ).observe(max(0.0, duration_seconds))


def sync_retry_scheduled(*, engine: str, connection_id: str | None = None) -> None:
    """A failed attempt left its job waiting for another one."""
    m = current()
    m.retries.labels(
        **m.sync_labels(connection_id, engine=bounded(engine, ENGINES))
    ).inc()


# The attempts this process counts as running: only the process that claimed an
# attempt takes it off the gauge, once, whoever (the reaper) ends it in the database.
_running: set[int] = set()
_running_lock = threading.Lock()


def attempt_running(attempt_id: int) -> None:
    """This process started running an attempt."""
    with _running_lock:
        if attempt_id in _running:
            return
        _running.add(attempt_id)
    current().syncs_running.inc()


def attempt_stopped(attempt_id: int) -> None:
    """This process stopped running an attempt (no-op for anyone else's)."""
    with _running_lock:
        if attempt_id not in _running:
            return
        _running.discard(attempt_id)
    current().syncs_running.dec()


def schedule_lag(*, seconds: float, connection_id: str | None = None) -> None:
    """A schedule's sync was enqueued ``seconds`` after its due time."""
    m = current()
    labels = m.sync_labels(connection_id)
    lag = m.schedule_lag.labels(**labels) if labels else m.schedule_lag
    lag.observe(max(0.0, seconds))


def webhook_delivered(*, outcome: str, seconds: float) -> None:
    """One webhook request ended: succeeded, http_error, network_error or refused."""
    m = current()
    outcome = bounded(outcome, WEBHOOK_OUTCOMES)
    m.webhook_deliveries.labels(outcome=outcome).inc()
    m.webhook_latency.labels(outcome=outcome).observe(max(0.0, seconds))


def transform_finished(*, status: str, command: str) -> None:
    """A dbt run ended."""
    current().transform_runs.labels(
        status=bounded(status, TRANSFORM_STATUSES),
        command=bounded(command, TRANSFORM_COMMANDS),
    ).inc()


@contextlib.contextmanager
def connector_install() -> Iterator[None]:
    """Count the install inside: ``installed``, or ``failed`` when it raises."""
    try:
        yield
    except Exception:
        current().connector_installs.labels(outcome="failed").inc()
        raise
    current().connector_installs.labels(outcome="installed").inc()


# -- the folder and the scrape ---------------------------------------------------------


def multiprocess_enabled() -> bool:
    """Does this process write its values into the folder?"""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def directory() -> Path:
    """The folder every process writes into (the environment's: the values use it)."""
    return Path(
        os.environ.get("PROMETHEUS_MULTIPROC_DIR") or settings.PROMETHEUS_MULTIPROC_DIR
    )


# prometheus-client's own file names (counter_<pid>.db, gauge_livesum_<pid>.db,
# ...), with the archives of ended processes and an archive being written.
_OURS = re.compile(r"^(counter|gauge|histogram|summary)_\w+\.db(\.partial)?$")


def clean_directory(path: Path | str | None = None) -> int:
    """Remove every process's values (at `serve` start); returns the files removed.

    Only prometheus-client's own files are removed, and only from a folder that
    holds nothing else: a ``PROMETHEUS_MULTIPROC_DIR`` pointed at a folder in use
    for something else is left as it is, with an error in the log.
    """
    path = Path(path or directory())
    path.mkdir(parents=True, exist_ok=True)
    entries = sorted(path.iterdir())
    foreign = [e.name for e in entries if not (_OURS.match(e.name) and e.is_file())]
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        logger.error(
            "Not emptying the metrics folder %s: it holds files that are not "
            "prometheus-client's (%s). Set PROMETHEUS_MULTIPROC_DIR to a folder of "
            "its own; until then the sums carry on from the previous run.",
            path,
            shown,
        )
        return 0
    for entry in entries:
        entry.unlink(missing_ok=True)
    return len(entries)


_PID = re.compile(r"^gauge_live\w*_(\d+)\.db$")


def forget_dead_processes(path: Path | None = None) -> int:
    """Drop the live gauges of processes that are gone (killed without a goodbye).

    A process that ends normally drops its own (``mark_process_dead``); one killed
    with SIGKILL (a time limit, the OOM killer) leaves its running attempts on the
    gauge until this runs: at each scrape and at a worker's start. Counters stay:
    their totals outlive the process (``compact_dead_processes`` folds them).
    """
    path = path or directory()
    forgotten = 0
    for file in path.glob("gauge_live*_*.db"):
        match = _PID.match(file.name)
        if match and not pid_alive(int(match.group(1))):
            mark_process_dead(int(match.group(1)), str(path))
            forgotten += 1
    return forgotten


# The types whose values add up across processes, in files named <type>_<pid>.db.
_SUMMED = re.compile(r"^(counter|histogram|summary)_(\d+)\.db$")
ARCHIVE = "archive"


@contextlib.contextmanager
def _folder_lock(path: Path, *, exclusive: bool) -> Iterator[bool]:
    """A lock on the folder: shared for a scrape's read, exclusive (or none) to fold.

    Yields whether it was taken; an exclusive one is not waited for.
    """
    mode = fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock


def compact_dead_processes(path: Path | None = None) -> int:
    """Fold the counters, histograms and summaries of ended processes into archives.

    Every process leaves its files behind (each `manage.py` command writes
    django-prometheus' counters and histograms), and a scrape reads every file. The
    values of processes that are gone are added into one ``<type>_archive.db`` per
    type and their files removed, so a scrape's sums stay the same. Returns the
    files folded; 0 while another process folds or a scrape reads the folder.
    """
    path = path or directory()
    with _folder_lock(path, exclusive=True) as locked:
        if not locked:
            return 0
        dead: dict[str, list[Path]] = {}
        for file in path.glob("*_*.db"):
            match = _SUMMED.match(file.name)
            if match and not pid_alive(int(match.group(2))):
                dead.setdefault(match.group(1), []).append(file)
        return sum(_fold(path, typ, files) for typ, files in dead.items())


def _fold(path: Path, typ: str, files: list[Path]) -> int:
    """Add ``files`` into the type's archive (written aside, then moved in place)."""
    archive = path / f"{typ}_{ARCHIVE}.db"
    totals: dict[str, float] = {}
    for file in [archive, *files] if archive.exists() else files:
        # A histogram's files hold each bucket's own count, not the running total.
        for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(
            str(file)
        ):
            totals[key] = totals.get(key, 0.0) + value
    partial = path / f"{archive.name}.partial"
    partial.unlink(missing_ok=True)
    out = MmapedDict(str(partial))
    try:
        for key, total in totals.items():
            out.write_value(key, total, 0.0)
    finally:
        out.close()
    os.replace(partial, archive)
    for file in files:
        file.unlink(missing_ok=True)
    return len(files)


def tidy(path: Path | None = None) -> None:
    """Before a scrape, at a worker's start: forget the gone, fold the ended.

    Never raises: the scrape that follows says what is wrong with a file.
    """
    path = path or directory()
    try:
        forget_dead_processes(path)
        compact_dead_processes(path)
    except Exception:
        logger.exception("Could not tidy the metrics folder %s", path)


def process_started() -> None:
    """A process starts (a worker's pool child): drop live gauges left under its pid.

    pids are reused: the gauge file of an ended process with this pid would be
    read as this process's own values (a killed child's running attempts). Call it
    before this process touches a live gauge.
    """
    if multiprocess_enabled():
        mark_process_dead(os.getpid(), str(directory()))


def process_ended(pid: int | None = None) -> None:
    """A process is ending: its live gauges leave the sums."""
    if multiprocess_enabled():
        mark_process_dead(pid or os.getpid(), str(directory()))


class _Merged:
    """Django's metrics and the pipeline's, for a process outside multiprocess mode."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()
        yield from current().registry.collect()


class _FolderSums:
    """The folder's sums, read while no process folds files into the archives."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterator[Any]:
        with _folder_lock(self.path, exclusive=False):
            files = [str(f) for f in self.path.glob("*.db")]
            families = list(MultiProcessCollector.merge(files, accumulate=True))
        yield from families


class _PipelineOnly:
    """The pipeline's families of another collector (Django's left out)."""

    def __init__(self, inner: CollectorRegistry) -> None:
        self.inner = inner

    def collect(self) -> Iterator[Any]:
        for family in self.inner.collect():
            if family.name.startswith(f"{PREFIX}_"):
                yield family


def scrape_registry(*, pipeline_only: bool = False) -> CollectorRegistry:
    """What a scrape exports: the folder's sums (Django's metrics and ours).

    django-prometheus' metrics are in the folder too (they are made in the same
    mode); without the mode, this process's own values are all there is.
    """
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_enabled():
        path = directory()
        path.mkdir(parents=True, exist_ok=True)
        tidy(path)
        registry.register(_FolderSums(path))
    else:
        registry.register(_Merged())
    if pipeline_only:
        only = CollectorRegistry(auto_describe=False)
        only.register(_PipelineOnly(registry))
        return only
    return registry


def exposition(*, pipeline_only: bool = False) -> bytes:
    """The Prometheus text format of the current values."""
    return generate_latest(scrape_registry(pipeline_only=pipeline_only))


def snapshot(*, pipeline_only: bool = True) -> list[dict[str, Any]]:
    """The current values as plain data: one entry per metric family."""
    families = []
    for family in scrape_registry(pipeline_only=pipeline_only).collect():
        families.append(
            {
                "name": family.name,
                "type": family.type,
                "help": family.documentation,
                "samples": [
                    {"name": s.name, "labels": dict(s.labels), "value": s.value}
                    for s in sorted(
                        family.samples, key=lambda s: (s.name, sorted(s.labels.items()))
                    )
                ],
            }
        )
    return sorted(families, key=lambda f: f["name"])
