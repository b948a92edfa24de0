"""``manage.py bench_pages``: how fast the busy pages answer on a large workspace.

    manage.py bench_pages [--connections 1000] [--jobs 100000] [--requests 50]
                          [--database auto|sqlite|postgres] [--keep-scratch]

It seeds a workspace with ``apps.ops.seed.demo_seed`` (the rows
``airbyte demo seed`` makes), then requests each page ``--requests`` times with
Django's test ``Client``, signed in (``force_login``) as an admin member, and reports
the p50, p95 and max latency in ms and the number of SQL queries of each:

- the workspace dashboard (``workspaces:detail``);
- the connection list (``connections:list``), its first page and page 10;
- the job history of the busiest connection (``connections:jobs``, ~2 % of all jobs);
- the live-progress fragment of a running connection (``connections:detail`` with
  ``HX-Request: true``, what the page polls every 1.5 s);
- extras that show where pagination and the full page stand: the busiest
  connection's page, and the last page of its job history.

Target (issue #5, design.md): p95 under 150 ms for every page. Each page prints PASS
or FAIL; a missed target does not change the exit code (a benchmark informs), an
error or a non-200 answer does (exit 1). The figures and the environment go to
``<CONSOLE_DATA_DIR>/bench/pages-<timestamp>.json`` (``var/bench/`` by default).

How it keeps away from the developer's data: the two-process scratch harness of
``apps.ops.bench``. The outer process makes a scratch ``CONSOLE_DATA_DIR`` in a
temp folder and a scratch database, migrates it, and runs this same command again
with the hidden ``--inner`` flag and that environment; the inner process checks
that its settings point at the scratch database before it writes anything, seeds,
measures and prints. The scratch folder (and database) is removed afterwards
unless ``--keep-scratch``.

Which database. ``--database auto`` (the default) uses PostgreSQL when the shell's
``DATABASE_URL`` names a PostgreSQL server, else SQLite, like the console itself.
SQLite: a fresh file in the scratch folder, with the console's own pragmas (WAL).
PostgreSQL: a new database ``bench_pages_<random>`` on the server ``DATABASE_URL``
names (127.0.0.1:5432 as ``postgres`` when it is unset), dropped at the end; the
database in ``DATABASE_URL`` itself is never touched. After seeding, PostgreSQL gets
an ``ANALYZE``, as autovacuum would give it within a minute of such a load; SQLite
gets none, as ``make run`` never runs one.

What the numbers include: the whole Django request cycle in-process (middleware,
session and user lookups, the view, template rendering), not the network or a WSGI
server. The first ``--warmup`` requests of each page are not counted (template and
connection caches). Queries are counted on one extra request, so capturing them
does not slow the timed ones. The machine's load average is printed: other work on
a small machine makes every figure slower and noisier.
"""

from __future__ import annotations

import json
import math
import os
import platform
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.ops.bench import (
    ScratchBenchCommand,
    bench_admin,
    check_scratch,
    results_path,
    run_inner,
    scratch_env,
    scratch_folder,
    text_table,
)

SCRATCH_DB_PREFIX = "bench_pages_"
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/postgres"
P95_TARGET_MS = 150.0
# Variables of the developer's shell that would lead the scratch run elsewhere.
SCRUBBED_ENV = (
    "DATABASE_URL",
    "DATABASE_URL_FILE",
    "CELERY_BROKER_URL",
    "CELERY_BROKER_URL_FILE",
    "CELERY_TASK_ALWAYS_EAGER",
    "FIELD_ENCRYPTION_KEY",
    "FIELD_ENCRYPTION_KEY_FILE",
    "DJANGO_SECURE_SSL_REDIRECT",
    "DJANGO_ALLOWED_HOSTS",
)


@dataclass
class PageResult:
    """The latencies and query count of one page."""

    name: str
    path: str
    htmx: bool
    extra: bool
    queries: int
    bytes: int
    timings_ms: list[float] = field(default_factory=list)

    @property
    def p50(self) -> float:
        return percentile(self.timings_ms, 50)

    @property
    def p95(self) -> float:
        return percentile(self.timings_ms, 95)

    @property
    def max(self) -> float:
        return max(self.timings_ms)

    @property
    def passed(self) -> bool:
        return self.p95 < P95_TARGET_MS

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["timings_ms"] = [round(t, 2) for t in self.timings_ms]
        data.update(
            p50_ms=round(self.p50, 1),
            p95_ms=round(self.p95, 1),
            max_ms=round(self.max, 1),
            passed=self.passed,
        )
        return data


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest value with ``pct`` % at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def render_table(results: list[PageResult]) -> str:
    header = ("page", "queries", "p50 ms", "p95 ms", "max ms", "KiB", "p95 < 150")
    rows = [
        (
            r.name + (" *" if r.extra else ""),
            str(r.queries),
            f"{r.p50:.1f}",
            f"{r.p95:.1f}",
            f"{r.max:.1f}",
            f"{r.bytes / 1024:.0f}",
            "PASS" if r.passed else "FAIL",
        )
        for r in results
    ]
    return text_table(header, rows)


# -- the scratch environment -------------------------------------------------------
def _env_is_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(
        ("postgres://", "postgresql://")
    )


def _server_url() -> str:
    return os.environ["DATABASE_URL"] if _env_is_postgres() else DEFAULT_PG_URL


def _with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def _admin_sql(url: str, sql: str) -> None:
    """Run one statement on the server's maintenance database (no transaction)."""
    import psycopg

    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(sql)


class Command(ScratchBenchCommand):
    help = (
        "Seed a scratch workspace (1,000 connections, 100,000 jobs by default) and "
        "measure the p50/p95/max latency and query count of the busy pages."
    )
    keep_help = "Keep the scratch folder and database for a post-mortem."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--connections", type=int, default=1000)
        parser.add_argument("--jobs", type=int, default=100_000)
        parser.add_argument(
            "--requests", type=int, default=50, help="Timed requests per page (50)."
        )
        parser.add_argument(
            "--warmup", type=int, default=3, help="Untimed requests first (3)."
        )
        parser.add_argument(
            "--database",
            choices=("auto", "sqlite", "postgres"),
            default="auto",
            help="auto: PostgreSQL if DATABASE_URL names one, else SQLite.",
        )
        super().add_arguments(parser)

    def check_options(self, options: dict[str, Any]) -> None:
        if options["requests"] < 1 or options["warmup"] < 0:
            raise CommandError("--requests must be at least 1, --warmup at least 0.")

    def inner(self, options: dict[str, Any]) -> None:
        PageBench(self, options).run()

    def outer(self, options: dict[str, Any]) -> None:
        """A scratch folder, and a scratch database on PostgreSQL if asked for."""
        database = options["database"]
        if database == "auto":
            database = "postgres" if _env_is_postgres() else "sqlite"
        json_out = results_path("pages")
        pg_name = ""
        if database == "postgres":
            pg_name = SCRATCH_DB_PREFIX + secrets.token_hex(5)
            server = _server_url()
            try:
                _admin_sql(server, f'CREATE DATABASE "{pg_name}"')
            except Exception as exc:
                raise CommandError(
                    f"Cannot create the scratch database on {urlsplit(server).hostname}"
                    f": {exc}"
                ) from None
        try:
            with scratch_folder(
                self.stdout,
                prefix="airbyte-console-pages-",
                keep=options["keep_scratch"],
            ) as scratch:
                env = scratch_env(
                    scratch,
                    scrubbed=SCRUBBED_ENV,
                    extra={
                        # Production-like: no debug, static files from the source
                        # folders (there is no collectstatic in the scratch folder).
                        "DJANGO_DEBUG": "0",
                        "CONSOLE_STATIC_MANIFEST": "0",
                        "CONSOLE_HTTPS": "0",
                        "DJANGO_ALLOWED_HOSTS": "localhost",
                    },
                )
                if pg_name:
                    env["DATABASE_URL"] = _with_database(_server_url(), pg_name)
                self.stdout.write(
                    "Database: "
                    + (f"PostgreSQL {pg_name}" if pg_name else "SQLite (scratch)")
                )
                returncode = run_inner(
                    "bench_pages",
                    env=env,
                    options=options,
                    forward=("connections", "jobs", "requests", "warmup"),
                    json_out=json_out,
                )
        finally:
            if pg_name and options["keep_scratch"]:
                self.stdout.write(f"Kept the scratch database {pg_name}")
            elif pg_name:
                _admin_sql(_server_url(), f'DROP DATABASE IF EXISTS "{pg_name}"')
        if returncode != 0:
            raise CommandError("The page benchmark did not complete (see above).")


class PageBench:
    """The inner process: seed, request each page, report."""

    def __init__(self, command: BaseCommand, options: dict[str, Any]) -> None:
        self.out = command.stdout
        self.style = command.style
        self.options = options

    def run(self) -> None:
        from django.db import connection

        self._check_scratch()
        user, seeded = self._seed()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        pages = self._pages(seeded)
        load_before = os.getloadavg()
        results = [self._measure(user, *page) for page in pages]
        load_after = os.getloadavg()
        self.out.write("")
        self.out.write(render_table(results))
        self.out.write("* extra page, beyond the four the target names")
        failed = [r.name for r in results if not r.passed]
        verdict = (
            self.style.SUCCESS("PASS: every page p95 < 150 ms")
            if not failed
            else self.style.ERROR(f"FAIL: p95 >= 150 ms on {', '.join(failed)}")
        )
        self.out.write(verdict)
        self.out.write(
            f"Load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
            f"({os.cpu_count()} CPUs)."
        )
        report = {
            "when": datetime.now(UTC).isoformat(),
            "target_p95_ms": P95_TARGET_MS,
            "passed": not failed,
            "database": connection.vendor,
            "seed": seeded.as_dict(),
            "requests": self.options["requests"],
            "warmup": self.options["warmup"],
            "pages": [r.as_dict() for r in results],
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "load_before": load_before,
                "load_after": load_after,
            },
        }
        json_out = self.options.get("json_out")
        if json_out:
            Path(json_out).write_text(json.dumps(report, indent=2))
            self.out.write(f"Results: {json_out}")

    def _check_scratch(self) -> None:
        """The inner process refuses to run anywhere but the scratch database."""

        def scratch_db(data_dir: Path) -> bool:
            db = settings.DATABASES["default"]
            name = str(db["NAME"])
            if "postgresql" in db["ENGINE"]:
                return name.startswith(SCRATCH_DB_PREFIX)
            return Path(name).resolve().is_relative_to(data_dir)

        check_scratch(self.options, database_is_scratch=scratch_db)

    def _seed(self) -> tuple[Any, Any]:
        from apps.ops.seed import demo_seed
        from apps.workspaces.services import workspace_create

        user = bench_admin()
        workspace = workspace_create(actor=user, name="Seeded")
        self.out.write(
            f"Seeding {self.options['connections']:,} connections and "
            f"{self.options['jobs']:,} jobs..."
        )
        seeded = demo_seed(
            actor=user,
            workspace=workspace,
            connections=self.options["connections"],
            jobs=self.options["jobs"],
            random_seed=5,
        )
        self.out.write(
            f"Seeded in {seeded.seconds:.1f} s: {seeded.jobs:,} jobs, "
            f"{seeded.attempts:,} attempts; the busiest connection has "
            f"{seeded.busiest_jobs:,} jobs."
        )
        return user, seeded

    def _pages(self, seeded: Any) -> list[tuple[str, str, bool, bool]]:
        """(name, path, htmx, extra) of each page to measure."""
        from django.core.paginator import Paginator
        from django.urls import reverse

        from apps.connections.views import JOBS_PER_PAGE

        ws = seeded.workspace.public_id
        pages = [
            ("dashboard", reverse("workspaces:detail", args=[ws]), False, False),
            ("connection list", reverse("connections:list", args=[ws]), False, False),
            (
                "connection list, page 10",
                reverse("connections:list", args=[ws]) + "?page=10",
                False,
                False,
            ),
        ]
        busy = seeded.busiest_connection
        if busy is not None:
            jobs_url = reverse("connections:jobs", args=[ws, busy.public_id])
            last = Paginator(range(seeded.busiest_jobs), JOBS_PER_PAGE).num_pages
            pages += [
                ("job history (busiest)", jobs_url, False, False),
                (
                    "job history, last page",
                    f"{jobs_url}?page={last}",
                    False,
                    True,
                ),
                (
                    "connection page (busiest)",
                    reverse("connections:detail", args=[ws, busy.public_id]),
                    False,
                    True,
                ),
            ]
        running = seeded.running_connection
        if running is not None:
            pages.append(
                (
                    "live progress fragment",
                    reverse("connections:detail", args=[ws, running.public_id]),
                    True,
                    False,
                )
            )
        return pages

    def _measure(
        self, user: Any, name: str, path: str, htmx: bool, extra: bool
    ) -> PageResult:
        from django.db import connection
        from django.test import Client

        headers = {"HX-Request": "true"} if htmx else {}
        client = Client(HTTP_HOST="localhost")
        client.force_login(user)

        def get() -> Any:
            response = client.get(path, headers=headers)
            if response.status_code != 200:
                raise CommandError(f"{name}: {path} answered {response.status_code}.")
            if htmx and b"<html" in response.content:
                raise CommandError(f"{name}: the fragment came back as a whole page.")
            return response

        for _ in range(self.options["warmup"]):
            get()
        # Count with an execute wrapper: the request_started signal resets
        # connection.queries, which would make a CaptureQueriesContext miscount.
        queries: list[str] = []

        def count(execute: Any, sql: str, *args: Any) -> Any:
            queries.append(sql)
            return execute(sql, *args)

        with connection.execute_wrapper(count):
            response = get()
        result = PageResult(
            name=name,
            path=path,
            htmx=htmx,
            extra=extra,
            queries=len(queries),
            bytes=len(response.content),
        )
        for _ in range(self.options["requests"]):
            started = time.perf_counter()
            get()
            result.timings_ms.append((time.perf_counter() - started) * 1000)
        self.out.write(
            f"  {name}: p95 {result.p95:.1f} ms, {result.queries} queries", ending="\n"
        )
        return result
