"""``make bench-scale --quick``: two worker hosts, a Redis restart and a SIGKILLed
worker, and every job still ends exactly once with its data (#17 item 5).

The run is real and self-contained: it starts its own redis-server (never the shared
one), creates and drops its own PostgreSQL database, and runs its own workers; about
three minutes on a busy two-core machine. The percentile helper is checked apart.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from apps.ops.bench_scale import percentile
from tests.engines.fixtures import CONNECTORS_DIR
from tests.services_plugin import port_open, skip_or_fail

ROOT = Path(__file__).resolve().parents[2]
# Far above a quick run (about 3 minutes on a busy 2-core machine): a hang fails.
RUN_TIMEOUT = 600


def test_percentiles_are_nearest_rank():
    waits = [float(n) for n in range(1, 101)]
    assert percentile(waits, 0.50) == 50
    assert percentile(waits, 0.95) == 95
    assert percentile([7.0], 0.95) == 7
    assert percentile([], 0.5) is None


@pytest.mark.postgres
@pytest.mark.redis
def test_quick_bench_scale_runs_every_job_exactly_once_through_faults(tmp_path):
    if not port_open("postgres://127.0.0.1:5432", 5432):
        skip_or_fail("needs PostgreSQL at 127.0.0.1:5432")
    if shutil.which("redis-server") is None:
        skip_or_fail("needs redis-server (the bench starts its own)")
    env = {
        **os.environ,
        "CONSOLE_DATA_DIR": str(tmp_path / "data"),
        # The suite's connectors: faker is installed there once for every run.
        "CONNECTORS_DIR": str(CONNECTORS_DIR),
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "bench_scale", "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "Exactly once: yes" in out, out[-4000:]
    assert "None lost: yes (0 unfinished, 0 failed or cancelled)" in out
    assert "Data: yes" in out
    assert "Redis restarted (SIGTERM" in out
    assert "worker 2 SIGKILLed" in out
    assert "1 worker " in out and "2 workers " in out
    # Its database is dropped and its Redis stopped: nothing of the run is left.
    assert "Dropped bench_scale_" in out
