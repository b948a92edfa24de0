"""How close the measured cost is to the truth, on real process trees.

Each test builds the tree that once fooled the meter: a child and its grandchild
ending between two samples (their CPU counted twice), children forked from a
large process (their shared pages counted once per child), a sandboxed connector
ending between two readings of the worker (the worker's CPU clamped to 0), and a
connector that keeps starting threads (a sample scanning all of /proc).
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apps.engines import sandbox
from apps.engines.embedded import resources
from apps.engines.embedded.worker_beat import CpuShare
from tests.engines.test_resources import run_metered

pytestmark = pytest.mark.skipif(not resources.available(), reason="needs Linux /proc")

MB = 1024 * 1024
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bwrap")

# Burns CPU seconds, not wall seconds: on a loaded machine (CI runs more test
# processes than cores) a process given 0.5 s of wall time may get 0.3 s of CPU.
BURN = (
    "import time\nend = time.process_time() + {seconds}\n"
    "while time.process_time() < end: pass\n"
)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measure(code: str, cwd: Path) -> tuple[dict[str, float], float]:
    """Run ``code`` as a connector, metered: its cost, and the CPU the kernel saw."""
    before = _children_cpu()
    cost = run_metered(code, cwd)
    return cost, _children_cpu() - before


def test_a_child_and_grandchild_ending_together_are_counted_once(tmp_path, settings):
    """The child waits for the grandchild and both end between two samples: the
    connector reaps the child, so its times hold both, and nothing is added twice.
    Unsandboxed, every process is reaped, so the kernel's count of this test's
    children is the truth."""
    settings.CONNECTOR_SANDBOX = "none"
    grandchild = BURN.format(seconds=1.0)
    child = (
        "import subprocess, sys\n"
        f"subprocess.run([sys.executable, '-c', {grandchild!r}])\n"
    )
    connector = (
        "import subprocess, sys, time\n"
        f"subprocess.run([sys.executable, '-c', {child!r}])\n"
        "time.sleep(0.5)\n"
    )

    cost, truth = _measure(connector, tmp_path)

    assert truth > 0.3, "the grandchild never burned"
    # Ticks round each process's times down to 10 ms.
    assert cost["connector_cpu_seconds"] <= truth + 0.05
    assert cost["connector_cpu_seconds"] >= truth - 0.05


FORKS = (
    "import os, time\n"
    "block = bytearray(150 * 1024 * 1024)\n"
    "for i in range(0, len(block), 4096): block[i] = 1\n"
    "pids = []\n"
    "for _ in range(4):\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        time.sleep(1.0)\n"
    "        os._exit(0)\n"
    "    pids.append(pid)\n"
    "for pid in pids: os.waitpid(pid, 0)\n"
)


@pytest.mark.parametrize("mode", ["none", pytest.param("bwrap", marks=needs_bwrap)])
def test_children_forked_from_a_large_connector_share_its_memory(
    tmp_path, settings, mode
):
    """150 MB forked into four sleeping children is 150 MB, not five times it."""
    settings.CONNECTOR_SANDBOX = mode
    settings.LOCAL_FILES_DIR = tmp_path / "local"
    private = tmp_path / "run"
    private.mkdir(mode=0o700)

    cost, _ = _measure(FORKS, private)

    assert cost["connector_peak_rss_bytes"] > 150 * MB
    assert cost["connector_peak_rss_bytes"] < 1.5 * 150 * MB


def test_a_worker_tree_snapshot_counts_shared_pages_once():
    """The worker's report: a process holding 150 MB and three forked children."""
    parent = subprocess.Popen(
        [sys.executable, "-c", FORKS.replace("range(4)", "range(3)") + "\n"],
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while len(resources.process_tree(parent.pid)) < 4:
            assert time.monotonic() < deadline, "the children never started"
            time.sleep(0.05)
        snapshot = resources.tree_snapshot(parent.pid)
    finally:
        parent.kill()
        parent.wait()

    assert snapshot.processes == 4
    assert 150 * MB < snapshot.memory_bytes < 1.5 * 150 * MB


@needs_bwrap
def test_the_worker_counts_its_cpu_when_a_sandboxed_connector_ends(tmp_path, settings):
    """A pool process runs a sandboxed connector that burns a second, then burns
    half a second itself. The worker reads once while the connector runs and once
    after: the bwrap around the connector never collects its times, so the tree's
    total falls, yet the pool process's own half second was used in between."""
    settings.CONNECTOR_SANDBOX = "bwrap"
    connector = sandbox.wrap([sys.executable, "-c", BURN.format(seconds=1.0)])
    pool = (
        "import json, subprocess, sys, time\n"
        f"subprocess.run(json.loads({json.dumps(connector)!r}), check=True)\n"
        + BURN.format(seconds=0.5)
        + "print('done', flush=True)\n"
        "time.sleep(30)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", pool], stdout=subprocess.PIPE, cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 20
        while len(resources.process_tree(process.pid)) < 4:
            assert time.monotonic() < deadline, "the connector never started"
            time.sleep(0.05)
        share = CpuShare(process.pid)
        time.sleep(0.6)  # the connector is well into its second
        share.read()
        share.take()
        since = time.monotonic()
        assert process.stdout.readline() == b"done\n"
        share.read()
        busy = share.take() / 100 * (time.monotonic() - since)
        own = resources.read_stat(process.pid).cpu_seconds
    finally:
        process.kill()
        process.wait()

    # At least the pool process's own half second (a falling total gives 0), at
    # most that and what the connector had left after the first read (at most its
    # whole second, when a loaded machine gave it little CPU before that read).
    assert own > 0.4
    assert 0.4 < busy < own + 1.1


@pytest.mark.skipif(not resources.CHILDREN_FILES, reason="needs CONFIG_PROC_CHILDREN")
def test_a_connector_starting_threads_never_makes_a_sample_scan_all_of_proc(
    monkeypatch,
):
    """A thread ending between the listing of the connector's threads and the
    reading of its ``children`` file is a thread gone, not a kernel without the
    file: no sample falls back to reading every process on the host."""
    scans = []
    scan = resources._children_by_scan
    monkeypatch.setattr(
        resources, "_children_by_scan", lambda pid: scans.append(pid) or scan(pid)
    )
    churn = (
        "import threading, time\n"
        "print('churning', flush=True)\n"
        "end = time.time() + 4\n"
        "while time.time() < end:\n"
        "    threads = [threading.Thread(target=time.sleep, args=(0.001,))"
        " for _ in range(20)]\n"
        "    [t.start() for t in threads]\n"
        "    [t.join() for t in threads]\n"
    )
    process = subprocess.Popen([sys.executable, "-c", churn], stdout=subprocess.PIPE)
    try:
        assert process.stdout.readline() == b"churning\n"
        meter = resources.TreeMeter(process.pid)
        samples, until = 0, time.monotonic() + 2
        while time.monotonic() < until:
            meter.sample()
            samples += 1
        assert process.poll() is None, "the connector ended while sampled"
    finally:
        process.kill()
        process.wait()

    assert samples > 100
    assert scans == []
