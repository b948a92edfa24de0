"""Reading the Metrics page's numbers: a workspace's syncs over a period.

Everything comes from the job rows (not Prometheus), in a fixed number of queries
whatever the number of jobs: counts, records and time spent are summed in SQL,
per connection and per bar of the chart; the percentiles are PostgreSQL's
``percentile_cont``, or on SQLite (which has none) computed here over the newest
``SAMPLE_LIMIT`` jobs.

A job counts in a period when it ended in it. Resets are left out: they move no
records, and a person reads this page for how the syncs go.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import connections
from django.db.models import (
    Aggregate,
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from apps.connections.models import Connection, SyncJob
from apps.workspaces.models import Workspace

Status = SyncJob.Status

# Without percentile_cont the durations are read into Python; this bounds how many.
SAMPLE_LIMIT = 20_000


@dataclass(frozen=True)
class Period:
    """A window the page looks back over, and the width of its chart's bars."""

    key: str
    label: str
    span: timedelta
    bucket_hours: int


PERIODS: dict[str, Period] = {
    p.key: p
    for p in (
        Period("24h", "24 hours", timedelta(hours=24), 1),
        Period("7d", "7 days", timedelta(days=7), 6),
        Period("30d", "30 days", timedelta(days=30), 24),
    )
}
DEFAULT_PERIOD = "7d"


@dataclass
class Outcomes:
    """Counts of ended syncs by how they ended, with what they moved and took."""

    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    records: int = 0
    # Seconds between start and end, summed over the syncs that started.
    busy_seconds: float = 0.0

    @property
    def total(self) -> int:
        return self.succeeded + self.failed + self.cancelled

    @property
    def success_rate(self) -> float | None:
        """Succeeded out of succeeded and failed: a cancel is a person's choice,
        not a failure of the pipeline."""
        decided = self.succeeded + self.failed
        return self.succeeded / decided if decided else None

    @property
    def records_per_second(self) -> float | None:
        return self.records / self.busy_seconds if self.busy_seconds else None


@dataclass
class Spread:
    """The median and 95th percentile of a time, in seconds (None: no data)."""

    p50: float | None = None
    p95: float | None = None


@dataclass
class ConnectionMetrics:
    """One connection's syncs in the period."""

    public_id: UUID
    name: str
    outcomes: Outcomes = field(default_factory=Outcomes)
    # Of the syncs that succeeded: a failure after a second says little of speed.
    duration: Spread = field(default_factory=Spread)
    queue_wait: Spread = field(default_factory=Spread)


@dataclass
class Bucket:
    """One bar of the throughput chart: syncs that ended in [start, end).

    ``start`` is an instant (in UTC) that is a round hour (or midnight) in the
    viewer's zone; ``end`` is the next bar's start. A bar is as long as the clock
    says, not as its nominal width: 5 hours for the 6-hour bar that a DST change
    shortens, and only its part of the period for the first and last bars.
    """

    start: datetime
    end: datetime
    # How long of [start, end) lies in the period [since, until].
    seconds: float
    outcomes: Outcomes = field(default_factory=Outcomes)

    @property
    def records_per_second(self) -> float | None:
        return self.outcomes.records / self.seconds if self.seconds > 0 else None


@dataclass
class SyncMetrics:
    """What the Metrics page shows for one workspace and period."""

    period: Period
    since: datetime
    until: datetime
    outcomes: Outcomes
    duration: Spread
    queue_wait: Spread
    # (origin value, count) of failed syncs, most first; "" is an unknown origin.
    failures_by_origin: list[tuple[str, int]]
    connections: list[ConnectionMetrics]
    buckets: list[Bucket]
    # The percentiles were computed over the newest SAMPLE_LIMIT syncs only.
    sampled: bool = False


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expr)``.

    It interpolates between the two nearest values, as ``percentile`` below does.
    The fraction is a float the code chooses, written into the SQL as a literal.
    """

    function = "PERCENTILE_CONT"
    name = "PercentileCont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def percentile(ordered: list[float], fraction: float) -> float | None:
    """The ``fraction`` percentile of sorted values, interpolated like
    ``percentile_cont``; None for no values."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def period_jobs(
    *, workspace: Workspace, since: datetime, until: datetime
) -> QuerySet[SyncJob]:
    """The workspace's syncs (not resets) that ended in ``[since, until]``."""
    # connection_id IN (subquery) lets the database use the job indexes directly.
    return (
        SyncJob.objects.filter(
            connection_id__in=Connection.objects.for_workspace(workspace).values("pk"),
            status__in=SyncJob.TERMINAL_STATUSES,
            finished_at__gte=since,
            finished_at__lte=until,
        )
        .exclude(trigger=SyncJob.Trigger.RESET)
        .order_by()
    )


def _seconds(value: timedelta | float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


def _duration() -> ExpressionWrapper:
    return ExpressionWrapper(
        F("finished_at") - F("started_at"), output_field=DurationField()
    )


def _queue_wait() -> ExpressionWrapper:
    # The job's started_at is set when its first attempt is claimed (embedded) or
    # handed to the Airbyte server (airbyte), in the same transaction: it is the
    # first attempt's start on both engines, and needs no join.
    return ExpressionWrapper(
        F("started_at") - F("created_at"), output_field=DurationField()
    )


def sync_metrics(
    *,
    workspace: Workspace,
    period: Period,
    now: datetime | None = None,
    percentiles_in_database: bool | None = None,
) -> SyncMetrics:
    """The Metrics page's numbers for ``workspace`` over ``period`` up to ``now``.

    Five queries at most (two when nothing ended in the period), whatever the
    number of jobs. ``percentiles_in_database`` defaults to whether the database
    is PostgreSQL.
    """
    until = now or timezone.now()
    since = until - period.span
    jobs = period_jobs(workspace=workspace, since=since, until=until)
    if percentiles_in_database is None:
        percentiles_in_database = connections[jobs.db].vendor == "postgresql"

    totals = Outcomes()
    per_connection: dict[int, Outcomes] = defaultdict(Outcomes)
    failures: dict[str, int] = defaultdict(int)
    rows = jobs.values("connection_id", "status", "failure_origin").annotate(
        n=Count("id"), records=Sum("records_committed"), busy=Sum(_duration())
    )
    for row in rows:
        for outcomes in (totals, per_connection[row["connection_id"]]):
            _add(outcomes, row["status"], row["n"], row["records"], row["busy"])
        if row["status"] == Status.FAILED:
            failures[row["failure_origin"]] += row["n"]

    buckets = _buckets(jobs, since=since, until=until, hours=period.bucket_hours)
    metrics = SyncMetrics(
        period=period,
        since=since,
        until=until,
        outcomes=totals,
        duration=Spread(),
        queue_wait=Spread(),
        failures_by_origin=sorted(failures.items(), key=lambda item: -item[1]),
        connections=[],
        buckets=buckets,
    )
    if not per_connection:
        return metrics

    names = {
        pk: (public_id, name)
        for pk, public_id, name in Connection.objects.filter(
            pk__in=list(per_connection)
        ).values_list("pk", "public_id", "name")
    }
    by_pk = {
        pk: ConnectionMetrics(public_id=names[pk][0], name=names[pk][1], outcomes=o)
        for pk, o in per_connection.items()
        if pk in names
    }
    if percentiles_in_database:
        _percentiles_in_database(jobs, metrics, by_pk)
    else:
        _percentiles_in_python(jobs, metrics, by_pk)
    metrics.connections = sorted(by_pk.values(), key=lambda c: c.name.lower())
    return metrics


def _add(outcomes: Outcomes, status: str, n: int, records: Any, busy: Any) -> None:
    if status == Status.SUCCEEDED:
        outcomes.succeeded += n
    elif status == Status.FAILED:
        outcomes.failed += n
    else:
        outcomes.cancelled += n
    outcomes.records += records or 0
    outcomes.busy_seconds += _seconds(busy) or 0.0


def _buckets(
    jobs: QuerySet[SyncJob], *, since: datetime, until: datetime, hours: int
) -> list[Bucket]:
    """Every bar of the chart from ``since`` to ``until``, its bounds round hours
    (midnights for day-wide bars) in the current time zone, filled from one query.

    Bars are told apart by their instant, not their wall-clock time: the hour a
    DST fall-back repeats is two bars. Each job is put in its bar by the database
    comparing ``finished_at`` with the bars' bounds, so no local time is ever
    read back (a local 02:00 on that night would not say which one it was).
    """
    starts: set[datetime] = set()
    moment = since
    # Quarter-hour steps reach every bar, in zones with half-hour offsets too.
    while moment < until:
        starts.add(_bucket_start(moment, hours))
        moment += timedelta(minutes=15)
    starts.add(_bucket_start(until, hours))
    ordered = sorted(starts)
    if len(ordered) > 1 and ordered[-1] == until:
        # ``until`` is a bar's first instant: that bar would last no time, and
        # a job ending at exactly ``until`` belongs to the bar before.
        ordered.pop()
    ends = [*ordered[1:], until]
    buckets = [
        Bucket(
            start=start,
            end=end,
            seconds=(min(end, until) - max(start, since)).total_seconds(),
        )
        for start, end in zip(ordered, ends, strict=True)
    ]

    index = Case(
        *(
            When(finished_at__lt=bucket.end, then=Value(n))
            for n, bucket in enumerate(buckets[:-1])
        ),
        default=Value(len(buckets) - 1),
        output_field=IntegerField(),
    )
    rows = (
        jobs.annotate(bar=index)
        .values("bar", "status")
        .annotate(n=Count("id"), records=Sum("records_committed"))
    )
    for row in rows:
        _add(
            buckets[row["bar"]].outcomes, row["status"], row["n"], row["records"], None
        )
    return buckets


def _bucket_start(moment: datetime, hours: int) -> datetime:
    """The instant (UTC) the bar holding ``moment`` starts at in the current zone."""
    local = timezone.localtime(moment)
    if hours >= 24:
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        start = local.replace(
            hour=local.hour - local.hour % hours, minute=0, second=0, microsecond=0
        )
    if hours > 1:
        # A bar of several hours: if its start's wall time came twice, the bar
        # began at the first (``fold`` 0), whichever of them ``local`` was in.
        start = start.replace(fold=0)
    # An aware datetime keeps its fold through astimezone (comparisons between
    # two in the same zone ignore it): the repeated hour gets its own instant.
    return start.astimezone(UTC)


def _percentiles_in_database(
    jobs: QuerySet[SyncJob],
    metrics: SyncMetrics,
    by_pk: dict[int, ConnectionMetrics],
) -> None:
    succeeded = Q(status=Status.SUCCEEDED)
    aggregates = {
        "d50": PercentileCont(_duration(), 0.5, filter=succeeded),
        "d95": PercentileCont(_duration(), 0.95, filter=succeeded),
        "w50": PercentileCont(_queue_wait(), 0.5),
        "w95": PercentileCont(_queue_wait(), 0.95),
    }
    for row in jobs.values("connection_id").annotate(**aggregates):
        found = by_pk.get(row["connection_id"])
        if found is not None:
            found.duration = Spread(_seconds(row["d50"]), _seconds(row["d95"]))
            found.queue_wait = Spread(_seconds(row["w50"]), _seconds(row["w95"]))
    overall = jobs.aggregate(**aggregates)
    metrics.duration = Spread(_seconds(overall["d50"]), _seconds(overall["d95"]))
    metrics.queue_wait = Spread(_seconds(overall["w50"]), _seconds(overall["w95"]))


def _percentiles_in_python(
    jobs: QuerySet[SyncJob],
    metrics: SyncMetrics,
    by_pk: dict[int, ConnectionMetrics],
) -> None:
    rows = list(
        jobs.annotate(duration=_duration(), wait=_queue_wait())
        .order_by("-finished_at")
        .values_list("connection_id", "status", "duration", "wait")[:SAMPLE_LIMIT]
    )
    metrics.sampled = len(rows) == SAMPLE_LIMIT
    durations: dict[int | None, list[float]] = defaultdict(list)
    waits: dict[int | None, list[float]] = defaultdict(list)
    for connection_id, status, duration, wait in rows:
        if status == Status.SUCCEEDED and duration is not None:
            for key in (None, connection_id):
                durations[key].append(_seconds(duration))
        if wait is not None:
            for key in (None, connection_id):
                waits[key].append(_seconds(wait))
    for values in (*durations.values(), *waits.values()):
        values.sort()

    def spread(values: list[float]) -> Spread:
        return Spread(percentile(values, 0.5), percentile(values, 0.95))

    for pk, found in by_pk.items():
        found.duration = spread(durations.get(pk, []))
        found.queue_wait = spread(waits.get(pk, []))
    metrics.duration = spread(durations.get(None, []))
    metrics.queue_wait = spread(waits.get(None, []))
