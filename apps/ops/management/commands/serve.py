"""`manage.py serve`: the web server, a Celery worker and beat, in the foreground.

This is what `make run` ends with. The three processes share the terminal; Ctrl-C
(or SIGTERM) stops all of them. One that dies is started again with a log line (a
crashed worker must not take the web UI down); one that dies five times within a
minute stops everything with a message saying so (``apps/ops/serving.py``).

The children get ``CONSOLE_BASE_URL`` from the address served (unless it is set), so
links in notifications point where the console is; gunicorn's control socket is in
this console's ``DATA_DIR/run``, so two consoles on one machine do not share it.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from apps.core import metrics as pipeline_metrics
from apps.ops.processes import celery_command, run_dir, worker_queues
from apps.ops.serving import Supervisor, base_url, control_socket_args


def sandbox_line() -> str:
    """Whether the connectors this console runs are sandboxed (CONNECTOR_SANDBOX)."""
    if settings.CONNECTOR_SANDBOX == "bwrap":
        return (
            "Connector sandbox: on (bubblewrap; connectors see only their "
            "virtualenv and their workspace's /local)."
        )
    return (
        "Connector sandbox: OFF (CONNECTOR_SANDBOX=none): connectors can read the "
        "console's files. Install bubblewrap to turn it on."
    )


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
                *control_socket_args(run_dir()),
            ],
        }
        if not options["no_worker"]:
            commands["worker"] = celery_command(
                "worker",
                "--queues",
                worker_queues(),
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
        # Read by the children's settings at their start: links in notifications
        # and webhooks then point at the address served.
        os.environ.setdefault(
            "CONSOLE_BASE_URL", base_url(options["host"], options["port"])
        )
        # Every child writes its metrics into this folder and a scrape sums it;
        # emptied now, so the sums are this run's (apps/core/metrics.py).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(settings.PROMETHEUS_MULTIPROC_DIR)
        pipeline_metrics.clean_directory(settings.PROMETHEUS_MULTIPROC_DIR)
        supervisor = Supervisor(commands, log=self.stderr.write)
        stopping = False

        def stop(signum: int | None = None, frame: Any = None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        supervisor.start_all()
        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(f"Airbyte Console is serving on {url} (Ctrl-C stops it).")
        self.stdout.write(sandbox_line())
        exit_code = 0
        while not stopping:
            failure = supervisor.check()
            if failure:
                self.stderr.write(failure)
                exit_code = 1
                break
            time.sleep(0.5)
        supervisor.stop_all()
        self._interrupt_attempts()
        self.stdout.write("Stopped.")
        if exit_code:
            sys.exit(exit_code)

    def _interrupt_attempts(self) -> None:
        """Fail the attempts the stopped worker was running, now, not in minutes.

        Their worker processes are gone, so the reaper's rule for dead workers on
        this host applies; the jobs retry from their last committed state at the
        next start.
        """
        from apps.connections.lifecycle import reap_stale_attempts

        try:
            reaped = reap_stale_attempts()
        except Exception as exc:  # the database may be gone too; the reaper retries
            self.stderr.write(f"Could not mark running syncs interrupted: {exc}")
            return
        if reaped:
            self.stdout.write(
                f"Marked {reaped} running sync attempt(s) interrupted; they retry "
                "from their last committed state at the next start."
            )
