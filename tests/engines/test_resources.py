"""What an attempt costs: the meter reads a real process tree from /proc.

The "connector" here is a real Python process that starts a child, and the child
holds 80 MB and burns a fixed amount of CPU: the meter must count the child
(memory and CPU), with and without the bubblewrap sandbox, where the child runs
in a session and PID namespace of its own.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from apps.engines.embedded import resources
from apps.engines.embedded.runner import ConnectorProcess, connector_env
from apps.engines.masking import SecretMasker

pytestmark = pytest.mark.skipif(not resources.available(), reason="needs Linux /proc")

MB = 1024 * 1024
# The child keeps 80 MB resident while it adds numbers for a while: well over a
# tenth of a CPU second anywhere, and long enough to be sampled.
CHILD = (
    "import time\n"
    "block = bytearray(80 * 1024 * 1024)\n"
    "for i in range(0, len(block), 4096): block[i] = 1\n"
    "total = 0\n"
    "for i in range(6_000_000): total += i\n"
    "time.sleep(0.6)\n"
)
PARENT = (
    "import subprocess, sys\n"
    f"subprocess.run([sys.executable, '-c', {CHILD!r}], check=True)\n"
    'print(\'{"type": "LOG", "log": {"level": "INFO", "message": "done"}}\')\n'
)


def run_metered(code: str, cwd: Path, **options) -> dict[str, float]:
    """Run ``code`` as a connector (through the runner, as a sync does), metered."""
    meter = resources.AttemptMeter(interval=0.1)
    meter.start()
    process = ConnectorProcess(
        [sys.executable, "-c", code],
        masker=SecretMasker(),
        env=connector_env(Path(sys.executable).parent),
        cwd=cwd,
        on_exit=meter.connector_exited,
        **options,
    )
    process.start()
    meter.watch_connector(process.process.pid)
    list(process.messages())
    assert process.stop() == 0, "\n".join(process.stderr_tail)
    meter.connector_stopped()
    return meter.stop()


def test_the_connector_tree_counts_its_child(tmp_path, settings):
    settings.CONNECTOR_SANDBOX = "none"
    cost = run_metered(PARENT, tmp_path)

    # The child's 80 MB are the connector's, not the engine's.
    assert cost["connector_peak_rss_bytes"] > 80 * MB
    assert cost["connector_cpu_seconds"] > 0.1
    assert cost["engine_peak_rss_bytes"] > 10 * MB
    assert cost["engine_cpu_seconds"] >= 0
    assert cost["engine_cpu_seconds"] < cost["connector_cpu_seconds"]


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")
def test_a_sandboxed_connector_is_measured_through_bwrap(tmp_path, settings):
    """bwrap starts the connector in a new session and PID namespace: the tree is
    still found by parent links on the host."""
    settings.CONNECTOR_SANDBOX = "bwrap"
    settings.LOCAL_FILES_DIR = tmp_path / "local"
    private = tmp_path / f"run-{uuid.uuid4().hex[:6]}"
    private.mkdir(mode=0o700)

    cost = run_metered(PARENT, private)

    assert cost["connector_peak_rss_bytes"] > 80 * MB
    assert cost["connector_cpu_seconds"] > 0.1


def test_no_connector_means_no_connector_numbers():
    meter = resources.AttemptMeter(interval=0.1)
    meter.start()
    cost = meter.stop()

    assert "connector_peak_rss_bytes" not in cost
    assert "connector_cpu_seconds" not in cost
    assert cost["engine_peak_rss_bytes"] > 0


def test_a_process_tree_snapshot_sees_children():
    sleeper = "import time; time.sleep(30)"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; "
            f"subprocess.run([sys.executable, '-c', {sleeper!r}])",
        ],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while len(resources.process_tree(parent.pid)) < 2:
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.05)
        snapshot = resources.tree_snapshot(parent.pid)
        assert snapshot.processes == 2
        assert snapshot.memory_bytes > 2 * MB
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()
