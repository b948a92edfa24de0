"""What each Celery worker uses now: CPU and memory, as the workers last reported.

Workers report from a thread of their main process every ``WORKER_STATUS_SECONDS``
(``embedded/worker_beat.py``) instead of being asked: the answer costs no broker
round trip, works from any host that sees the database, and a worker that died
shows as silent (its last report ages) rather than as missing. Celery's own
``inspect stats`` would need every worker to answer within a timeout and says
nothing of the pool processes' or connectors' memory.

Not audited: a report is an observation a machine makes, not a change someone made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from apps.engines.models import WorkerStatus

# How often a worker reports; a row older than a few of these is a silent worker.
WORKER_STATUS_SECONDS = 15
SILENT_AFTER = timedelta(seconds=WORKER_STATUS_SECONDS * 4)


@dataclass(frozen=True)
class WorkerReport:
    """One report, as the worker measured it."""

    name: str
    host: str
    pid: int
    queues: str
    processes: int
    cpu_percent: float
    rss_bytes: int
    host_cpus: int
    host_memory_bytes: int
    host_memory_available_bytes: int
    host_load_1m: float
    started_at: datetime


def worker_status_record(*, report: WorkerReport) -> WorkerStatus:
    """Record what a worker measured just now (one row per worker, replaced)."""
    fields = {key: value for key, value in vars(report).items() if key not in ("name",)}
    status, _ = WorkerStatus.objects.update_or_create(
        name=report.name[:255],
        defaults={**fields, "reported_at": timezone.now(), "stopped_at": None},
    )
    return status


def worker_status_stopped(*, name: str) -> None:
    """The worker is shutting down cleanly: its numbers are no longer "now"."""
    WorkerStatus.objects.filter(name=name[:255]).update(stopped_at=timezone.now())


def worker_status_list(*, include_stopped: bool = False) -> QuerySet[WorkerStatus]:
    """Every worker that reported, newest report first."""
    rows = WorkerStatus.objects.order_by("-reported_at", "name")
    if not include_stopped:
        rows = rows.filter(stopped_at=None)
    return rows


def worker_state(status: WorkerStatus, now: datetime | None = None) -> str:
    """``up``, ``silent`` (no report for a while) or ``stopped``."""
    if status.stopped_at is not None:
        return "stopped"
    now = now or timezone.now()
    return "silent" if now - status.reported_at > SILENT_AFTER else "up"
