"""Data quality of a connection's synced data (issue #17): read, never written.

Per stream: the rows in its destination table now, NULLs per column over a sample
of the latest rows, the values the writer could not cast (``_airbyte_meta``
changes in that sample), primary keys found more than once, the columns that
appeared in the table or vanished from it compared with the stream's JSON schema,
and the last sync's record count against the recent ones.

The destination is read through the workspace's engine
(``Engine.profile_tables``); the drift comes from the console's own job history
(``SyncJob.stream_stats``), so it is answered even when the destination is not.
A DuckDB file is not read while a job of a connection writing to it is pending,
running or cancelling: a reader's lock would keep the sync's writer out (the
report says so and gives the drift alone).

Drift rule: a stream's last successful sync is an anomaly when there are at least
``DRIFT_MIN_PRIOR`` earlier successful syncs of it (among the last
``DRIFT_HISTORY``) and its record count is both more than ``DRIFT_MADS`` median
absolute deviations (scaled by 1.4826, so one is a standard deviation for normal
data) from their median and at least half the median away from it (and at least
``DRIFT_MIN_RECORDS`` records). The second condition keeps a stream that always
brings exactly 200 records from being flagged for 201. A successful sync without
a count for a stream brought none of its records: it counts 0 (from the first
sync in the history that counted the stream on), so a stream that stops bringing
records is flagged.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from apps.connections.models import Connection, SyncJob
from apps.engines.base import EngineError, ProfileStream, TableProfile
from apps.engines.registry import destination as registry_destination
from apps.engines.registry import get_engine

SAMPLE_ROWS = 10_000
MAX_SAMPLE_ROWS = 1_000_000
STATEMENT_SECONDS = 15.0

DUCKDB = "duckdb"
DUCKDB_BUSY = "A sync is writing to this DuckDB file; check again when it ends."
# A job in these states has the file open or is about to open it.
WRITING_STATUSES = (
    SyncJob.Status.PENDING,
    SyncJob.Status.RUNNING,
    SyncJob.Status.CANCELLING,
)

DRIFT_HISTORY = 30
DRIFT_MIN_PRIOR = 5
DRIFT_MADS = 3.0
DRIFT_MIN_CHANGE = 0.5
DRIFT_MIN_RECORDS = 10
MAD_SCALE = 1.4826


@dataclass(frozen=True)
class ColumnQuality:
    """NULLs of one column in the sample."""

    name: str
    nulls: int
    null_ratio: float

    @property
    def percent(self) -> float:
        """The null ratio in percent, to one decimal."""
        return round(self.null_ratio * 100, 1)


@dataclass(frozen=True)
class Drift:
    """The last sync's record count of a stream against the syncs before it."""

    last: int | None
    prior_syncs: int
    median: float | None = None
    mad: float | None = None
    change: float | None = None  # (last - median) / median; None when median is 0
    anomaly: bool = False
    verdict: str = ""


@dataclass(frozen=True)
class StreamQuality:
    """Everything the check says of one stream."""

    name: str
    namespace: str
    location: str
    found: bool
    rows: int | None
    sample_rows: int
    primary_key: list[list[str]]
    columns: list[ColumnQuality]
    cast_failures: list[dict[str, Any]]
    failed_casts: int
    duplicate_keys: int | None
    duplicate_rows: int | None
    appeared: list[str]
    vanished: list[str]
    drift: Drift
    notes: list[str]

    @property
    def label(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name

    @property
    def problems(self) -> int:
        """How many kinds of trouble this stream shows (0: it looks healthy)."""
        return sum(
            (
                bool(self.failed_casts),
                bool(self.duplicate_keys),
                bool(self.appeared or self.vanished),
                self.drift.anomaly,
                not self.found,
            )
        )


@dataclass(frozen=True)
class QualityReport:
    """A quality check of one connection at ``checked_at``."""

    connection: str
    connection_id: str
    destination: str
    checked_at: datetime
    sample_limit: int
    error: str
    streams: list[StreamQuality] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["checked_at"] = self.checked_at.isoformat()
        return data


def connection_quality(
    *,
    connection: Connection,
    sample_rows: int = SAMPLE_ROWS,
    statement_seconds: float = STATEMENT_SECONDS,
) -> QualityReport:
    """Check the data of ``connection``'s selected streams now.

    Reads the destination through the workspace's engine, each statement bounded
    by ``statement_seconds``; a destination that cannot be read gives a report
    with ``error`` set (the drift is still there: it needs only the job history).
    """
    from apps.connectors.selectors import connector_full_config

    sample_rows = max(1, min(int(sample_rows), MAX_SAMPLE_ROWS))
    streams = list(connection.streams.filter(selected=True))
    keys = {s.pk: primary_key_of(s, connection.source.catalog) for s in streams}
    wanted = tuple(
        ProfileStream(
            name=s.name,
            namespace=s.namespace or None,
            json_schema=s.synced_json_schema,
            primary_key=tuple(tuple(p) for p in keys[s.pk]),
        )
        for s in streams
    )
    error = ""
    profiles: list[TableProfile] = []
    if wanted and duckdb_file_busy(connection):
        # Reading the file would hold a lock the sync's writer needs.
        error = DUCKDB_BUSY
    elif wanted:
        destination = connection.destination
        try:
            profiles = get_engine(connection.workspace).profile_tables(
                destination_definition=destination.definition.ref,
                destination_config=connector_full_config(destination),
                namespace=connection.namespace,
                table_prefix=connection.table_prefix,
                streams=wanted,
                workspace_id=str(connection.workspace.public_id),
                sample_rows=sample_rows,
                statement_seconds=statement_seconds,
            )
        except EngineError as exc:
            error = exc.message
    drifts = stream_drifts(connection=connection)
    by_key = {(p.namespace or "", p.name): p for p in profiles}
    result = []
    for stream in streams:
        profile = by_key.get((stream.namespace or "", stream.name))
        key = f"{stream.namespace}.{stream.name}" if stream.namespace else stream.name
        drift = drifts.get(key, Drift(None, 0))
        result.append(_stream_quality(stream, keys[stream.pk], profile, drift))
    return QualityReport(
        connection=connection.name,
        connection_id=str(connection.public_id),
        destination=connection.destination.name,
        checked_at=timezone.now(),
        sample_limit=sample_rows,
        error=error,
        streams=result,
    )


def duckdb_file_busy(connection: Connection) -> bool:
    """Whether a job that writes to ``connection``'s DuckDB file is pending,
    running or cancelling (this connection's, or another's with the same file)."""
    destination = connection.destination
    if destination.definition.builtin != DUCKDB:
        return False
    own = _duckdb_file(destination, connection.workspace)
    if own is None:
        return False
    jobs = (
        SyncJob.objects.filter(
            status__in=WRITING_STATUSES,
            connection__destination__definition__builtin=DUCKDB,
        )
        .select_related("connection__destination", "connection__workspace")
        .order_by()
    )
    seen = set()
    for job in jobs:
        other = job.connection.destination
        if other.pk in seen:
            continue
        seen.add(other.pk)
        if _duckdb_file(other, job.connection.workspace) == own:
            return True
    return False


def _duckdb_file(destination: Any, workspace: Any) -> str | None:
    """The file a DuckDB destination writes, resolved as its sync resolves it."""
    descriptor = registry_destination(DUCKDB)
    if descriptor is None:
        return None
    try:
        config = descriptor.prepare_config(
            dict(destination.config or {}), workspace_id=str(workspace.public_id)
        )
    except ValueError:
        return None  # a path the console refuses: no sync writes it
    return str(config.get("destination_path") or "") or None


def primary_key_of(stream: Any, catalog: dict[str, Any] | None) -> list[list[str]]:
    """The stream's primary key: the connection's, else the one its source defines.

    Only an ``append_dedup`` stream stores its key; an appended stream still has
    the source's, and its duplicates are what a person wants to know about.
    """
    own = [list(p) for p in (stream.primary_key or []) if p]
    if own:
        return own
    for entry in (catalog or {}).get("streams") or []:
        if entry.get("name") == stream.name and (entry.get("namespace") or "") == (
            stream.namespace or ""
        ):
            return [list(p) for p in entry.get("source_defined_primary_key") or [] if p]
    return []


def _stream_quality(
    stream: Any,
    primary_key: list[list[str]],
    profile: TableProfile | None,
    drift: Drift,
) -> StreamQuality:
    if profile is None:
        return StreamQuality(
            name=stream.name,
            namespace=stream.namespace or "",
            location="",
            found=False,
            rows=None,
            sample_rows=0,
            primary_key=primary_key,
            columns=[],
            cast_failures=[],
            failed_casts=0,
            duplicate_keys=None,
            duplicate_rows=None,
            appeared=[],
            vanished=[],
            drift=drift,
            notes=[],
        )
    sampled = profile.sample_rows
    columns = [
        ColumnQuality(
            name=name,
            nulls=nulls,
            null_ratio=round(nulls / sampled, 4) if sampled else 0.0,
        )
        for name, nulls in profile.nulls.items()
    ]
    failures = [
        {"field": f, "change": c, "reason": r, "count": n}
        for f, c, r, n in profile.cast_failures
    ]
    present = set(profile.columns)
    expected = list(profile.expected_columns)
    return StreamQuality(
        name=stream.name,
        namespace=stream.namespace or "",
        location=profile.location,
        found=profile.found,
        rows=profile.rows,
        sample_rows=sampled,
        primary_key=primary_key,
        columns=columns,
        cast_failures=failures,
        failed_casts=sum(f["count"] for f in failures if f["change"] == "NULLED"),
        duplicate_keys=profile.duplicate_keys,
        duplicate_rows=profile.duplicate_rows,
        appeared=[c for c in profile.columns if c not in set(expected)]
        if profile.found
        else [],
        vanished=[c for c in expected if c not in present] if profile.found else [],
        drift=drift,
        notes=list(profile.notes),
    )


def stream_drifts(*, connection: Connection) -> dict[str, Drift]:
    """Per stream key (``namespace.name``): the last successful sync's count
    against the earlier ones (see the module docstring for the rule).

    Every selected stream is answered, and every stream the last sync or an
    earlier one counted. A successful sync that has no count for a stream brought
    none of its records (the sync counts a stream only when a record or a status
    of it arrives): it counts 0, from the oldest sync in the history that counted
    the stream on (before that the stream may not have been synced at all). A
    stream no longer selected that the last sync did not count is left out.
    """
    jobs = [
        stats if isinstance(stats, dict) else {}
        for stats in connection.jobs.filter(status=SyncJob.Status.SUCCEEDED)
        .exclude(trigger=SyncJob.Trigger.RESET)
        .order_by("-finished_at", "-id")
        .values_list("stream_stats", flat=True)[: DRIFT_HISTORY + 1]
    ]
    if not jobs:
        return {}
    selected = {
        f"{namespace}.{name}" if namespace else name
        for namespace, name in connection.streams.filter(selected=True).values_list(
            "namespace", "name"
        )
    }
    seen = {key for job in jobs for key in job}
    result = {}
    for key in sorted(selected | seen):
        if key not in selected and key not in jobs[0]:
            continue
        counted = [i for i, job in enumerate(jobs) if key in job]
        if not counted:
            result[key] = Drift(
                last=None,
                prior_syncs=0,
                verdict=f"no records in the last {len(jobs)} successful syncs",
            )
            continue
        counts = [_committed(job, key) for job in jobs[: counted[-1] + 1]]
        last = counts[0]
        if last is None:
            continue
        prior = [c for c in counts[1:] if c is not None]
        result[key] = drift_of(last, prior)
    return result


def _committed(stream_stats: dict[str, Any], key: str) -> int | None:
    """A job's records for a stream: 0 when it has none, None when unreadable."""
    if key not in stream_stats:
        return 0
    stats = stream_stats[key]
    count = stats.get("records_committed") if isinstance(stats, dict) else None
    return int(count) if isinstance(count, int | float) else None


def drift_of(last: int, prior: list[float]) -> Drift:
    """Is ``last`` an anomaly against ``prior`` counts (the module's rule)."""
    if len(prior) < DRIFT_MIN_PRIOR:
        return Drift(
            last=last,
            prior_syncs=len(prior),
            verdict=f"not enough history ({len(prior)} of {DRIFT_MIN_PRIOR} "
            "earlier syncs)",
        )
    median = float(statistics.median(prior))
    mad = float(statistics.median(abs(p - median) for p in prior))
    distance = abs(last - median)
    change = (last - median) / median if median else None
    far = distance > DRIFT_MADS * MAD_SCALE * mad
    big = distance >= max(DRIFT_MIN_CHANGE * median, DRIFT_MIN_RECORDS)
    anomaly = far and big
    if anomaly:
        direction = "more" if last > median else "fewer"
        how = f"{abs(change):.0%} {direction}" if change is not None else direction
        verdict = f"anomaly: {last:,} records, {how} than the median {median:,.0f}"
    else:
        verdict = f"normal ({last:,} records, median {median:,.0f})"
    return Drift(
        last=last,
        prior_syncs=len(prior),
        median=median,
        mad=mad,
        change=round(change, 4) if change is not None else None,
        anomaly=anomaly,
        verdict=verdict,
    )
