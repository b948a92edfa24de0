"""``manage.py bench_scale``: two worker hosts, one database, one broker, faults.

What it runs, measures and checks is described in ``apps/ops/bench_scale.py``;
``make bench-scale`` runs it with the defaults, ``--quick`` is the test suite's
short run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from apps.ops import bench_scale
from apps.ops.bench import ScratchBenchCommand, results_path


class Command(ScratchBenchCommand):
    help = (
        "Run 50 scheduled connections on 1 then 2 Celery workers (separate data "
        "folders, one PostgreSQL, a private Redis), restart Redis and SIGKILL a "
        "worker, and check every job ran exactly once with its data."
    )
    keep_help = "Keep the scratch folder (worker logs, the Redis files)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connections", type=int, default=50)
        parser.add_argument(
            "--records", type=int, default=20, help="Records per sync (faker users)."
        )
        parser.add_argument("--one-worker-seconds", type=int, default=45)
        parser.add_argument("--two-worker-seconds", type=int, default=45)
        parser.add_argument(
            "--fault-seconds",
            type=int,
            default=60,
            help="Two workers with a Redis restart and a SIGKILLed worker.",
        )
        parser.add_argument(
            "--concurrency", type=int, default=1, help="Processes per worker."
        )
        parser.add_argument(
            "--quick",
            action="store_true",
            help="10 connections, short phases: a run of about two minutes.",
        )
        super().add_arguments(parser)

    def check_options(self, options: dict[str, Any]) -> None:
        if options["quick"]:
            options.update(bench_scale.QUICK)
        if options["connections"] < 1 or options["connections"] > 99:
            raise CommandError("--connections must be between 1 and 99.")
        if options["records"] < 1:
            raise CommandError("--records must be at least 1.")
        if options["fault_seconds"] < 20:
            raise CommandError("--fault-seconds must be at least 20.")
        if options["concurrency"] < 1:
            raise CommandError("--concurrency must be at least 1.")

    def outer(self, options: dict[str, Any]) -> None:
        json_out = Path(options["json_out"] or results_path("scale"))
        if bench_scale.outer(self.stdout, options, json_out=json_out) != 0:
            raise CommandError("bench-scale: a check failed or the run stopped.")

    def inner(self, options: dict[str, Any]) -> None:
        if not bench_scale.inner(self.stdout, options):
            raise CommandError("A check failed (see above).")
