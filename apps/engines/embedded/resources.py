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
- the connector tree's peak memory and CPU seconds. Memory is the tree's PSS
  summed (each page shared between processes split among them, so a process
  that forks children is not counted once per child; RSS where ``smaps_rollup``
  cannot be read), read as often as ``PSS_CPU_SHARE`` allows, or one process's
  own kernel-kept peak RSS, ``VmHWM``, if that is larger. CPU is user + system
  time added up sample by sample (``CpuCounter``). The tree is found by parent
  links, not by the process group: ``bwrap --new-session`` puts the connector in
  a session (and group) of its own, yet it stays the root's descendant.

How close the connector's CPU gets. A process that ends between two samples
takes the CPU it used since the last one along, unless a process still in the
tree reaps it (its times then show in that parent's children's times).
Without the sandbox the root is the connector itself: its exit is reported
before it is reaped (``ConnectorProcess(on_exit=...)``) and its final times,
which hold those of every child it waited for, are read, so the figure is exact
(a cancel reaps it on its way: then the last sample stands). Under bwrap, the
default where bwrap is installed, the root is the outer ``bwrap``, which never
collects the sandboxed connector's times: the final figure is the last sample,
short by the CPU of the connector's last interval (up to ``SAMPLE_SECONDS``).
A child that outlives its parent and is reparented out of the tree is counted
up to the sample before it left.

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
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
# How often the meter samples while an attempt runs: CPU times and each process's
# VmHWM, a few small reads of /proc per process (well under 1% of a core).
SAMPLE_SECONDS = 0.25
# The tree's PSS costs more: the kernel walks each process's page tables to split
# shared pages, about 16 ms of CPU per GB resident. The meter reads it only as
# often as keeps that under this share of one core (a 300 MB connector: every
# 0.5 s; 2 GB: every 3 s), and at least every SAMPLE_SECONDS.
PSS_CPU_SHARE = 0.01

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def available() -> bool:
    """Can this host be measured (is there a ``/proc`` to read)?"""
    return (PROC / "self" / "stat").exists()


def _has_children_files() -> bool:
    # The main thread's id is the process's: its ``children`` file is there
    # whenever the kernel has CONFIG_PROC_CHILDREN.
    return (PROC / "self" / "task" / str(os.getpid()) / "children").exists()


# Asked once: a ``children`` file missing later only means its thread has ended.
CHILDREN_FILES = _has_children_files()


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


def pss_bytes(pid: int) -> int | None:
    """The process's proportional set size, None if it cannot be read.

    PSS is resident memory with every page shared between processes split among
    them: summed over a tree, a page the parent shares with its forked children
    counts once, where summed RSS counts it once per process.
    """
    try:
        with open(PROC / str(pid) / "smaps_rollup", "rb") as handle:
            for line in handle:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_bytes(stats: list[ProcStat]) -> int:
    """What the processes hold in memory together: PSS summed (RSS if unreadable)."""
    total = 0
    for stat in stats:
        pss = pss_bytes(stat.pid)
        total += stat.rss_bytes if pss is None else pss
    return total


def children(pid: int) -> list[int]:
    """The live children of ``pid`` (each of its threads may have forked some)."""
    if not CHILDREN_FILES:
        return _children_by_scan(pid)
    found: list[int] = []
    try:
        tasks = os.listdir(PROC / str(pid) / "task")
    except OSError:
        return found
    for tid in tasks:
        try:
            text = (PROC / str(pid) / "task" / tid / "children").read_text()
        except OSError:
            # The thread ended since the listing (its children, if any, are
            # another thread's now, or reparented).
            continue
        found.extend(int(child) for child in text.split())
    return found


def _children_by_scan(pid: int) -> list[int]:
    """A kernel without CONFIG_PROC_CHILDREN: find them by parent link."""
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


def tree_stats(root: int) -> list[ProcStat]:
    """``root``'s tree now, one ``ProcStat`` per process still readable."""
    return [s for s in (read_stat(pid) for pid in process_tree(root)) if s]


@dataclass(frozen=True)
class TreeSnapshot:
    """A process tree at one moment: how many processes, how much memory (PSS)."""

    processes: int
    memory_bytes: int


def tree_snapshot(root: int, stats: list[ProcStat] | None = None) -> TreeSnapshot:
    """``root``'s tree now (or as ``stats``, read from it, show it)."""
    if stats is None:
        stats = tree_stats(root)
    return TreeSnapshot(processes=len(stats), memory_bytes=memory_bytes(stats))


class CpuCounter:
    """CPU seconds a process tree used, added up reading by reading.

    Totals cannot simply be compared between readings: a process that ends takes
    its times along unless a parent in the tree reaps it, and the outer ``bwrap``
    never collects the sandboxed connector. So each reading adds what each process
    used since the one before: the increase of its own time (a new process's in
    full), and the increase of its reaped children's time less what was already
    counted of the processes it reaped since. Those are the processes gone from
    the tree whose nearest live ancestor, by the parents last seen, it is; a
    process reparented out of the tree is still running, so nobody in the tree
    reaped it. A process gone with no live ancestor left is not counted again.
    """

    def __init__(self) -> None:
        self._last: dict[int, ProcStat] = {}

    def add(self, stats: list[ProcStat]) -> float:
        """Read the tree once more: the CPU seconds it used since the last reading."""
        live = {stat.pid: stat for stat in stats}
        reaped: dict[int, float] = {}
        for pid, old in self._last.items():
            if pid in live:
                continue
            reaper = self._live_ancestor(old, live)
            if reaper is not None and not _moved_out(pid, live):
                reaped[reaper] = reaped.get(reaper, 0.0) + old.total_cpu_seconds
        used = 0.0
        for stat in stats:
            old = self._last.get(stat.pid)
            if old is None or stat.cpu_seconds < old.cpu_seconds:
                used += stat.total_cpu_seconds  # new (or a pid used again)
                continue
            collected = stat.children_cpu_seconds - old.children_cpu_seconds
            used += stat.cpu_seconds - old.cpu_seconds
            used += max(0.0, collected - reaped.get(stat.pid, 0.0))
        self._last = live
        return used

    def _live_ancestor(self, old: ProcStat, live: dict[int, ProcStat]) -> int | None:
        parent, hops = old.ppid, 0
        while hops <= len(self._last):
            if parent in live:
                return parent
            known = self._last.get(parent)
            if known is None:
                return None
            parent, hops = known.ppid, hops + 1
        return None


def _moved_out(pid: int, live: dict[int, ProcStat]) -> bool:
    """Is ``pid`` still there, under a parent outside the tree (reparented)?"""
    stat = read_stat(pid)
    return stat is not None and stat.ppid not in live


class TreeMeter:
    """Peak memory and CPU seconds of one process tree, from repeated samples."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_memory = 0
        self.cpu_seconds = 0.0
        self.samples = 0
        self._cpu = CpuCounter()
        self._pss_due = 0.0
        self._final = False

    def sample(self) -> None:
        if self._final:
            return
        stats = tree_stats(self.root)
        if not stats:
            return
        self.cpu_seconds += self._cpu.add(stats)
        for stat in stats:
            # The floor, kept by the kernel: one process's peak, even one that
            # came and went between two samples.
            self.peak_memory = max(self.peak_memory, peak_rss_bytes(stat.pid))
        now = time.monotonic()
        if now >= self._pss_due:
            spent = time.thread_time()
            self.peak_memory = max(self.peak_memory, memory_bytes(stats))
            spent = time.thread_time() - spent
            self._pss_due = now + spent / PSS_CPU_SHARE
        self.samples += 1

    def exited(self) -> None:
        """The root has exited and is not reaped yet: read its final times."""
        stat = read_stat(self.root)
        if stat is None:
            return
        # Children the root left running are counted up to the last sample.
        self.cpu_seconds += self._cpu.add([stat])
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
            found["connector_peak_rss_bytes"] = connector.peak_memory
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
