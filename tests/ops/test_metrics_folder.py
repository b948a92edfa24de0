"""The metrics folder over time: killed processes, reused pids, ended processes' files.

Each test gives real child processes (Django loaded, as a worker's pool child or
a `manage.py` command) a folder of its own, and scrapes it the way /metrics,
the worker port and `airbyte metrics export` do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from prometheus_client.mmap_dict import mmap_key
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from apps.core import metrics

ROOT = Path(__file__).resolve().parents[2]
RUNNING = "airbyte_console_syncs_running"

SETUP = "import django; django.setup(); from apps.core import metrics\n"


def child(folder: Path, code: str, *args: str, **kwargs) -> subprocess.Popen:
    """A Python process of this console writing into ``folder``."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)},
        cwd=ROOT,
        text=True,
        **kwargs,
    )


def run(folder: Path, code: str, *args: str) -> str:
    process = child(folder, code, *args, stdout=subprocess.PIPE)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    return out.strip()


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """This test's metrics folder, the one scrapes in this process read."""
    path = tmp_path / "prometheus"
    path.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    return path


def running_on_metrics_page() -> float:
    response = Client().get(reverse("metrics"))  # from this host: allowed
    assert response.status_code == 200
    families = text_string_to_metric_families(response.content.decode())
    return sum(s.value for f in families if f.name == RUNNING for s in f.samples)


def running_in_export() -> float:
    families = [f for f in metrics.snapshot() if f["name"] == RUNNING]
    return sum(s["value"] for f in families for s in f["samples"])


def test_a_killed_pool_process_leaves_the_running_gauge_at_the_next_scrape(db, folder):
    # A worker's pool child claims an attempt, then the OOM killer (or the hard
    # time limit) ends it: no worker_process_shutdown, no goodbye.
    process = child(
        folder,
        SETUP + "metrics.attempt_running(1); print('running', flush=True); input()",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout.readline().strip() == "running"
        assert running_on_metrics_page() == 1
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
        process.wait()

    assert running_on_metrics_page() == 0
    assert running_in_export() == 0
    assert not (folder / f"gauge_livesum_{process.pid}.db").exists()


# The child plants what a killed process with its pid left (3 attempts running),
# then starts as a worker's main process (the package loads after the plant) or
# as a pool child (forked: only the worker_process_init signal tells it).
PLANT = """
import os, sys
from prometheus_client.mmap_dict import MmapedDict
def plant():
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    stale = MmapedDict(os.path.join(folder, f"gauge_livesum_{os.getpid()}.db"))
    stale.write_value(sys.argv[1], 3.0, 0.0)
    stale.close()
"""
MAIN_PROCESS = PLANT + "plant()\n" + SETUP
POOL_CHILD = (
    PLANT
    + SETUP
    + "plant()\nfrom celery import signals\n"
    + "signals.worker_process_init.send(sender=None)\n"
)
THEN_RUN_ONE = (
    "metrics.attempt_running(1)\n"
    "print(metrics.current().syncs_running._value.get())\n"
    "print(sum(s['value'] for f in metrics.snapshot() if f['name'] == sys.argv[2]"
    " for s in f['samples']))\n"
)


@pytest.mark.parametrize("start", [MAIN_PROCESS, POOL_CHILD], ids=["main", "pool"])
def test_a_process_with_a_reused_pid_starts_with_nothing_running(folder, start):
    gauge = metrics.current().syncs_running
    key = mmap_key(gauge._name, gauge._name, [], [], gauge._documentation)

    own, scraped = run(folder, start + THEN_RUN_ONE, key, RUNNING).splitlines()

    # Its one attempt, not the dead process's three on top.
    assert float(own) == 1
    assert float(scraped) == 1


# -- ended processes' files -----------------------------------------------------------

COMMAND = SETUP + (
    "import sys\n"
    "n = int(sys.argv[1])\n"
    "metrics.sync_finished(engine='embedded', status='succeeded', failure_origin='',"
    " records_committed=10 * n, bytes_committed=0, duration_seconds=0.5 * n)\n"
    "metrics.webhook_delivered(outcome='succeeded', seconds=0.25)\n"
    "metrics.sync_retry_scheduled(engine='airbyte')\n"
)


def sums(folder: Path) -> dict[tuple, float]:
    """What a scrape of ``folder`` shows, read without tidying it first."""
    files = [str(f) for f in folder.glob("*.db")]
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in MultiProcessCollector.merge(files, accumulate=True)
        if family.name.startswith("airbyte_console_") and family.name != RUNNING
        for s in family.samples
    }


def test_ended_processes_files_are_folded_into_archives_with_the_same_sums(folder):
    for n in (1, 2, 3):
        run(folder, COMMAND, str(n))
    # A process still running keeps its own files.
    alive = child(
        folder,
        COMMAND + "print('counted', flush=True); input()",
        "4",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert alive.stdout.readline().strip() == "counted"
        before = sums(folder)
        files_before = len(list(folder.glob("*.db")))

        assert metrics.compact_dead_processes(folder) == 6  # 3 counters, 3 histograms

        assert sums(folder) == before
        names = sorted(p.name for p in folder.iterdir() if "_livesum_" not in p.name)
        assert names == sorted(
            [
                "counter_archive.db",
                "histogram_archive.db",
                f"counter_{alive.pid}.db",
                f"histogram_{alive.pid}.db",
            ]
        )
        assert len(list(folder.glob("*.db"))) < files_before
        duration = "airbyte_console_sync_duration_seconds"
        total = (("engine", "embedded"), ("status", "succeeded"))
        assert before[(f"{duration}_count", total)] == 4
        assert before[(f"{duration}_sum", total)] == 0.5 + 1 + 1.5 + 2
    finally:
        alive.stdin.close()
        alive.wait(timeout=30)

    # The next fold adds to the archive; a scrape folds before it reads.
    run(folder, COMMAND, "5")
    before = sums(folder)
    assert metrics.snapshot() and metrics.compact_dead_processes(folder) == 0
    assert sums(folder) == before
    assert sorted(p.name for p in folder.glob("*.db")) == [
        "counter_archive.db",
        "histogram_archive.db",
    ]
    records = (
        "airbyte_console_sync_records_committed_total",
        (("engine", "embedded"),),
    )
    assert sums(folder)[records] == 10 * (1 + 2 + 3 + 4 + 5)
