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

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.engines.models import WorkerStatus

logger = logging.getLogger(__name__)

# Rows held by another worker of the same name already warned about, by this
# process: once each, not every report.
_warned: set[tuple[str, str, int]] = set()

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
    """Record what a worker measured just now (one row per worker, replaced).

    Two workers started with one node name would share the row. While another
    process holds it (it reported within ``SILENT_AFTER``, and on this host it is
    still running), this report is dropped with a warning rather than written
    over it: the row stays one worker's instead of switching between the two.
    """
    now = timezone.now()
    fields = {key: value for key, value in vars(report).items() if key != "name"}
    name = report.name[:255]
    with transaction.atomic():
        held = WorkerStatus.objects.select_for_update().filter(name=name).first()
        if held is not None and _held_by_another(held, report, now):
            if (name, held.host, held.pid) not in _warned:
                _warned.add((name, held.host, held.pid))
                logger.warning(
                    "Another worker named %s (pid %s on %s) reports its status; "
                    "this one (pid %s on %s) is not shown. Give each worker its "
                    "own name (celery worker -n).",
                    name,
                    held.pid,
                    held.host,
                    report.pid,
                    report.host,
                )
            return held
        status, _ = WorkerStatus.objects.update_or_create(
            name=name, defaults={**fields, "reported_at": now, "stopped_at": None}
        )
    return status


def _held_by_another(held: WorkerStatus, report: WorkerReport, now: datetime) -> bool:
    if (held.host, held.pid) == (report.host, report.pid):
        return False
    if held.stopped_at is not None or now - held.reported_at > SILENT_AFTER:
        return False
    if held.host != report.host:
        return True  # Its pid cannot be checked from here; it reported recently.
    try:
        os.kill(held.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_status_stopped(*, name: str, pid: int) -> None:
    """The worker is shutting down cleanly: its numbers are no longer "now".

    Only its own row: another worker of the same name may hold the row.
    """
    WorkerStatus.objects.filter(name=name[:255], pid=pid).update(
        stopped_at=timezone.now()
    )


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
