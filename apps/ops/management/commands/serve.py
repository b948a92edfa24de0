"""`manage.py serve`: the web server, a Celery worker and beat, in the foreground.

This is what `make run` ends with. The three processes share the terminal; Ctrl-C
(or SIGTERM) stops all of them, and if one of them dies the others are stopped too,
so a half-running console never goes unnoticed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.ops.processes import celery_command


class Command(BaseCommand):
    help = "Serve the console with a Celery worker and beat (Ctrl-C stops all)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("PORT", "8000"))
        )
        parser.add_argument("--web-workers", type=int, default=2)
        parser.add_argument(
            "--concurrency", type=int, default=2, help="Celery worker processes."
        )
        parser.add_argument(
            "--no-worker", action="store_true", help="Serve the web only."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        bin_dir = os.path.dirname(sys.executable)
        logs = settings.DATA_DIR / "logs"
        logs.mkdir(exist_ok=True)
        commands = {
            "web": [
                os.path.join(bin_dir, "gunicorn"),
                "airbyte_console.wsgi",
                "--bind",
                f"{options['host']}:{options['port']}",
                "--workers",
                str(options["web_workers"]),
                "--threads",
                "4",
                "--timeout",
                "60",
                "--access-logfile",
                str(logs / "access.log"),
            ],
        }
        if not options["no_worker"]:
            commands["worker"] = celery_command(
                "worker",
                "--queues",
                "default,syncs",
                "--concurrency",
                str(options["concurrency"]),
                "--loglevel",
                "INFO",
                "--hostname",
                "worker@%h",
            )
            commands["beat"] = celery_command(
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            )
        processes: dict[str, subprocess.Popen] = {}
        stopping = False

        def stop(signum: int | None = None, frame: Any = None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        for name, command in commands.items():
            # Each child in its own process group: the terminal's Ctrl-C reaches this
            # supervisor, which then stops the children in order.
            processes[name] = subprocess.Popen(command, start_new_session=True)
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(f"Airbyte Console is serving on {url} (Ctrl-C stops it).")
        exit_code = 0
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    self.stderr.write(
                        f"{name} exited with code {process.returncode}; stopping."
                    )
                    exit_code = process.returncode or 1
                    stopping = True
                    break
            time.sleep(0.5)
        self._stop_all(processes)
        if exit_code:
            sys.exit(exit_code)

    def _stop_all(self, processes: dict[str, subprocess.Popen]) -> None:
        # The leaders first: gunicorn and Celery stop their own children gracefully
        # (a worker finishes or hands back its task); the group is killed only if
        # something is still there after the grace period.
        for process in processes.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            # Whatever the leader left behind in its group goes too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        self.stdout.write("Stopped.")
