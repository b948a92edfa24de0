"""`manage.py serve`'s supervision: a crashed worker is restarted, not fatal.

Real child processes (small Python scripts stand in for gunicorn and Celery), real
signals; only the time limits are shortened.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from apps.ops.serving import Supervisor, base_url, control_socket_args

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]
CRASH = [sys.executable, "-c", "import sys; sys.exit(3)"]


def crash_once(marker: Path) -> list[str]:
    """Exits with 3 the first time, then runs like a healthy worker."""
    code = (
        "import pathlib, sys, time\n"
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if not marker.exists():\n"
        "    marker.touch()\n"
        "    sys.exit(3)\n"
        "time.sleep(60)\n"
    )
    return [sys.executable, "-c", code]


def run_until(supervisor: Supervisor, condition, timeout: float = 15.0) -> str | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        failure = supervisor.check()
        if failure or condition():
            return failure
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_crashed_worker_is_restarted_and_the_web_keeps_running(tmp_path):
    lines: list[str] = []
    supervisor = Supervisor(
        {"web": SLEEP, "worker": crash_once(tmp_path / "crashed")},
        log=lines.append,
        restart_delay=0.1,
    )
    supervisor.start_all()
    web = supervisor.processes["web"]
    first_worker = supervisor.processes["worker"]
    try:
        failure = run_until(
            supervisor, lambda: supervisor.processes["worker"] is not first_worker
        )
        assert failure is None
        time.sleep(0.5)
        assert supervisor.check() is None
        # The web server was never touched; the new worker runs.
        assert supervisor.processes["web"] is web and web.poll() is None
        assert supervisor.processes["worker"].poll() is None
        assert lines == [
            "worker exited with code 3; restarting it (1 crash(es) within 60 s; "
            "at 5 everything stops)."
        ]
    finally:
        supervisor.stop_all(grace=5)
    assert web.poll() is not None


def test_a_worker_that_keeps_crashing_stops_everything_with_a_clear_message():
    lines: list[str] = []
    supervisor = Supervisor(
        {"web": SLEEP, "worker": CRASH}, log=lines.append, restart_delay=0.05
    )
    supervisor.start_all()
    try:
        failure = run_until(supervisor, lambda: False)
    finally:
        supervisor.stop_all(grace=5)
    assert failure is not None
    assert failure.startswith("worker exited with code 3, its 5th crash within 60 s")
    assert "everything is stopping" in failure
    assert len(lines) == 4
    assert supervisor.processes["web"].poll() is not None


def test_gunicorns_control_socket_lives_in_the_data_folder(tmp_path):
    args = control_socket_args(tmp_path / "run")
    assert args == ["--control-socket", str(tmp_path / "run" / "gunicorn.ctl")]
    assert (tmp_path / "run").is_dir()
    # Too long for a Unix socket: none, rather than the shared ~/.gunicorn one.
    assert control_socket_args(tmp_path / ("x" * 120)) == ["--no-control-socket"]


def test_base_url_follows_the_bind_address():
    assert base_url("127.0.0.1", 9000) == "http://127.0.0.1:9000"
    assert base_url("::1", 8000) == "http://[::1]:8000"
    wildcard = base_url("0.0.0.0", 8000)  # noqa: S104 - an address, not a bind
    assert not wildcard.startswith("http://0.0.0.0")
