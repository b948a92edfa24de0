"""What a sync attempt costs on its worker: memory and CPU, read from ``/proc``.

Two things run an embedded attempt: the engine (the worker process that reads the
connector's output and writes the destination) and the connector's process tree
(the connector, its children, and under ``CONNECTOR_SANDBOX=bwrap`` the two
``bwrap`` processes around it). ``AttemptMeter`` measures both while the attempt
runs and hands ``AttemptOutcome.resources`` the four numbers the attempt row keeps:

- the engine's peak resident memory (its RSS, sampled) and CPU seconds (the
  process's own ``getrusage`` over the attempt: every thread of it, the heartbeat
  and the stdout reader included; a prefork pool process runs one attempt at a
  time, so that is the attempt's);
- the connector tree's peak resident memory (the sum over its processes at a
  sample, or one process's own kernel-kept peak, ``VmHWM``, if larger) and CPU
  seconds (user + system of every process in it). The tree is found by parent
  links, not by the process group: ``bwrap --new-session`` puts the connector in
  a session (and group) of its own, yet it stays the root's descendant.

The CPU of the tree is exact when the root's exit is reported before it is
reaped (``ConnectorProcess(on_exit=...)``): a process that has exited but not
been reaped still shows its final times and those of every child it waited for.
Without that report (a cancel reaps the process on its way) the last sample
stands, short by at most one sampling interval.

Only Linux has ``/proc``; elsewhere the connector's numbers are left out, as an
engine leaves out what it cannot measure. A connector run by Docker is measured
as what runs here (the ``docker`` CLI), not the container: its numbers are left
out too (``watch_connector`` is not called for it).
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
# How often the meter samples while an attempt runs. Reading a connector tree of
# three processes is a few dozen small reads of /proc: far below 1% of a core.
SAMPLE_SECONDS = 0.25

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def available() -> bool:
    """Can this host be measured (is there a ``/proc`` to read)?"""
    return (PROC / "self" / "stat").exists()


@dataclass(frozen=True)
class ProcStat:
    """One process as ``/proc/<pid>/stat`` shows it."""

    pid: int
    ppid: int
    state: str
    # User + system seconds of the process itself, and of the children it reaped.
    cpu_seconds: float
    children_cpu_seconds: float
    rss_bytes: int

    @property
    def total_cpu_seconds(self) -> float:
        return self.cpu_seconds + self.children_cpu_seconds


def read_stat(pid: int) -> ProcStat | None:
    """The process's ``stat`` line, parsed; None when it is gone (or unreadable)."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name sits in parentheses and may hold spaces or ")" itself.
    fields = text[text.rindex(")") + 2 :].split()
    try:
        return ProcStat(
            pid=pid,
            ppid=int(fields[1]),
            state=fields[0],
            cpu_seconds=(int(fields[11]) + int(fields[12])) / _TICKS,
            children_cpu_seconds=(int(fields[13]) + int(fields[14])) / _TICKS,
            rss_bytes=int(fields[21]) * _PAGE,
        )
    except (IndexError, ValueError):
        return None


def peak_rss_bytes(pid: int) -> int:
    """The most resident memory the process has had (``VmHWM``), 0 if unknown."""
    try:
        with open(PROC / str(pid) / "status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def children(pid: int) -> list[int]:
    """The live children of ``pid`` (each of its threads may have forked some)."""
    found: list[int] = []
    try:
        tasks = os.listdir(PROC / str(pid) / "task")
    except OSError:
        return found
    for tid in tasks:
        try:
            text = (PROC / str(pid) / "task" / tid / "children").read_text()
        except FileNotFoundError:
            # A kernel without CONFIG_PROC_CHILDREN: find them by parent link.
            return _children_by_scan(pid)
        except OSError:
            continue
        found.extend(int(child) for child in text.split())
    return found


def _children_by_scan(pid: int) -> list[int]:
    found = []
    for entry in os.listdir(PROC):
        if entry.isdigit():
            stat = read_stat(int(entry))
            if stat is not None and stat.ppid == pid:
                found.append(stat.pid)
    return found


def process_tree(root: int) -> list[int]:
    """``root`` and every live descendant of it, parents before children."""
    tree, index = [root], 0
    while index < len(tree):
        tree.extend(child for child in children(tree[index]) if child not in tree)
        index += 1
    return tree


@dataclass(frozen=True)
class TreeSnapshot:
    """A process tree at one moment: how many, how much memory, how much CPU."""

    processes: int
    rss_bytes: int
    cpu_seconds: float


def tree_snapshot(root: int) -> TreeSnapshot:
    """``root``'s tree now (CPU: every live process's own and its reaped children's)."""
    stats = [s for s in (read_stat(pid) for pid in process_tree(root)) if s]
    return TreeSnapshot(
        processes=len(stats),
        rss_bytes=sum(s.rss_bytes for s in stats),
        cpu_seconds=sum(s.total_cpu_seconds for s in stats),
    )


class TreeMeter:
    """Peak memory and CPU seconds of one process tree, from repeated samples."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_rss = 0
        self.cpu_seconds = 0.0
        self.samples = 0
        # pid -> (parent, own + reaped children's CPU) at the last sample.
        self._seen: dict[int, tuple[int, float]] = {}
        # CPU of processes that ended where no measured parent reaped them.
        self._orphaned = 0.0
        self._final = False

    def sample(self) -> None:
        if self._final:
            return
        stats = [s for s in (read_stat(pid) for pid in process_tree(self.root)) if s]
        if not stats:
            return
        live = {s.pid for s in stats}
        for pid, (parent, cpu) in list(self._seen.items()):
            if pid in live:
                continue
            del self._seen[pid]
            # A parent still here reaped it: its times are in the parent's now.
            if parent not in live and pid != self.root:
                self._orphaned += cpu
        rss = 0
        for stat in stats:
            self._seen[stat.pid] = (stat.ppid, stat.total_cpu_seconds)
            rss += stat.rss_bytes
            self.peak_rss = max(self.peak_rss, peak_rss_bytes(stat.pid))
        self.peak_rss = max(self.peak_rss, rss)
        cpu = sum(cpu for _, cpu in self._seen.values()) + self._orphaned
        self.cpu_seconds = max(self.cpu_seconds, cpu)
        self.samples += 1

    def exited(self) -> None:
        """The root has exited and is not reaped yet: read its final times."""
        stat = read_stat(self.root)
        if stat is None:
            return
        # Children the root left running are still counted by the last sample.
        self.cpu_seconds = max(
            self.cpu_seconds, stat.total_cpu_seconds + self._orphaned
        )
        self.samples += 1
        self._final = True

    def finish(self) -> None:
        self._final = True


class AttemptMeter:
    """Measures one attempt: the engine process, and the connector once it runs.

    ``start()`` when the attempt starts, ``watch_connector(pid)`` once the
    connector process exists, ``connector_exited(pid)`` when it has exited but is
    not reaped yet, and ``stop()`` at the end for ``AttemptOutcome.resources``.
    """

    def __init__(self, interval: float = SAMPLE_SECONDS) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._connector: TreeMeter | None = None
        self._engine_peak = 0
        self._cpu_start = 0.0
        self._proc = available()

    def start(self) -> None:
        self._cpu_start = _own_cpu_seconds()
        self._sample()
        self._thread = threading.Thread(
            target=self._run, name="attempt-meter", daemon=True
        )
        self._thread.start()

    def watch_connector(self, pid: int) -> None:
        if not self._proc:
            return
        with self._lock:
            self._connector = TreeMeter(pid)
            self._connector.sample()

    def connector_exited(self, pid: int) -> None:
        """The connector exited and is not reaped yet: its final CPU times."""
        with self._lock:
            if self._connector is not None and self._connector.root == pid:
                self._connector.exited()

    def connector_stopped(self) -> None:
        """The connector is reaped: sample it no more (its pid may be reused)."""
        with self._lock:
            if self._connector is not None:
                self._connector.finish()

    def stop(self) -> dict[str, float]:
        """Stop sampling; the attempt's cost by ``SyncAttempt`` field names."""
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sample()
        found: dict[str, float] = {
            "engine_cpu_seconds": round(_own_cpu_seconds() - self._cpu_start, 3)
        }
        if self._engine_peak:
            found["engine_peak_rss_bytes"] = self._engine_peak
        connector = self._connector
        if connector is not None and connector.samples:
            found["connector_peak_rss_bytes"] = connector.peak_rss
            found["connector_cpu_seconds"] = round(connector.cpu_seconds, 3)
        return found

    def _run(self) -> None:
        while not self._done.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        with self._lock:
            if self._proc:
                self._engine_peak = max(self._engine_peak, _own_rss_bytes())
            if self._connector is not None:
                # A measurement must never break a sync.
                with contextlib.suppress(OSError, ValueError):
                    self._connector.sample()


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _own_rss_bytes() -> int:
    try:
        with open(PROC / "self" / "statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0
