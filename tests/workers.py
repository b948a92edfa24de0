"""Real processes for end-to-end tests: Celery workers on the test database.

``tests/conftest.py``'s ``worker`` fixture is the usual way in; tests that need a
worker with other queues, pool or settings call these directly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection

from tests.engines.fixtures import CONNECTORS_DIR

ROOT = Path(__file__).resolve().parents[1]


def worker_env(*, duckdb_dir: Path | str, **extra: str) -> dict[str, str]:
    """The environment of a process that works on this test's database and broker."""
    db = connection.settings_dict
    user, host = db["USER"] or "postgres", db["HOST"] or "127.0.0.1"
    return dict(
        os.environ,
        DATABASE_URL=f"postgres://{user}@{host}:{db['PORT'] or 5432}/{db['NAME']}",
        CONSOLE_DATA_DIR=str(settings.DATA_DIR),
        CONNECTORS_DIR=str(CONNECTORS_DIR),
        DUCKDB_DIR=str(duckdb_dir),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        SYNC_HEARTBEAT_SECONDS="1",
        **extra,
    )


def start_process(
    argv: list[str], *, env: dict[str, str], log: Path
) -> subprocess.Popen:
    """Start ``argv`` in the repository, in its own process group, output to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_worker(
    name: str,
    *,
    env: dict[str, str],
    log_dir: Path,
    queues: str = "syncs,default",
    solo: bool = False,
) -> subprocess.Popen:
    """A Celery worker consuming ``queues``, logging to ``log_dir/<name>.log``.

    ``solo`` runs tasks in the worker process itself (else one prefork child).
    """
    pool = ["--pool", "solo"] if solo else ["--concurrency", "1"]
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "airbyte_console",
        "worker",
        *pool,
        "--queues",
        queues,
        "--loglevel",
        "INFO",
        "--hostname",
        f"{name}-{os.getpid()}@%h",
        "--without-mingle",
        "--without-gossip",
    ]
    return start_process(argv, env=env, log=log_dir / f"{name}.log")


def stop_processes(processes: list[subprocess.Popen], *, timeout: float = 20) -> None:
    """SIGTERM each process group still running; SIGKILL what has not exited in time."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
