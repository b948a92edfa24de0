"""``manage.py bench_sync``: the embedded engine's speed and memory, end to end.

    manage.py bench_sync [--faker-count 1000000] [--hardcoded-count 300000] [--quick]

Every sync goes through the real task path: source, destination and connection rows
made by the services, ``sync_request``, the message on the broker, and a real Celery
worker process (``--pool solo``) that claims and runs the job. Next to them, each
connector runs alone with the same config and catalog, its stdout read and thrown
away, which is the baseline the "ratio" compares with.

Cases (in this order, a baseline before the syncs it is compared with):

- faker alone, faker -> PostgreSQL, -> DuckDB, -> files (Parquet in a local
  folder): source-faker, stream ``users`` only (so the records are exactly
  ``count``), ``parallelism`` 2, ``records_per_slice`` 1000, full refresh |
  overwrite;
- faker at count/5 alone and -> DuckDB, to see whether memory stays flat;
- hardcoded alone, -> PostgreSQL, -> DuckDB, -> files: source-hardcoded-records,
  stream ``products`` only, full refresh | overwrite.

How it keeps away from the developer's data: the two-process scratch harness of
``apps.ops.bench``. The outer process (what ``make bench`` starts) makes a scratch
``CONSOLE_DATA_DIR`` in a temp folder, migrates a fresh SQLite database there and
runs this same command again with the hidden ``--inner`` flag and that
environment. The inner process, whose settings now point at the scratch folder
only (it checks), creates the rows, starts the workers and measures. Connectors
come from the developer's usual
``CONNECTORS_DIR`` (installed there if missing); DuckDB files and the filesystem
broker live in the scratch folder, and PostgreSQL cases write to a scratch schema
of ``postgres@127.0.0.1:5432/postgres`` that is dropped at the end. The scratch
folder is removed afterwards (``--keep-scratch`` keeps it for a post-mortem).

What is measured:

- seconds: the attempt's own duration (claimed -> finished, from its row), which
  includes starting the connector, opening the writer and the final swap; the
  worker's start-up and broker latency are not in it.
- MB/s: the job's ``bytes_committed`` (the record lines' size) per second; for a
  connector alone, its stdout bytes per second.
- engine peak RSS: ``VmHWM`` of the worker process, read from /proc right after
  the job ended. With ``--pool solo`` the task runs in that process, so this is
  the engine's high-water mark, start-up included. A fresh worker runs each case,
  so each peak is its own. The connector is a separate process tree and is not
  counted; its own peak is sampled (summed RSS of the tree, every 0.25 s) and
  shown apart.
- CPU seconds (user + system) of the engine (the worker since it was ready) and
  of the connector tree: on a small or busy machine the two compete for cores,
  and these say what each one costs whatever the wall clock did.

Targets: ratio >= 0.9 for faker and >= 0.6 for hardcoded-records into PostgreSQL
(issue #4), >= 0.9 for both into DuckDB (issue #16); engine peak RSS under 250 MB
and flat (faker -> DuckDB at count vs count/5 within 10 %, #16). They print as
PASS / FAIL lines. A missed target does not change the exit code (a benchmark
informs); a sync that fails or a connector that crashes does (exit 1). Results are
also written as JSON to ``<CONSOLE_DATA_DIR>/bench/sync-<timestamp>.json``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from apps.ops.processes import celery_command

PG_HOST, PG_PORT, PG_USER, PG_DATABASE = "127.0.0.1", 5432, "postgres", "postgres"
QUICK_FAKER_COUNT = 50_000
QUICK_HARDCODED_COUNT = 30_000

FAKER_RATIO_TARGET = 0.9
HARDCODED_RATIO_TARGET = 0.6
# Issue #16: DuckDB keeps up with the source for both connectors.
DUCKDB_RATIO_TARGET = 0.9
# Parquet files in a local folder (#16): the writer casts like DuckDB's, and
# closes a file per commit; held to the same bar.
FILES_RATIO_TARGET = 0.9
PEAK_RSS_TARGET_MB = 250.0
FLATNESS_TOLERANCE = 0.10

WORKER_READY_TIMEOUT = 90.0
WORKER_STOP_GRACE = 20.0
SAMPLE_INTERVAL = 0.25
# Variables of the developer's shell that would lead the scratch run elsewhere.
SCRUBBED_ENV = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_BROKER_URL_FILE",
    "CELERY_TASK_ALWAYS_EAGER",
    "DUCKDB_ALLOW_ANY_PATH",
    "FIELD_ENCRYPTION_KEY",
    "FIELD_ENCRYPTION_KEY_FILE",
)


# -- results -----------------------------------------------------------------------
@dataclass
class CaseResult:
    """One measured case: a sync through a worker, or a connector alone."""

    case: str
    connector: str
    destination: str
    records: int
    seconds: float
    bytes: int
    engine_peak_mb: float | None = None
    engine_idle_mb: float | None = None
    connector_peak_mb: float | None = None
    #: CPU seconds (user + system) of the engine process and of the connector tree.
    engine_cpu_seconds: float | None = None
    connector_cpu_seconds: float | None = None
    baseline: str | None = None
    ratio: float | None = None
    wall_seconds: float | None = None

    @property
    def records_per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    @property
    def mb_per_second(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "records_per_second": round(self.records_per_second, 1),
            "mb_per_second": round(self.mb_per_second, 3),
        }


@dataclass
class Check:
    """One target and whether this run met it."""

    name: str
    passed: bool
    detail: str


@dataclass
class SourcePlan:
    """A source (one connector, one count) and the cases that read it."""

    key: str
    connector: str
    count: int
    destinations: list[str]
    source: Any = None
    connections: dict[str, Any] = field(default_factory=dict)
    #: The source's config and stream, as the connector got them.
    config: dict[str, Any] = field(default_factory=dict)
    stream: str = ""


class BenchFailure(Exception):
    """A sync or a connector run did not succeed: the numbers would mean nothing."""


# -- /proc helpers -----------------------------------------------------------------
def proc_status_kb(pid: int, key: str) -> int | None:
    """A ``kB`` line of /proc/<pid>/status (VmRSS, VmHWM), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def proc_cpu_seconds(pid: int) -> tuple[float, float] | None:
    """``(own, reaped children)`` CPU seconds (user + system) of a live process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    # Fields after the command name: utime, stime, cutime, cstime are 14-17 of stat.
    fields = stat[stat.rfind(b")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime) / ticks, (cutime + cstime) / ticks


def children_cpu_seconds() -> float:
    """CPU seconds of this process's children reaped so far (and theirs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def descendants(root: int) -> list[int]:
    """Every live process below ``root`` (by parent pid, from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields follow the last ")".
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process tree; ``peak_mb`` is the largest sum."""

    def __init__(self, root: int, *, include_root: bool) -> None:
        super().__init__(name="bench-rss-sampler", daemon=True)
        self.root = root
        self.include_root = include_root
        self.peak_kb = 0
        # Not ``_stop``: threading.Thread has a method of that name.
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            pids = descendants(self.root)
            if self.include_root:
                pids.append(self.root)
            total = sum(proc_status_kb(pid, "VmRSS") or 0 for pid in pids)
            self.peak_kb = max(self.peak_kb, total)
            self._done.wait(SAMPLE_INTERVAL)

    def finish(self) -> float | None:
        self._done.set()
        self.join(timeout=5)
        return round(self.peak_kb / 1024, 1) if self.peak_kb else None


# -- the benchmark's PostgreSQL ------------------------------------------------------
def postgres_reachable() -> str | None:
    """None when the benchmark's PostgreSQL answers, else why not."""
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=2):
            pass
    except OSError as exc:
        return f"nothing listens on {PG_HOST}:{PG_PORT} ({exc.strerror or exc})"
    import psycopg

    try:
        with psycopg.connect(**_pg_params(), connect_timeout=3) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        return f"cannot log in as {PG_USER} ({str(exc).strip()[:200]})"
    return None


def _pg_params() -> dict[str, Any]:
    return {"host": PG_HOST, "port": PG_PORT, "user": PG_USER, "dbname": PG_DATABASE}


# -- the worker --------------------------------------------------------------------
class Worker:
    """A fresh Celery worker process (solo pool: the task runs in its main process)."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.idle_mb: float | None = None
        self.cpu_at_ready: tuple[float, float] = (0.0, 0.0)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child keeps it open
        try:
            self.process = subprocess.Popen(
                celery_command(
                    "worker",
                    "--pool",
                    "solo",
                    "--concurrency",
                    "1",
                    "--queues",
                    "syncs,default",
                    "--loglevel",
                    "INFO",
                    "--hostname",
                    f"{self.name}@%h",
                    "--without-mingle",
                    "--without-gossip",
                    "--without-heartbeat",
                ),
                cwd=settings.BASE_DIR,
                env=dict(os.environ),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + WORKER_READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchFailure(
                    f"The worker exited at start-up (code {self.process.returncode})."
                    f"\n{self.log_tail()}"
                )
            if b" ready." in self.log_path.read_bytes():
                rss = proc_status_kb(self.pid, "VmRSS")
                self.idle_mb = round(rss / 1024, 1) if rss else None
                self.cpu_at_ready = proc_cpu_seconds(self.pid) or (0.0, 0.0)
                return
            time.sleep(0.2)
        raise BenchFailure(
            f"The worker was not ready after {WORKER_READY_TIMEOUT:g} s."
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def cpu_since_ready(self) -> tuple[float, float] | None:
        """CPU seconds since start-up: the worker's own, and its reaped children's.

        The connector is the worker's child and reaps its own workers, so once the
        sync ended the children's share is the whole connector tree.
        """
        now = proc_cpu_seconds(self.pid)
        if now is None:
            return None
        return (
            round(now[0] - self.cpu_at_ready[0], 2),
            round(now[1] - self.cpu_at_ready[1], 2),
        )

    def peak_mb(self) -> float | None:
        hwm = proc_status_kb(self.pid, "VmHWM")
        return round(hwm / 1024, 1) if hwm else None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # Only this worker's own process group (it was started in a new session).
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=WORKER_STOP_GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# -- the command -------------------------------------------------------------------
class Command(ScratchBenchCommand):
    help = (
        "Benchmark embedded syncs end to end (faker and hardcoded-records into "
        "PostgreSQL and DuckDB, through a real worker) against each connector alone."
    )
    keep_help = "Keep the scratch data folder (database, worker logs, DuckDB files)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--faker-count", type=int, default=1_000_000)
        parser.add_argument("--hardcoded-count", type=int, default=300_000)
        parser.add_argument(
            "--quick",
            action="store_true",
            help=f"Small counts (faker {QUICK_FAKER_COUNT:,}, hardcoded "
            f"{QUICK_HARDCODED_COUNT:,}) for a smoke run.",
        )
        super().add_arguments(parser)

    def check_options(self, options: dict[str, Any]) -> None:
        if options["quick"]:
            options["faker_count"] = QUICK_FAKER_COUNT
            options["hardcoded_count"] = QUICK_HARDCODED_COUNT
        if options["faker_count"] < 5 or options["hardcoded_count"] < 1:
            raise CommandError("The counts must be at least 5 (faker) and 1.")

    def inner(self, options: dict[str, Any]) -> None:
        Bench(self, options).run()

    def outer(self, options: dict[str, Any]) -> None:
        """A scratch folder with its own SQLite and DuckDB; connectors stay shared."""
        connectors_dir = Path(settings.CONNECTORS_DIR).resolve()
        # bench_compare names the file it reads back; otherwise a timestamped one.
        json_out = Path(options["json_out"]) if options.get("json_out") else None
        json_out = json_out or results_path("sync")
        with scratch_folder(
            self.stdout, prefix="airbyte-console-bench-", keep=options["keep_scratch"]
        ) as scratch:
            env = scratch_env(
                scratch,
                scrubbed=SCRUBBED_ENV,
                extra={
                    "CONNECTORS_DIR": str(connectors_dir),
                    "DUCKDB_DIR": str(scratch / "duckdb"),
                    "FILES_DIR": str(scratch / "files"),
                },
            )
            self.stdout.write(f"Connectors from:     {connectors_dir}")
            returncode = run_inner(
                "bench_sync",
                env=env,
                options=options,
                forward=("faker_count", "hardcoded_count"),
                json_out=json_out,
            )
        if returncode != 0:
            raise CommandError("The benchmark did not complete (see above).")


class Bench:
    """The inner process: rows, workers, measurements, the table."""

    def __init__(self, command: BaseCommand, options: dict[str, Any]) -> None:
        self.out = command.stdout
        self.err = command.stderr
        self.style = command.style
        self.options = options
        self.scratch = Path(".")
        self.results: list[CaseResult] = []
        self.skipped: list[str] = []
        self.pg_schema = f"bench_{uuid.uuid4().hex[:10]}"
        self.pg_problem: str | None = None
        self.failure: str | None = None
        self.load_at_start: list[float] = []
        #: Per connector: package, version and the executable the syncs ran.
        self.connectors: dict[str, dict[str, str]] = {}
        self.plans: list[SourcePlan] = []

    # -- top level -----------------------------------------------------------------
    def run(self) -> None:
        self._check_scratch()
        self.load_at_start = list(os.getloadavg())
        cpus = os.cpu_count() or 1
        if self.load_at_start[0] > 0.5 * cpus:
            # The connector and the engine each want a core: other work skews both.
            self.out.write(
                self.style.WARNING(
                    f"The machine is busy (load {self.load_at_start[0]:.1f} on {cpus} "
                    "CPUs): the figures will be lower and noisier than on an idle one."
                )
            )
        self.pg_problem = postgres_reachable()
        if self.pg_problem:
            self.skipped.append(f"PostgreSQL cases skipped: {self.pg_problem}.")
            self.out.write(self.style.WARNING(self.skipped[-1]))
        plans = self.plans = self._plans()
        try:
            self._prepare(plans)
            for plan in plans:
                self._run_plan(plan)
        except BenchFailure as exc:
            self.failure = str(exc)
        finally:
            self._drop_pg_schema()
        self._report()
        if self.failure:
            self.err.write(self.style.ERROR(f"FAILED: {self.failure}"))
            raise CommandError("A sync or a connector run failed; see above.")

    def _check_scratch(self) -> None:
        """The inner process refuses to run anywhere but the scratch folder."""

        def sqlite_in(data_dir: Path) -> bool:
            engine = settings.DATABASES["default"]["ENGINE"]
            name = str(settings.DATABASES["default"]["NAME"])
            return "sqlite" in engine and name.startswith(str(data_dir))

        self.scratch = check_scratch(self.options, database_is_scratch=sqlite_in)

    def _plans(self) -> list[SourcePlan]:
        faker, hardcoded = self.options["faker_count"], self.options["hardcoded_count"]
        local = ["duckdb", "files"]
        full = ["postgres", *local] if self.pg_problem is None else local
        return [
            SourcePlan("faker", "faker", faker, full),
            SourcePlan("faker/5", "faker", faker // 5, ["duckdb"]),
            SourcePlan("hardcoded", "hardcoded", hardcoded, full),
        ]

    # -- rows ----------------------------------------------------------------------
    def _prepare(self, plans: list[SourcePlan]) -> None:
        """Install the connectors, then make the user, sources and connections."""
        from apps.audit.context import audit_context
        from apps.connectors.models import ConnectorDefinition
        from apps.engines.embedded import installer
        from apps.workspaces.services import workspace_create

        definitions = {
            "faker": ConnectorDefinition.objects.get(
                pypi_package="airbyte-source-faker"
            ),
            "hardcoded": ConnectorDefinition.objects.get(
                pypi_package="airbyte-source-hardcoded-records"
            ),
            "postgres": ConnectorDefinition.objects.get(builtin="postgres"),
            "duckdb": ConnectorDefinition.objects.get(builtin="duckdb"),
            "files": ConnectorDefinition.objects.get(builtin="files"),
        }
        for key in ("faker", "hardcoded"):
            definition = definitions[key]
            found = installer.installed(
                definition.pypi_package, definition.pypi_version
            )
            if found is None:
                self.out.write(
                    f"Installing {definition.pypi_package}=={definition.pypi_version}"
                    "..."
                )
                found = installer.ensure_installed(
                    definition.pypi_package,
                    definition.pypi_version,
                    entrypoint=definition.entrypoint,
                )
            self.connectors[key] = {
                "package": definition.pypi_package,
                "version": definition.pypi_version,
                "executable": str(found.bin_dir / found.entrypoint),
            }
            self.out.write(
                f"Connector: {definition.pypi_package}=={definition.pypi_version}"
            )
        with audit_context(user_agent="bench-sync"):
            admin = bench_admin()
            workspace = workspace_create(actor=admin, name="Bench")
            for plan in plans:
                self._make_rows(plan, admin, workspace, definitions)

    def _make_rows(
        self,
        plan: SourcePlan,
        admin: Any,
        workspace: Any,
        definitions: dict[str, Any],
    ) -> None:
        from apps.connections.services import connection_create
        from apps.connectors.services import connector_create, source_discover_run

        if plan.connector == "faker":
            config: dict[str, Any] = {
                "count": plan.count,
                "seed": 42,
                "records_per_slice": 1000,
                "parallelism": 2,
            }
            stream = "users"
        else:
            config = {"count": plan.count}
            stream = "products"
        plan.config, plan.stream = config, stream
        plan.source = connector_create(
            actor=admin,
            workspace=workspace,
            kind="source",
            name=f"Bench {plan.key} {plan.count}",
            definition=definitions[plan.connector],
            config=config,
        )
        if source_discover_run(pk=plan.source.pk) is None:
            plan.source.refresh_from_db()
            raise BenchFailure(
                f"Discover of {plan.key} failed: {plan.source.discover_message}"
            )
        plan.source.refresh_from_db()
        # A DuckDB connection always exists: the connector-alone case reads with its
        # exact config and catalog.
        for kind in sorted({*plan.destinations, "duckdb"}):
            if kind == "postgres":
                destination_config: dict[str, Any] = {
                    "host": PG_HOST,
                    "port": PG_PORT,
                    "database": PG_DATABASE,
                    "schema": self.pg_schema,
                    "username": PG_USER,
                    "ssl_mode": "disable",
                }
                namespace = self.pg_schema
            elif kind == "files":
                slug = plan.key.replace("/", "_")
                destination_config = {
                    "storage": {
                        "storage_type": "Local",
                        "destination_path": f"bench_{slug}",
                    },
                    "format": {"format_type": "Parquet"},
                }
                namespace = "bench"
            else:
                slug = plan.key.replace("/", "_")
                destination_config = {"destination_path": f"bench_{slug}.duckdb"}
                namespace = "bench"
            destination = connector_create(
                actor=admin,
                workspace=workspace,
                kind="destination",
                name=f"Bench {plan.key} {kind}",
                definition=definitions[kind],
                config=destination_config,
            )
            plan.connections[kind] = connection_create(
                actor=admin,
                workspace=workspace,
                name=f"Bench {plan.key} to {kind}",
                source=plan.source,
                destination=destination,
                streams=[{"name": stream}],
                namespace=namespace,
            )

    # -- cases ---------------------------------------------------------------------
    def _run_plan(self, plan: SourcePlan) -> None:
        alone = self._connector_alone(plan)
        self.results.append(alone)
        self._echo(alone)
        for kind in plan.destinations:
            result = self._sync_case(plan, kind)
            result.baseline = alone.case
            if alone.records_per_second > 0:
                result.ratio = round(
                    result.records_per_second / alone.records_per_second, 3
                )
            self.results.append(result)
            self._echo(result)

    def _connector_alone(self, plan: SourcePlan) -> CaseResult:
        """The connector's ``read`` with the sync's config and catalog, into a pipe."""
        from apps.connections.execution import build_request
        from apps.connections.models import SyncAttempt, SyncJob
        from apps.engines.embedded import installer
        from apps.engines.embedded.runner import (
            connector_env,
            private_files,
            read_argv,
        )
        from apps.engines.embedded.sync import configured_catalog

        case = f"{plan.key} alone"
        self.out.write(f"... {case} ({plan.count:,} records)")
        # build_request only reads the attempt's job and connection: unsaved rows
        # give the exact config and catalog a real attempt of this connection gets.
        connection = plan.connections["duckdb"]
        probe = SyncAttempt(job=SyncJob(connection=connection, public_id=uuid.uuid4()))
        request = build_request(probe)
        # The request carries the engine's plain ConnectorRef, not the model.
        source = request.source_definition
        installation = installer.ensure_installed(
            source.package, source.version, entrypoint=source.entrypoint
        )
        stderr_path = self.scratch / f"{plan.key.replace('/', '_')}-alone.stderr"
        with (
            private_files(
                config=request.source_config,
                catalog=configured_catalog(request.streams),
            ) as (directory, files),
            open(stderr_path, "wb") as stderr,
        ):
            argv = read_argv(installation.command(), files)
            cpu_before = children_cpu_seconds()
            started = time.monotonic()
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=directory,
                env=connector_env(installation.bin_dir),
                start_new_session=True,
            )
            sampler = TreeSampler(process.pid, include_root=True)
            sampler.start()
            assert process.stdout is not None
            records, size = count_records(_chunks(process.stdout.fileno()))
            returncode = process.wait()
            seconds = time.monotonic() - started
            peak = sampler.finish()
            cpu = round(children_cpu_seconds() - cpu_before, 2)
        if returncode != 0:
            tail = stderr_path.read_text(errors="replace")[-2000:]
            raise BenchFailure(
                f"{case}: the connector exited with {returncode}.\n{tail}"
            )
        return CaseResult(
            case=case,
            connector=plan.connector,
            destination="(pipe)",
            records=records,
            seconds=round(seconds, 3),
            bytes=size,
            connector_peak_mb=peak,
            connector_cpu_seconds=cpu,
            ratio=1.0,
            wall_seconds=round(seconds, 3),
        )

    def _sync_case(self, plan: SourcePlan, kind: str) -> CaseResult:
        """One sync through ``sync_request`` and a fresh worker; fails loudly."""
        from apps.connections.models import SyncJob
        from apps.connections.services import sync_request

        case = f"{plan.key} -> {kind}"
        self.out.write(f"... {case} ({plan.count:,} records)")
        slug = f"{plan.key}-{kind}".replace("/", "_")
        worker = Worker(f"bench-{slug}-{os.getpid()}", self.scratch / f"{slug}.log")
        worker.start()
        sampler = TreeSampler(worker.pid, include_root=False)
        sampler.start()
        try:
            requested = time.monotonic()
            job = sync_request(
                connection=plan.connections[kind], trigger="manual", actor=None
            )
            job = self._wait(job.pk, worker, timeout=120 + plan.count / 500)
            wall = time.monotonic() - requested
            peak = worker.peak_mb()
            cpu = worker.cpu_since_ready()
        finally:
            connector_peak = sampler.finish()
            worker.stop()
        attempt = job.attempts.order_by("-number").first()
        if job.status != SyncJob.Status.SUCCEEDED or attempt is None:
            log = "\n".join((attempt.log if attempt else "").splitlines()[-20:])
            raise BenchFailure(
                f"{case}: the job ended {job.status} ({job.failure_origin} "
                f"{job.failure_type}): {job.failure_message}\n{log}\n"
                f"worker log:\n{worker.log_tail()}"
            )
        assert attempt.finished_at is not None
        seconds = (attempt.finished_at - attempt.started_at).total_seconds()
        return CaseResult(
            case=case,
            connector=plan.connector,
            destination=kind,
            records=job.records_committed,
            seconds=round(seconds, 3),
            bytes=job.bytes_committed,
            engine_peak_mb=peak,
            engine_idle_mb=worker.idle_mb,
            connector_peak_mb=connector_peak,
            engine_cpu_seconds=cpu[0] if cpu else None,
            connector_cpu_seconds=cpu[1] if cpu else None,
            wall_seconds=round(wall, 3),
        )

    def _wait(self, job_id: int, worker: Worker, *, timeout: float) -> Any:
        """The job once it ended (or stopped for a retry), within ``timeout``."""
        from apps.connections.models import SyncJob

        ended = (*SyncJob.TERMINAL_STATUSES, SyncJob.Status.INCOMPLETE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = SyncJob.objects.get(pk=job_id)
            if job.status in ended:
                return job
            if not worker.alive():
                raise BenchFailure(
                    f"The worker died while job {job_id} was {job.status}.\n"
                    f"{worker.log_tail()}"
                )
            time.sleep(0.25)
        raise BenchFailure(
            f"Job {job_id} did not end within {timeout:.0f} s.\n{worker.log_tail()}"
        )

    def _drop_pg_schema(self) -> None:
        if self.pg_problem is not None:
            return
        import psycopg

        try:
            with psycopg.connect(**_pg_params(), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.pg_schema}" CASCADE')
        except psycopg.Error as exc:
            self.err.write(f"Could not drop the scratch schema {self.pg_schema}: {exc}")

    # -- output --------------------------------------------------------------------
    def _echo(self, result: CaseResult) -> None:
        self.out.write(
            f"    {result.records:,} records in {result.seconds:.1f} s "
            f"({result.records_per_second:,.0f}/s)"
        )

    def _report(self) -> None:
        self.out.write("")
        self.out.write(render_table(self.results))
        self.out.write("")
        self.out.write(
            "seconds: the attempt's own duration (connector start to final commit); "
            "engine RSS: the worker process's VmHWM (connector not included); "
            "connector RSS: its process tree, sampled; CPU s: user + system."
        )
        checks = evaluate(self.results)
        for line in self.skipped:
            self.out.write(self.style.WARNING(f"SKIP {line}"))
        for check in checks:
            style = self.style.SUCCESS if check.passed else self.style.ERROR
            verdict = "PASS" if check.passed else "FAIL"
            self.out.write(style(f"{verdict} {check.name}: {check.detail}"))
        json_out = self.options.get("json_out")
        if json_out:
            payload = {
                "finished_at": datetime.now(UTC).isoformat(),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    # Other work on the machine skews the figures: say how busy it was.
                    "load_average_at_start": self.load_at_start,
                    "load_average_at_end": list(os.getloadavg()),
                },
                "options": {
                    "faker_count": self.options["faker_count"],
                    "hardcoded_count": self.options["hardcoded_count"],
                },
                "cases": [result.as_dict() for result in self.results],
                # What bench_compare needs to read the same data with PyAirbyte.
                "sources": {
                    plan.key: {
                        "connector": plan.connector,
                        "count": plan.count,
                        "config": plan.config,
                        "stream": plan.stream,
                        **self.connectors.get(plan.connector, {}),
                    }
                    for plan in self.plans
                },
                "checks": [asdict(check) for check in checks],
                "skipped": self.skipped,
                "failure": self.failure,
            }
            Path(json_out).write_text(json.dumps(payload, indent=2) + "\n")
            self.out.write(f"Results: {json_out}")


def _chunks(fd: int, size: int = 1 << 20) -> Iterator[bytes]:
    while chunk := os.read(fd, size):
        yield chunk


RECORD_MARKERS = (b'"type":"RECORD"', b'"type": "RECORD"')


def count_records(chunks: Iterator[bytes]) -> tuple[int, int]:
    """``(RECORD messages, bytes)`` in a stream of stdout chunks.

    A marker can straddle two chunks, so each marker carries the end of a chunk
    into the next one; the carry is one byte shorter than that marker, so no
    occurrence is counted twice.
    """
    records = size = 0
    carries = dict.fromkeys(RECORD_MARKERS, b"")
    for chunk in chunks:
        size += len(chunk)
        for marker, carry in carries.items():
            window = carry + chunk
            records += window.count(marker)
            carries[marker] = window[-(len(marker) - 1) :]
    return records, size


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_table(results: list[CaseResult]) -> str:
    """The results as a fixed-width text table."""
    header = (
        "case",
        "records",
        "seconds",
        "records/s",
        "MB/s",
        "engine peak MB",
        "engine idle MB",
        "connector MB",
        "engine CPU s",
        "connector CPU s",
        "ratio",
    )
    rows = [
        (
            r.case,
            f"{r.records:,}",
            f"{r.seconds:.1f}",
            f"{r.records_per_second:,.0f}",
            f"{r.mb_per_second:.2f}",
            _mb(r.engine_peak_mb),
            _mb(r.engine_idle_mb),
            _mb(r.connector_peak_mb),
            _seconds(r.engine_cpu_seconds),
            _seconds(r.connector_cpu_seconds),
            "-" if r.ratio is None else f"{r.ratio:.2f}",
        )
        for r in results
    ]
    return text_table(header, rows)


def ratio_target(result: CaseResult) -> float:
    """The lowest ratio to the connector alone a sync may reach (#4, #16)."""
    if result.destination == "duckdb":
        return DUCKDB_RATIO_TARGET
    if result.destination == "files":
        return FILES_RATIO_TARGET
    if result.connector == "faker":
        return FAKER_RATIO_TARGET
    return HARDCODED_RATIO_TARGET


def evaluate(results: list[CaseResult]) -> list[Check]:
    """The issue's targets against this run's syncs."""
    checks: list[Check] = []
    syncs = [r for r in results if r.engine_peak_mb is not None]
    alone = {r.case: r for r in results if r.engine_peak_mb is None}
    for result in syncs:
        target = ratio_target(result)
        ratio = result.ratio or 0.0
        checks.append(
            Check(
                f"{result.case} ratio",
                ratio >= target,
                f"{ratio:.2f} (target >= {target})",
            )
        )
        baseline = alone.get(result.baseline or "")
        if baseline is not None:
            checks.append(
                Check(
                    f"{result.case} records",
                    result.records == baseline.records,
                    f"{result.records:,} committed, the connector alone sent "
                    f"{baseline.records:,}",
                )
            )
        peak = result.engine_peak_mb or 0.0
        checks.append(
            Check(
                f"{result.case} engine peak RSS",
                peak < PEAK_RSS_TARGET_MB,
                f"{peak:.0f} MB (target < {PEAK_RSS_TARGET_MB:.0f} MB)",
            )
        )
    by_case = {r.case: r for r in syncs}
    full, fifth = by_case.get("faker -> duckdb"), by_case.get("faker/5 -> duckdb")
    if full and fifth and full.engine_peak_mb and fifth.engine_peak_mb:
        growth = full.engine_peak_mb / fifth.engine_peak_mb - 1
        checks.append(
            Check(
                "engine peak RSS flat (faker -> duckdb, count vs count/5)",
                abs(growth) <= FLATNESS_TOLERANCE,
                f"{fifth.engine_peak_mb:.0f} MB at {fifth.records:,}, "
                f"{full.engine_peak_mb:.0f} MB at {full.records:,} "
                f"({growth:+.0%}, target within {FLATNESS_TOLERANCE:.0%})",
            )
        )
    return checks
