"""What `manage.py serve` needs besides the command lines: supervision and addresses.

``Supervisor`` keeps web, worker and beat running in the foreground. A process that
dies is started again with a log line, so a worker that crashes (an out-of-memory
kill, a broker that went away) no longer takes the web UI down with it. A process
that keeps dying (``MAX_CRASHES`` times within ``RESTART_WINDOW_SECONDS``) is a
setting or an environment problem that restarting cannot fix: then everything is
stopped with a message that says which process and where its output went.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

MAX_CRASHES = 5
RESTART_WINDOW_SECONDS = 60.0
# A crashed process is started again no sooner than this after its last start, so a
# process that dies at once does not spin.
RESTART_DELAY_SECONDS = 1.0
STOP_GRACE_SECONDS = 20.0
# sun_path holds 108 bytes on Linux; gunicorn cannot bind a longer socket path.
_MAX_SOCKET_PATH = 100


def base_url(host: str, port: int) -> str:
    """The console's address for links in notifications, from serve's bind address.

    A wildcard bind (``HOST=0.0.0.0``) is not an address anyone can open: the
    machine's name stands in for it.
    """
    if host in {"", "0.0.0.0", "::", "[::]"}:  # noqa: S104 - compared, not bound
        host = socket.getfqdn() or "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def control_socket_args(run_dir: Path) -> list[str]:
    """gunicorn's control socket under this console's data folder.

    gunicorn 23+ opens a control socket at ``~/.gunicorn/gunicorn.ctl`` by default:
    two consoles of one user (two data folders, two ports) would fight over it.
    """
    path = run_dir / "gunicorn.ctl"
    if len(os.fsencode(path)) > _MAX_SOCKET_PATH:
        # Too long for a Unix socket: no control socket rather than a shared one.
        return ["--no-control-socket"]
    run_dir.mkdir(parents=True, exist_ok=True)
    return ["--control-socket", str(path)]


class Supervisor:
    """Starts named commands, restarts the ones that die, stops them all."""

    def __init__(
        self,
        commands: Mapping[str, Sequence[str]],
        *,
        log: Callable[[str], None],
        max_crashes: int = MAX_CRASHES,
        window: float = RESTART_WINDOW_SECONDS,
        restart_delay: float = RESTART_DELAY_SECONDS,
        popen: Callable[..., subprocess.Popen] = subprocess.Popen,
    ) -> None:
        self.commands = {name: list(argv) for name, argv in commands.items()}
        self.log = log
        self.max_crashes = max_crashes
        self.window = window
        self.restart_delay = restart_delay
        self.popen = popen
        self.processes: dict[str, subprocess.Popen] = {}
        self.started_at: dict[str, float] = {}
        self.crashes: dict[str, deque[float]] = {name: deque() for name in commands}

    def start_all(self) -> None:
        for name in self.commands:
            self._start(name)

    def _start(self, name: str) -> None:
        # Each child in its own process group: the terminal's Ctrl-C reaches the
        # supervisor, which then stops the children in order.
        self.processes[name] = self.popen(self.commands[name], start_new_session=True)
        self.started_at[name] = time.monotonic()

    def check(self) -> str | None:
        """Restart what died; a message when a process died too often (give up)."""
        now = time.monotonic()
        for name, process in self.processes.items():
            code = process.poll()
            if code is None:
                continue
            if now - self.started_at[name] < self.restart_delay:
                continue
            crashes = self.crashes[name]
            crashes.append(now)
            while now - crashes[0] > self.window:
                crashes.popleft()
            with contextlib.suppress(ProcessLookupError):
                # What the dead leader left in its group (pool processes) goes too.
                os.killpg(process.pid, signal.SIGKILL)
            if len(crashes) >= self.max_crashes:
                return (
                    f"{name} exited with code {code}, its {len(crashes)}th crash "
                    f"within {self.window:g} s: restarting it cannot help, so "
                    "everything is stopping. Its output is above; fix the cause "
                    "and start again."
                )
            self.log(
                f"{name} exited with code {code}; restarting it ({len(crashes)} "
                f"crash(es) within {self.window:g} s; at {self.max_crashes} "
                "everything stops)."
            )
            self._start(name)
        return None

    def stop_all(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """SIGTERM the leaders, wait, then SIGKILL whatever is left in each group.

        The leaders first: gunicorn and Celery stop their own children gracefully
        (a worker finishes or hands back its task); a group is killed only if
        something is still there after the grace period.
        """
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
