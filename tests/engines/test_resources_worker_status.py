"""Two workers started with one node name share one ``WorkerStatus`` row.

The row stays the first worker's while it runs (the second's reports are dropped
with one warning), and the second worker stopping does not mark it stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.engines import worker_status
from apps.engines.models import WorkerStatus

pytestmark = pytest.mark.django_db

NAME = "celery@twin"


def _report(pid: int, processes: int) -> worker_status.WorkerReport:
    return worker_status.WorkerReport(
        name=NAME,
        host=socket.gethostname()[:255],
        pid=pid,
        queues="syncs",
        processes=processes,
        cpu_percent=1.0,
        rss_bytes=1,
        host_cpus=1,
        host_memory_bytes=2,
        host_memory_available_bytes=1,
        host_load_1m=0.0,
        started_at=timezone.now(),
    )


@pytest.fixture
def first_worker():
    """A live process on this host: the worker that holds the row first."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def test_a_second_worker_of_the_same_name_neither_takes_nor_stops_the_row(
    first_worker, caplog
):
    worker_status.worker_status_record(report=_report(first_worker.pid, 3))
    caplog.set_level(logging.WARNING, logger="apps.engines.worker_status")

    for _ in range(2):
        worker_status.worker_status_record(report=_report(os.getpid(), 7))

    row = WorkerStatus.objects.get(name=NAME)
    assert (row.pid, row.processes) == (first_worker.pid, 3)
    warnings = [r for r in caplog.records if "Another worker named" in r.message]
    assert len(warnings) == 1
    assert str(first_worker.pid) in warnings[0].message

    # The second worker shuts down: the first still runs, its row is not stopped.
    worker_status.worker_status_stopped(name=NAME, pid=os.getpid())
    row.refresh_from_db()
    assert row.stopped_at is None
    assert worker_status.worker_state(row) == "up"

    worker_status.worker_status_stopped(name=NAME, pid=first_worker.pid)
    row.refresh_from_db()
    assert worker_status.worker_state(row) == "stopped"


def test_the_row_passes_on_when_its_worker_is_gone_or_silent(first_worker):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    worker_status.worker_status_record(report=_report(gone.pid, 3))

    # Its pid no longer runs on this host: the next worker of that name takes over.
    worker_status.worker_status_record(report=_report(first_worker.pid, 5))
    assert WorkerStatus.objects.get(name=NAME).pid == first_worker.pid

    # A worker that stopped reporting a while ago (on another host, say) too.
    WorkerStatus.objects.filter(name=NAME).update(
        host="elsewhere",
        reported_at=timezone.now() - worker_status.SILENT_AFTER - timedelta(1),
    )
    worker_status.worker_status_record(report=_report(os.getpid(), 7))
    row = WorkerStatus.objects.get(name=NAME)
    assert (row.pid, row.processes) == (os.getpid(), 7)
