"""What a connection's syncs cost, and what would make them better.

Two parts, both reads (`airbyte pipeline resources|optimize` and the connection
page's Recommendations tab):

- **Resources**: the memory and CPU the recent attempts used, as the engine
  recorded them on each attempt (the engine's process and the connector's tree).
- **Recommendations**, each with the evidence behind it. ``connection_facts``
  gathers plain data from the rows (streams, the source's catalog, recent jobs,
  the schedule, the connector's versions); ``recommend`` is a pure function of
  those facts, so every rule is tested on facts set up to show it. The rules:

  * ``full_refresh_large``: a full-refresh stream that moves many records a sync
    while the source can read it incrementally;
  * ``dedup_without_pk``: Append + deduped with no primary key to dedup on;
  * ``longer_than_schedule``: syncs that take longer than the schedule's gap;
  * ``zero_records``: a selected stream that returned no record in any of the
    last few successful syncs;
  * ``connector_upgrade``: the source runs an older version than the catalog
    installs or the registry offers.
"""

from __future__ import annotations

import itertools
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import F, Prefetch, QuerySet, Window
from django.db.models.functions import RowNumber

from apps.connections.models import (
    Connection,
    DestinationSyncMode,
    SyncAttempt,
    SyncJob,
    SyncMode,
)
from apps.connectors.catalog.selectors import version_key

# How many recent attempts the resources summary covers per connection.
RESOURCE_ATTEMPTS = 10
# How many recent sync jobs the recommendations look at.
RECENT_JOBS = 5
# Fewer successful syncs than this say too little to call a stream always empty.
MIN_JOBS_FOR_ZERO = 3
# A full-refresh stream moving at least this many records a sync is "large".
LARGE_STREAM_RECORDS = 10_000

HIGH, MEDIUM, LOW = "high", "medium", "low"
_SEVERITY_ORDER = {HIGH: 0, MEDIUM: 1, LOW: 2}


# -- Resources --------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionResources:
    """What a connection's recent attempts cost (None: none of them measured it)."""

    connection: Connection
    attempts: int
    measured: int
    engine_peak_rss_bytes: int | None
    engine_cpu_seconds: float | None
    connector_peak_rss_bytes: int | None
    connector_cpu_seconds: float | None
    last_started_at: datetime | None


def attempt_resources(
    *, connection: Connection, limit: int = RESOURCE_ATTEMPTS
) -> list[SyncAttempt]:
    """The connection's latest finished attempts, newest first, with their job."""
    return list(
        SyncAttempt.objects.filter(job__connection=connection)
        .exclude(status=SyncAttempt.Status.RUNNING)
        .select_related("job")
        .order_by("-started_at", "-id")[:limit]
    )


def connection_resources(
    *,
    connections: QuerySet[Connection],
    limit: int = RESOURCE_ATTEMPTS,
) -> list[ConnectionResources]:
    """Per connection, its last ``limit`` finished attempts: peak memory (the
    largest) and CPU seconds (the mean per attempt), engine and connector apart.

    One query for the attempts of every connection (a window numbers them per
    connection), however many connections there are.
    """
    connections = list(connections)
    rows = (
        SyncAttempt.objects.filter(job__connection__in=connections)
        .exclude(status=SyncAttempt.Status.RUNNING)
        .annotate(
            connection_id=F("job__connection_id"),
            rank=Window(
                RowNumber(),
                partition_by=F("job__connection_id"),
                order_by=[F("started_at").desc(), F("id").desc()],
            ),
        )
        .filter(rank__lte=limit)
        .values(
            "connection_id",
            "started_at",
            "engine_peak_rss_bytes",
            "engine_cpu_seconds",
            "connector_peak_rss_bytes",
            "connector_cpu_seconds",
        )
    )
    by_connection: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_connection.setdefault(row["connection_id"], []).append(row)
    found = []
    for connection in connections:
        attempts = by_connection.get(connection.pk, [])
        found.append(
            ConnectionResources(
                connection=connection,
                attempts=len(attempts),
                measured=sum(
                    1 for a in attempts if a["engine_cpu_seconds"] is not None
                ),
                engine_peak_rss_bytes=_largest(attempts, "engine_peak_rss_bytes"),
                engine_cpu_seconds=_mean(attempts, "engine_cpu_seconds"),
                connector_peak_rss_bytes=_largest(attempts, "connector_peak_rss_bytes"),
                connector_cpu_seconds=_mean(attempts, "connector_cpu_seconds"),
                last_started_at=max((a["started_at"] for a in attempts), default=None),
            )
        )
    return found


def _largest(rows: list[dict[str, Any]], key: str) -> int | None:
    values = [row[key] for row in rows if row[key] is not None]
    return max(values) if values else None


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [row[key] for row in rows if row[key] is not None]
    return round(sum(values) / len(values), 2) if values else None


# -- Facts --------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamFacts:
    """One selected stream: how it is synced, what the source offers for it."""

    name: str
    namespace: str
    sync_mode: str
    destination_sync_mode: str
    primary_key: tuple[tuple[str, ...], ...] = ()
    supported_sync_modes: tuple[str, ...] = ("full_refresh",)
    source_primary_key: tuple[tuple[str, ...], ...] = ()
    default_cursor_field: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """How the engines name the stream in a job's stream stats."""
        return f"{self.namespace}.{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class JobFacts:
    """One recent sync job (not a reset), newest first in ``ConnectionFacts``."""

    public_id: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    records_committed: int
    # Per stream key: records the source sent in one read, the job's last attempt
    # (its succeeded one); None when the job did not say per attempt.
    stream_records: dict[str, int] | None
    # Per stream key: records sent over all the job's attempts (a retry reads
    # again, so this can count a row twice); None: as ``stream_records``.
    stream_records_total: dict[str, int] | None = None
    # The succeeded attempt's own time, when the job was retried (its span then
    # holds the failed attempts and the waits between them).
    attempt_duration: timedelta | None = None

    @property
    def duration(self) -> timedelta | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def sync_duration(self) -> timedelta | None:
        """How long the sync took: its successful attempt, else the job's span."""
        return self.attempt_duration or self.duration


@dataclass(frozen=True)
class ScheduleFacts:
    """When the connection syncs on its own: the shortest gap between runs."""

    description: str
    gap: timedelta
    # Interval schedules count from the end of the last sync; cron runs are due
    # at fixed times whatever the last sync did.
    from_last_sync: bool


@dataclass(frozen=True)
class ConnectorFacts:
    """The source's connector: the version it runs and the newer ones known."""

    name: str
    runs: str
    catalog: str = ""
    latest: str = ""


@dataclass(frozen=True)
class ConnectionFacts:
    """Everything the rules look at, as plain data."""

    streams: tuple[StreamFacts, ...]
    jobs: tuple[JobFacts, ...]
    schedule: ScheduleFacts | None = None
    source: ConnectorFacts | None = None


@dataclass(frozen=True)
class Recommendation:
    """One thing to change, why (``evidence``: the numbers) and how (``advice``)."""

    code: str
    severity: str
    title: str
    evidence: str
    advice: str
    stream: str = ""
    jobs: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["jobs"] = list(self.jobs)
        return data


def connection_facts(
    *, connection: Connection, jobs: int = RECENT_JOBS, now: datetime | None = None
) -> ConnectionFacts:
    """The facts of one connection, from its rows (a handful of queries)."""
    catalog = {
        (s.get("namespace") or "", s.get("name")): s
        for s in (connection.source.catalog or {}).get("streams", [])
    }
    streams = []
    for stream in connection.streams.filter(selected=True):
        offered = catalog.get((stream.namespace, stream.name), {})
        streams.append(
            StreamFacts(
                name=stream.name,
                namespace=stream.namespace,
                sync_mode=stream.sync_mode,
                destination_sync_mode=stream.destination_sync_mode,
                primary_key=_paths(stream.primary_key),
                supported_sync_modes=tuple(
                    offered.get("supported_sync_modes") or ("full_refresh",)
                ),
                source_primary_key=_paths(offered.get("source_defined_primary_key")),
                default_cursor_field=tuple(offered.get("default_cursor_field") or ()),
            )
        )
    attempts = SyncAttempt.objects.only(
        "job_id", "number", "status", "started_at", "finished_at", "progress"
    ).order_by("number")
    recent = (
        connection.jobs.exclude(trigger=SyncJob.Trigger.RESET)
        .filter(status__in=SyncJob.TERMINAL_STATUSES)
        .prefetch_related(Prefetch("attempts", queryset=attempts))
        .order_by("-created_at", "-id")[:jobs]
    )
    return ConnectionFacts(
        streams=tuple(streams),
        jobs=tuple(_job_facts(job) for job in recent),
        schedule=_schedule_facts(connection, now),
        source=_connector_facts(connection),
    )


def _paths(value: Any) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(str(p) for p in path) for path in value or () if path)


def _job_facts(job: SyncJob) -> JobFacts:
    """A job's facts. Its ``stream_stats`` add up every attempt (lifecycle merges
    them), so a retried full refresh counts its rows twice; one read's counts
    are the last attempt's own: the per-stream counters its heartbeat stored in
    ``progress``. A job without per-stream stats (an Airbyte server's) says
    nothing per stream, not that every stream was empty."""
    attempts = list(job.attempts.all())
    last = next(
        (a for a in reversed(attempts) if a.status == SyncAttempt.Status.SUCCEEDED),
        attempts[-1] if attempts else None,
    )
    total = _records(job.stream_stats)
    if len(attempts) <= 1:
        # One attempt (or none recorded): the job's totals are that read's.
        per_attempt = total
    else:
        per_attempt = _records(last.progress) if last is not None else None
    attempt_duration = None
    if (
        len(attempts) > 1
        and last is not None
        and last.status == SyncAttempt.Status.SUCCEEDED
        and last.finished_at is not None
    ):
        attempt_duration = last.finished_at - last.started_at
    return JobFacts(
        public_id=str(job.public_id),
        status=job.status,
        started_at=job.started_at,
        finished_at=job.finished_at,
        records_committed=job.records_committed,
        stream_records=per_attempt,
        stream_records_total=total,
        attempt_duration=attempt_duration,
    )


def _records(stats: Any) -> dict[str, int] | None:
    """Records the source sent per stream key, from stream stats or an attempt's
    progress (both keyed by stream, a dict of counters each); None if none."""
    if not isinstance(stats, dict):
        return None
    found = {
        key: int(value.get("records_emitted", value.get("records_committed")) or 0)
        for key, value in stats.items()
        if isinstance(value, dict)
    }
    return found or None


def _schedule_facts(
    connection: Connection, now: datetime | None
) -> ScheduleFacts | None:
    # The schedules app sits above this one; its row is read through the
    # relation it declares (as the connection page does), not by importing it.
    try:
        schedule = connection.schedule
    except ObjectDoesNotExist:
        return None
    if schedule.paused:
        return None
    if schedule.kind == "interval" and schedule.interval_minutes:
        return ScheduleFacts(
            description=schedule.description,
            gap=timedelta(minutes=schedule.interval_minutes),
            from_last_sync=True,
        )
    if schedule.kind == "cron" and schedule.cron_expression:
        gap = cron_gap(schedule.cron_expression, schedule.timezone, now)
        if gap is not None:
            return ScheduleFacts(
                description=schedule.description, gap=gap, from_last_sync=False
            )
    return None


def cron_gap(
    expression: str, zone: str, now: datetime | None = None
) -> timedelta | None:
    """The shortest gap between the next runs of a cron expression."""
    from cronsim import CronSim, CronSimError
    from django.utils import timezone

    start = (now or timezone.now()).astimezone(ZoneInfo(zone or "UTC"))
    try:
        runs = CronSim(expression, start)
        times = [next(runs) for _ in range(25)]
    except (CronSimError, StopIteration, ValueError):
        return None
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    return min(gaps) if gaps else None


def _connector_facts(connection: Connection) -> ConnectorFacts | None:
    source = connection.source
    definition = source.definition
    runs = source.pinned_version
    if not runs or definition.builtin:
        return None
    return ConnectorFacts(
        name=definition.name,
        runs=runs,
        catalog=definition.pypi_version,
        latest=definition.latest_version,
    )


# -- Rules ----------------------------------------------------------------------------


def recommend(
    facts: ConnectionFacts,
    *,
    large_records: int = LARGE_STREAM_RECORDS,
    min_jobs_for_zero: int = MIN_JOBS_FOR_ZERO,
) -> list[Recommendation]:
    """Every recommendation the facts support, the most pressing first."""
    found = [
        *_dedup_without_pk(facts),
        *_longer_than_schedule(facts),
        *_full_refresh_large(facts, large_records),
        *_zero_records(facts, min_jobs_for_zero),
        *_connector_upgrade(facts),
    ]
    return sorted(found, key=lambda r: _SEVERITY_ORDER[r.severity])


def connection_recommendations(
    *, connection: Connection, jobs: int = RECENT_JOBS
) -> list[Recommendation]:
    """``recommend`` over the connection's rows."""
    return recommend(connection_facts(connection=connection, jobs=jobs))


def _succeeded(facts: ConnectionFacts) -> list[JobFacts]:
    return [j for j in facts.jobs if j.status == SyncJob.Status.SUCCEEDED]


def _dedup_without_pk(facts: ConnectionFacts) -> list[Recommendation]:
    found = []
    for stream in facts.streams:
        if stream.destination_sync_mode != DestinationSyncMode.APPEND_DEDUP:
            continue
        if stream.primary_key:
            continue
        offered = (
            f" The source suggests {_key_text(stream.source_primary_key)}."
            if stream.source_primary_key
            else ""
        )
        found.append(
            Recommendation(
                code="dedup_without_pk",
                severity=HIGH,
                stream=stream.key,
                title=f"{stream.key}: Append + deduped without a primary key",
                evidence=(
                    f"{stream.key} is synced as Append + deduped, but no primary "
                    "key is set: there is nothing to dedup on, so every sync "
                    "appends rows the table already holds."
                ),
                advice=(
                    "Choose the primary key on the connection's stream settings, "
                    "or sync the stream as Append or Overwrite." + offered
                ),
            )
        )
    return found


def _key_text(key: tuple[tuple[str, ...], ...]) -> str:
    return ", ".join(".".join(path) for path in key)


def _longer_than_schedule(facts: ConnectionFacts) -> list[Recommendation]:
    schedule = facts.schedule
    if schedule is None:
        return []
    # Only syncs that succeeded say how long a sync takes (a hung connector
    # cancelled after hours does not), each by its successful attempt: a retried
    # job's span also holds the failed attempts and the back-off between them.
    timed = [(j, j.sync_duration) for j in _succeeded(facts) if j.sync_duration]
    over = [(j, d) for j, d in timed if d > schedule.gap]
    if not over:
        return []
    longest_job, longest = max(over, key=lambda pair: pair[1])
    if schedule.from_last_sync:
        effect = (
            "The interval counts from the end of the last sync, so data arrives "
            f"every {_duration(longest + schedule.gap)} or so, not every "
            f"{_duration(schedule.gap)}."
        )
    else:
        effect = (
            "Runs that fall due while a sync is still running are skipped, so "
            "the schedule is not kept."
        )
    return [
        Recommendation(
            code="longer_than_schedule",
            severity=HIGH,
            title="Syncs take longer than the schedule's gap",
            evidence=(
                f"{len(over)} of the last {len(timed)} successful syncs took longer "
                f"than {_duration(schedule.gap)} ({schedule.description}); the "
                f"longest took {_duration(longest)} (job {longest_job.public_id}). "
                "Each is timed by its successful attempt; failed and cancelled "
                "syncs, and the waits before retries, are left out. " + effect
            ),
            advice=(
                f"Give the schedule a gap of at least {_duration(longest)}, or "
                "make the sync shorter: incremental streams, fewer streams or "
                "fields."
            ),
            jobs=tuple(j.public_id for j, _ in over),
        )
    ]


def _full_refresh_large(
    facts: ConnectionFacts, large_records: int
) -> list[Recommendation]:
    succeeded = [j for j in _succeeded(facts) if j.stream_records is not None]
    if not succeeded:
        return []
    found = []
    for stream in facts.streams:
        if stream.sync_mode != SyncMode.FULL_REFRESH:
            continue
        if SyncMode.INCREMENTAL not in stream.supported_sync_modes:
            continue
        # Only syncs that read the stream (it may have been selected since).
        synced = [j for j in succeeded if stream.key in j.stream_records]
        if not synced:
            continue
        counts = [j.stream_records[stream.key] for j in synced]
        typical = int(statistics.median(counts))
        if typical < large_records:
            continue
        cursor = (
            f" (cursor: {'.'.join(stream.default_cursor_field)})"
            if stream.default_cursor_field
            else ""
        )
        mode = (
            "Incremental | Append + deduped"
            if stream.primary_key or stream.source_primary_key
            else "Incremental | Append"
        )
        found.append(
            Recommendation(
                code="full_refresh_large",
                severity=MEDIUM,
                stream=stream.key,
                title=f"{stream.key}: full refresh of a large stream",
                evidence=(
                    f"{stream.key} is read in full every sync: "
                    f"{_counts(counts)} records in the last {len(counts)} "
                    f"successful syncs (median {typical:,}); the source can read "
                    f"it incrementally{cursor}."
                ),
                advice=(
                    f"Switch {stream.key} to {mode}: each sync then reads only "
                    "what changed since the last one."
                ),
                jobs=tuple(j.public_id for j in synced),
            )
        )
    return found


def _zero_records(facts: ConnectionFacts, min_jobs: int) -> list[Recommendation]:
    # Over all attempts: rows a failed attempt committed before a retry count.
    totals = [
        (j, j.stream_records_total or j.stream_records) for j in _succeeded(facts)
    ]
    found = []
    for stream in facts.streams:
        # Only syncs whose stats name the stream: one selected after a sync ran
        # was not read by it, so that sync says nothing about the stream.
        synced = [(j, t) for j, t in totals if t is not None and stream.key in t]
        if len(synced) < min_jobs or any(t[stream.key] for _, t in synced):
            continue
        succeeded = [j for j, _ in synced]
        found.append(
            Recommendation(
                code="zero_records",
                severity=LOW,
                stream=stream.key,
                title=f"{stream.key}: no records in the last {len(succeeded)} syncs",
                evidence=(
                    f"{stream.key} returned 0 records in each of the last "
                    f"{len(succeeded)} successful syncs."
                ),
                advice=(
                    "Deselect the stream if it is expected to be empty (each sync "
                    "still asks the source for it), or check the source's settings "
                    "(start date, filters, permissions) if it should have data."
                ),
                jobs=tuple(j.public_id for j in succeeded),
            )
        )
    return found


def _connector_upgrade(facts: ConnectionFacts) -> list[Recommendation]:
    source = facts.source
    if source is None:
        return []
    newer = [
        (what, version)
        for what, version in (
            ("the catalog installs", source.catalog),
            ("the registry's latest is", source.latest),
        )
        if version and _newer(version, source.runs)
    ]
    if not newer:
        return []
    said = "; ".join(f"{what} {version}" for what, version in newer)
    return [
        Recommendation(
            code="connector_upgrade",
            severity=LOW,
            title=f"{source.name}: a newer version is known",
            evidence=f"The source runs {source.name} {source.runs}; {said}.",
            advice=(
                "Move the source to the newer version on its page (a console "
                "admin installs it from the catalog first); read the connector's "
                "changelog: a new major version may change its streams."
            ),
        )
    ]


def _newer(candidate: str, current: str) -> bool:
    try:
        return version_key(candidate) > version_key(current)
    except TypeError:
        return False


def _counts(counts: list[int]) -> str:
    return ", ".join(f"{c:,}" for c in counts)


def _duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
