"""Where connector processes' private files live, and cleaning up after dead workers.

A connector gets its config (secrets included), catalog and state through 0600
files. They live under one folder per worker process,
``<tmp>/airbyte-console/<host>-<pid>/``, so that when a worker dies before its
``finally`` runs (SIGKILL, OOM, a power cut of the container) what it left is
found and removed: by the next worker that starts on the host, and by the reaper
every minute. A folder is swept only when its pid is no longer a live process.

Connector processes run in their own process group; ``stop_group`` kills the group
a dead worker left running, after checking that the group's leader is still the
connector it recorded (a pid can be reused).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import tempfile
from pathlib import Path

from apps.core.pids import pid_alive

logger = logging.getLogger(__name__)

PREFIX = "airbyte-console"


def root() -> Path:
    """The folder every worker's private folder lives in (0700, on this host)."""
    path = Path(tempfile.gettempdir()) / PREFIX
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def worker_dir() -> Path:
    """This process's own folder: private files of connectors it runs go here."""
    path = root() / f"{socket.gethostname()}-{os.getpid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def sweep() -> int:
    """Remove the private folders of this host's workers that are gone; how many."""
    host = socket.gethostname()
    removed = 0
    for path in root().iterdir():
        name, _, pid = path.name.rpartition("-")
        if name != host or not pid.isdigit() or int(pid) == os.getpid():
            continue
        if pid_alive(int(pid)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
        logger.warning("Removed the private files a dead worker left: %s", path)
    return removed


def on_this_host(worker: str) -> bool:
    """Whether an attempt's ``worker`` (``host:pid``) ran on this machine."""
    return worker.rpartition(":")[0] == socket.gethostname()


def stop_group(pgid: int) -> bool:
    """Kill the process group a dead worker's connector left; True if one was.

    The group's leader must still be a process in its own group (a connector
    started with ``start_new_session``); anything else is left alone.
    """
    if pgid <= 1 or not pid_alive(pgid):
        return False
    try:
        if os.getpgid(pgid) != pgid:
            return False  # the pid was reused by a process that leads no group
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    logger.warning("Killed the connector process group %s a dead worker left", pgid)
    return True
