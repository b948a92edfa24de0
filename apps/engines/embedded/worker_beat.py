"""A worker's report of the CPU and memory it uses, every few seconds.

Started by ``worker_ready`` in the worker's main process (after the pool has
forked): a daemon thread measures the main process's tree (pool processes and
the connectors they run included) from ``/proc`` and writes its ``WorkerStatus``
row: the CPU share since the last report, added up from a reading every second
(``CpuShare``), and the memory the tree holds now, its PSS summed (a page the
pool processes share with the main process counts once, not once per process).
It closes its database connection after each write, so a pool process forked
later (one replaced after a crash) inherits no open connection of it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

from django.db import connection as db_connection
from django.utils import timezone

from apps.engines import worker_status
from apps.engines.embedded import resources

logger = logging.getLogger(__name__)

_beat: _WorkerBeat | None = None


# How often the beat reads the tree's CPU times between two reports. Each
# reading adds what every process used since the one before; a sandboxed
# connector that ends takes along what it used since the last reading (bwrap
# never collects its times), so readings far apart would lose a whole report's
# worth of it. A reading is a few small /proc reads per process.
CPU_READ_SECONDS = 1.0


class CpuShare:
    """A process tree's CPU use between two reports, read every second."""

    def __init__(self, root: int) -> None:
        self.root = root
        self._counter = resources.CpuCounter()
        self._busy = 0.0
        # The first reading is the baseline: what ran before it is not "now".
        self._counter.add(resources.tree_stats(root))
        self._since = time.monotonic()

    def read(self) -> list[resources.ProcStat]:
        """Read the tree once more; its processes as this reading found them."""
        stats = resources.tree_stats(self.root)
        self._busy += self._counter.add(stats)
        return stats

    def take(self) -> float:
        """Percent of one core the tree used since the last ``take`` (or start)."""
        now = time.monotonic()
        share = 100 * self._busy / max(now - self._since, 1e-3)
        self._busy, self._since = 0.0, now
        return share


class _WorkerBeat(threading.Thread):
    def __init__(self, name: str, queues: str, interval: float) -> None:
        super().__init__(name="worker-status", daemon=True)
        self.node = name
        self.queues = queues
        self.interval = interval
        self.stopping = threading.Event()
        self.started_at = timezone.now()

    def run(self) -> None:
        pid = os.getpid()
        cpu = CpuShare(pid)
        # The first report comes after a second: a CPU share needs two readings.
        report_at = time.monotonic() + 1.0
        while not self.stopping.wait(min(CPU_READ_SECONDS, self.interval)):
            stats = cpu.read()
            if time.monotonic() < report_at:
                continue
            report_at = time.monotonic() + self.interval
            snapshot = resources.tree_snapshot(pid, stats)
            try:
                worker_status.worker_status_record(
                    report=_report(self, pid, snapshot, cpu.take())
                )
            except Exception:  # the worker serves syncs whatever this finds
                logger.warning("Could not record this worker's status", exc_info=True)
            finally:
                db_connection.close()


def _report(
    beat: _WorkerBeat, pid: int, snapshot: resources.TreeSnapshot, share: float
) -> worker_status.WorkerReport:
    total, available = _host_memory()
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return worker_status.WorkerReport(
        name=beat.node,
        host=socket.gethostname()[:255],
        pid=pid,
        queues=beat.queues[:500],
        processes=snapshot.processes,
        cpu_percent=round(share, 1),
        rss_bytes=snapshot.memory_bytes,
        host_cpus=os.cpu_count() or 0,
        host_memory_bytes=total,
        host_memory_available_bytes=available,
        host_load_1m=round(load, 2),
        started_at=beat.started_at,
    )


def _host_memory() -> tuple[int, int]:
    """``(MemTotal, MemAvailable)`` of this host in bytes (0s where unknown)."""
    found = {}
    try:
        with open(resources.PROC / "meminfo", "rb") as handle:
            for line in handle:
                key, _, rest = line.partition(b":")
                if key in (b"MemTotal", b"MemAvailable"):
                    found[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return found.get(b"MemTotal", 0), found.get(b"MemAvailable", 0)


def start(sender: Any = None, **kwargs: Any) -> None:
    """``worker_ready``: start reporting (once per worker process)."""
    global _beat
    if _beat is not None or not resources.available():
        return
    name = str(getattr(sender, "hostname", "") or socket.gethostname())
    try:
        queues = ",".join(sorted(sender.app.amqp.queues.consume_from))
    except AttributeError:
        queues = ""
    _beat = _WorkerBeat(name, queues, worker_status.WORKER_STATUS_SECONDS)
    _beat.start()


def stop(sender: Any = None, **kwargs: Any) -> None:
    """``worker_shutdown``: stop reporting and say the worker stopped."""
    global _beat
    beat, _beat = _beat, None
    if beat is None:
        return
    beat.stopping.set()
    beat.join(timeout=5)
    try:
        worker_status.worker_status_stopped(name=beat.node, pid=os.getpid())
    except Exception:
        logger.warning("Could not record that this worker stopped", exc_info=True)
    finally:
        db_connection.close()
