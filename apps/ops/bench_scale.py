"""``make bench-scale``: more than one worker host, measured, with faults on purpose.

    manage.py bench_scale [--quick] [--connections 50] [--records 20]
        [--one-worker-seconds 45] [--two-worker-seconds 45] [--fault-seconds 60]

What runs (issue #17 item 5):

- a private ``redis-server`` on a free port from 6390 up (the shared one on 6379 is
  never touched), with an append-only file, as the broker;
- a scratch PostgreSQL database (``bench_scale_<hex>``) that the outer process
  creates, migrates and drops at the end; the console's rows and the destination's
  tables (schema ``bench``) both live there;
- ``--connections`` faker -> PostgreSQL connections (stream ``users``,
  ``--records`` records, full refresh | append), each on an interval schedule of one
  minute, their first due times staggered over the first phase;
- Celery workers as ``manage start`` runs them (prefork, ``WORKER_QUEUES``), each
  with its own ``CONSOLE_DATA_DIR`` as if on its own host, sharing the database,
  the broker, the secret key files and the connectors folder;
- this process as the one beat: the schedule dispatch every second and the reaper
  every two seconds (the functions beat's tasks call, at a faster tick).

Phases: one worker; two workers; two workers with faults: Redis is restarted once
(SIGTERM, a few seconds down, started again on its append-only file), and one worker
is SIGKILLed (its whole process group, while it runs a sync) and started again.
Then the schedules are paused and the queue drains.

What it prints: a table per phase (workers, jobs finished, jobs per minute, queue
wait p50/p95 from the job's creation to its first claim), and the checks:

- expected vs run: every tick that queued a sync has its own job, and every job
  ended succeeded exactly once (one succeeded attempt, attempts never overlapping);
- none lost: nothing pending, running or failed at the end;
- data: for each job, the destination rows extracted during its attempts equal the
  records its attempts committed, and its last attempt committed every record; no
  row outside an attempt.

It exits non-zero when a check fails. Results are also written as JSON to
``<CONSOLE_DATA_DIR>/bench/scale-<timestamp>.json``. Figures depend on the machine
and on what else runs on it: the load average at the start is printed.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.core.management.base import CommandError

from apps.ops.bench import (
    bench_admin,
    check_scratch,
    run_inner,
    scratch_env,
    scratch_folder,
    text_table,
)
from apps.ops.processes import celery_command, worker_queues

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
DATABASE_PREFIX = "bench_scale_"
DATABASE_ENV = "AIRBYTE_CONSOLE_BENCH_SCALE_DATABASE"
REDIS_PORT_ENV = "AIRBYTE_CONSOLE_BENCH_SCALE_REDIS_PORT"
FIRST_REDIS_PORT = 6390
DESTINATION_SCHEMA = "bench"
STREAM = "users"

DISPATCH_EVERY = 1.0
REAPER_EVERY = 2.0
REDIS_DOWN_SECONDS = 3.0
WORKER_DOWN_SECONDS = 3.0
WORKER_READY_TIMEOUT = 120.0
WORKER_STOP_GRACE = 30.0
# Waiting for the killed worker to be running a sync before it is killed.
KILL_WAIT_SECONDS = 30.0

QUICK = {
    "connections": 10,
    "records": 10,
    "one_worker_seconds": 20,
    "two_worker_seconds": 20,
    "fault_seconds": 45,
}
# The developer's variables that would lead the scratch run elsewhere.
SCRUBBED_ENV = (
    "DATABASE_URL",
    "DATABASE_URL_FILE",
    "CELERY_BROKER_URL",
    "CELERY_BROKER_URL_FILE",
    "CELERY_TASK_ALWAYS_EAGER",
    "FIELD_ENCRYPTION_KEY",
    "FIELD_ENCRYPTION_KEY_FILE",
    "DJANGO_SECRET_KEY",
    "DJANGO_SECRET_KEY_FILE",
    "WORKER_METRICS_PORT",
    "WORKER_QUEUES",
)
# The bench's own timings: short enough that a lost attempt or message is found
# within a phase, as the defaults would find it within minutes.
TIMINGS_ENV = {
    "SCHEDULE_MIN_INTERVAL_MINUTES": "1",
    "SYNC_HEARTBEAT_SECONDS": "2",
    "SYNC_HEARTBEAT_STALE_SECONDS": "30",
    "SYNC_REENQUEUE_AFTER_SECONDS": "60",
    "SYNC_RETRY_BACKOFF_BASE_SECONDS": "2",
}

logger = logging.getLogger(__name__)


class BenchFailure(Exception):
    """The run could not go on (a worker or Redis would not start)."""


# -- the scratch database (outer process) -----------------------------------------
def _pg(dbname: str = "postgres") -> Any:
    import psycopg

    return psycopg.connect(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_USER,
        dbname=dbname,
        autocommit=True,
        connect_timeout=5,
    )


def postgres_problem() -> str | None:
    """None when the bench's PostgreSQL answers, else why not."""
    import psycopg

    try:
        with _pg() as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        return (
            f"cannot reach PostgreSQL as {PG_USER}@{PG_HOST}:{PG_PORT} "
            f"({str(exc).strip()[:200]})"
        )
    return None


def create_database(name: str) -> None:
    with _pg() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    if not name.startswith(DATABASE_PREFIX):
        raise ValueError(f"Refusing to drop {name!r}: not a bench-scale database.")
    with _pg() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the private Redis ------------------------------------------------------------
def free_port(start: int = FIRST_REDIS_PORT, tries: int = 200) -> int:
    """The first port from ``start`` nothing listens on (never the shared 6379)."""
    for port in range(start, start + tries):
        if port == 6379:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise BenchFailure(f"No free port between {start} and {start + tries}.")


class PrivateRedis:
    """The bench's own ``redis-server``, on an append-only file in ``directory``."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pidfile(self) -> Path:
        return self.directory / "redis.pid"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise BenchFailure("redis-server is not installed.")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--pidfile",
                str(self.pidfile),
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchFailure(
                    f"redis-server exited at start (see {self.directory}/redis.log)."
                )
            if self.answers():
                return
            time.sleep(0.1)
        raise BenchFailure(f"redis-server on port {self.port} did not answer.")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def waiting(self, queue: str) -> int | None:
        """How many messages wait in ``queue`` (a list in Redis), None if down."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(f"LLEN {queue}\r\n".encode())
                reply = s.recv(64)
        except OSError:
            return None
        return int(reply[1:].split(b"\r\n")[0]) if reply.startswith(b":") else None

    def stop(self) -> None:
        """SIGTERM: Redis writes its append-only file and exits."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def stop_leftover_redis(directory: Path, port: int) -> None:
    """After the inner process: a Redis it left running (it crashed) is stopped."""
    try:
        pid = int((directory / "redis.pid").read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"redis-server" in cmdline and f":{port}".encode() in cmdline:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)


# -- a worker "host" ----------------------------------------------------------------
class WorkerHost:
    """A Celery worker as ``manage start`` runs it, with a data folder of its own."""

    def __init__(self, number: int, scratch: Path, *, concurrency: int) -> None:
        self.number = number
        self.data_dir = scratch / f"host-{number}"
        self.concurrency = concurrency
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        #: Every pid this host's worker and pool had (attempts name their pid).
        self.seen_pids: set[int] = set()

    @property
    def name(self) -> str:
        return f"worker {self.number}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"worker-{self.starts}.log"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, env: dict[str, str]) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.starts += 1
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                celery_command(
                    "worker",
                    "--queues",
                    worker_queues(),
                    "--concurrency",
                    str(self.concurrency),
                    "--loglevel",
                    "INFO",
                    "--hostname",
                    f"bench-{self.number}@%h",
                    "--without-mingle",
                    "--without-gossip",
                ),
                cwd=settings.BASE_DIR,
                env={**env, "CONSOLE_DATA_DIR": str(self.data_dir)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def ready(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise BenchFailure(f"{self.name} exited.\n{self.log_tail()}")
        return b" ready." in self.log_path.read_bytes()

    def pids(self) -> set[int]:
        """The worker and its pool processes (its process group)."""
        from apps.core.pids import group_members

        return {self.pid, *(pid for pid, _ in group_members(self.pid))}

    def kill(self) -> None:
        """SIGKILL the whole process group, as when a host dies."""
        os.killpg(self.pid, signal.SIGKILL)
        assert self.process is not None
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=WORKER_STOP_GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


# -- results ----------------------------------------------------------------------
@dataclass
class Phase:
    """A stretch of the run with a fixed number of workers."""

    name: str
    workers: int
    started: datetime
    ended: datetime | None = None
    finished: int = 0
    per_minute: float = 0.0
    #: Syncs asked for (by ticks) per minute: the demand the workers faced.
    asked_per_minute: float = 0.0
    #: Jobs waiting or running when the phase ended.
    backlog: int = 0
    wait_p50: float | None = None
    wait_p95: float | None = None

    @property
    def seconds(self) -> float:
        assert self.ended is not None
        return (self.ended - self.started).total_seconds()


@dataclass
class Checks:
    """What the end of the run says about every job."""

    expected: int = 0
    jobs: int = 0
    succeeded: int = 0
    unfinished: int = 0
    failed: int = 0
    retried: int = 0
    attempts: int = 0
    duplicates: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    data_ok: int = 0
    data_bad: list[str] = field(default_factory=list)
    rows: int = 0
    #: Rows inside some attempt's run; the rest were written by nobody known.
    attributed: int = 0
    #: Rows that attempts which failed (a killed worker's) committed before dying,
    #: and how many of them the console counted.
    failed_attempt_rows: int = 0
    failed_attempt_counted: int = 0

    @property
    def stray_rows(self) -> int:
        return self.rows - self.attributed

    @property
    def exactly_once(self) -> bool:
        return (
            self.jobs == self.expected
            and not self.orphans
            and not self.duplicates
            and self.succeeded == self.jobs
        )

    @property
    def none_lost(self) -> bool:
        return (
            self.unfinished == 0
            and self.failed == 0
            and self.succeeded == (self.expected)
        )

    @property
    def data(self) -> bool:
        return not self.data_bad and self.stray_rows == 0 and self.data_ok == self.jobs


def percentile(values: list[float], fraction: float) -> float | None:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class EnqueueFailures(logging.Handler):
    """Counts the enqueues that found the broker down (the reaper re-sends them)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "Could not enqueue" in message or "Could not schedule" in message:
            self.count += 1


# -- the inner process -------------------------------------------------------------
class ScaleBench:
    """Rows, workers, phases, faults, checks and the table (in the scratch)."""

    def __init__(self, out: TextIO, options: dict[str, Any]) -> None:
        self.out = out
        self.options = options
        self.scratch = Path(".")
        self.redis: PrivateRedis | None = None
        self.hosts: list[WorkerHost] = []
        self.phases: list[Phase] = []
        self.events: list[str] = []
        self.connection_ids: list[int] = []
        #: Jobs the bench asked for by hand (not by a schedule's tick).
        self.manual_jobs: set[int] = set()
        self.admin: Any = None
        self.workspace: Any = None
        self.started = time.monotonic()
        self.failures = EnqueueFailures()
        self._next_dispatch = 0.0
        self._next_reap = 0.0

    # -- top level -----------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self.scratch = check_scratch(self.options, database_is_scratch=_is_scratch_db)
        load = os.getloadavg()
        self.say(
            f"Machine: {platform.node()}, {os.cpu_count()} CPUs, load {load[0]:.2f} "
            f"{load[1]:.2f} {load[2]:.2f} at the start."
        )
        for name in ("apps.connections.services", "apps.connections.execution"):
            # Counted, not printed: each would print its traceback while Redis is down.
            logging.getLogger(name).addHandler(self.failures)
            logging.getLogger(name).propagate = False
        # Another process's leftovers in the shared temp folder are not this run's.
        logging.getLogger("apps.engines.embedded.scratch").setLevel(logging.ERROR)
        self.redis = PrivateRedis(
            int(os.environ[REDIS_PORT_ENV]), self.scratch / "redis"
        )
        self.redis.start()
        self.say(f"Private Redis on 127.0.0.1:{self.redis.port} (append-only).")
        env = self._worker_env()
        checks = Checks()
        try:
            self._prepare()
            first, second = (
                WorkerHost(n, self.scratch, concurrency=self.options["concurrency"])
                for n in (1, 2)
            )
            self.hosts = [first, second]
            self._start_host(first, env)
            self._stagger_schedules()
            self._phase("1 worker", 1, self.options["one_worker_seconds"])
            self._start_host(second, env)
            self._phase("2 workers", 2, self.options["two_worker_seconds"])
            self._fault_phase(second, env)
            self._drain()
            checks = self._check()
        finally:
            for host in self.hosts:
                host.stop()
            self.redis.stop()
        self._measure_phases()
        self._report(checks)
        return self._results(checks)

    def say(self, line: str) -> None:
        elapsed = time.monotonic() - self.started
        self.out.write(f"[{elapsed:6.1f} s] {line}\n")
        self.out.flush()

    def _worker_env(self) -> dict[str, str]:
        """Every host's environment: same database, broker and secrets, own folder."""
        env = dict(os.environ)
        # Every host reads the same key files (a secret store or a mounted volume in
        # production): a host with another FIELD_ENCRYPTION_KEY cannot read secrets.
        env["DJANGO_SECRET_KEY_FILE"] = str(self.scratch / "secret_key")
        env["FIELD_ENCRYPTION_KEY_FILE"] = str(self.scratch / "field_encryption_key")
        for name in ("DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY"):
            env.pop(name, None)
        return env

    # -- rows ----------------------------------------------------------------------
    def _prepare(self) -> None:
        from apps.audit.context import audit_context
        from apps.connections.services import connection_create
        from apps.connectors.models import ConnectorDefinition
        from apps.connectors.services import connector_create, source_discover_run
        from apps.schedules.models import Schedule
        from apps.schedules.services import schedule_create
        from apps.workspaces.services import workspace_create

        faker = ConnectorDefinition.objects.get(pypi_package="airbyte-source-faker")
        postgres = ConnectorDefinition.objects.get(builtin="postgres")
        count = self.options["connections"]
        with audit_context(user_agent="bench-scale"):
            admin = self.admin = bench_admin()
            self.workspace = workspace_create(actor=admin, name="Bench scale")
            source = connector_create(
                actor=admin,
                workspace=self.workspace,
                kind="source",
                name="Faker",
                definition=faker,
                config={
                    "count": self.options["records"],
                    "seed": 7,
                    "records_per_slice": 1000,
                    "parallelism": 1,
                },
            )
            # Discover installs the connector into CONNECTORS_DIR if it is missing.
            if source_discover_run(pk=source.pk) is None:
                source.refresh_from_db()
                raise BenchFailure(
                    f"Discover of faker failed: {source.discover_message}"
                )
            source.refresh_from_db()
            destination = connector_create(
                actor=admin,
                workspace=self.workspace,
                kind="destination",
                name="PostgreSQL",
                definition=postgres,
                config={
                    "host": PG_HOST,
                    "port": PG_PORT,
                    "database": settings.DATABASES["default"]["NAME"],
                    "schema": DESTINATION_SCHEMA,
                    "username": PG_USER,
                    "ssl_mode": "disable",
                },
            )
            for number in range(1, count + 1):
                connection = connection_create(
                    actor=admin,
                    workspace=self.workspace,
                    name=f"Faker {number:02d}",
                    source=source,
                    destination=destination,
                    streams=[
                        {
                            "name": STREAM,
                            "sync_mode": "full_refresh",
                            "destination_sync_mode": "append",
                        }
                    ],
                    namespace=DESTINATION_SCHEMA,
                    table_prefix=table_prefix(number),
                )
                schedule_create(
                    actor=admin,
                    workspace=self.workspace,
                    connection=connection,
                    name=f"Every minute {number:02d}",
                    kind=Schedule.Kind.INTERVAL,
                    interval_minutes=1,
                )
                self.connection_ids.append(connection.pk)
        self.say(
            f"{count} connections faker ({self.options['records']} records) -> "
            f"PostgreSQL, each on an interval schedule of 1 minute."
        )

    def _stagger_schedules(self) -> None:
        """First due times spread over the first phase (or a minute, if shorter)."""
        from django.utils import timezone

        from apps.schedules.models import Schedule

        spread = min(60.0, float(self.options["one_worker_seconds"]))
        count = len(self.connection_ids)
        now = timezone.now()
        for index, connection_id in enumerate(self.connection_ids):
            Schedule.objects.filter(connection_id=connection_id).update(
                next_run_at=now + timedelta(seconds=spread * index / count)
            )

    # -- the loop: this process is the beat ---------------------------------------
    def _beat(self) -> None:
        """The schedule dispatch and the reaper, each when its tick is due."""
        from apps.connections.tasks import sync_reaper_task
        from apps.schedules.services import schedule_dispatch

        now = time.monotonic()
        if now >= self._next_dispatch:
            self._next_dispatch = now + DISPATCH_EVERY
            schedule_dispatch()
        if now >= self._next_reap:
            self._next_reap = now + REAPER_EVERY
            sync_reaper_task()
            for host in self.hosts:
                if host.process is not None and host.process.poll() is None:
                    host.seen_pids |= host.pids()

    def _run(self, seconds: float, until: Callable[[], bool] | None = None) -> bool:
        """Beat for ``seconds``, or until ``until()`` says so; True if it did."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._beat()
            if until is not None and until():
                return True
            time.sleep(0.2)
        return False

    def _start_host(self, host: WorkerHost, env: dict[str, str]) -> None:
        host.start(env)
        if not self._run(WORKER_READY_TIMEOUT, until=host.ready):
            raise BenchFailure(f"{host.name} was not ready.\n{host.log_tail()}")
        host.seen_pids |= host.pids()
        self.say(f"{host.name} ready (pid {host.pid}, {host.data_dir}).")

    def _phase(self, name: str, workers: int, seconds: float) -> Phase:
        from django.utils import timezone

        phase = Phase(name=name, workers=workers, started=timezone.now())
        self.phases.append(phase)
        self.say(f"Phase '{name}': {seconds:g} s.")
        self._run(seconds)
        phase.ended = timezone.now()
        phase.backlog = self._backlog()
        return phase

    def _fault_phase(self, victim: WorkerHost, env: dict[str, str]) -> None:
        """Two workers again, with a Redis restart and a SIGKILLed worker."""
        from django.utils import timezone

        assert self.redis is not None
        seconds = float(self.options["fault_seconds"])
        phase = Phase(name="2 workers, faults", workers=2, started=timezone.now())
        self.phases.append(phase)
        self.say(f"Phase '{phase.name}': {seconds:g} s.")
        end = time.monotonic() + seconds
        self._run(seconds * 0.15)

        before = self.failures.count
        waiting = self.redis.waiting("syncs")
        self.redis.stop()
        self.say("Redis stopped (SIGTERM).")
        # "Sync now" while the broker is down: the job must wait, not vanish.
        manual = self._sync_now()
        self._run(REDIS_DOWN_SECONDS)
        self.redis.start()
        after = self.redis.waiting("syncs")
        self.events.append(
            f"Redis restarted (SIGTERM, down {REDIS_DOWN_SECONDS:g} s): {waiting} "
            f"message(s) waited in 'syncs' before, {after} after; "
            f"{self.failures.count - before} enqueue(s) found it down"
            + (f" (one a Sync now of {manual})" if manual else "")
            + ", re-sent by the reaper."
        )
        self.say(self.events[-1])
        self._run(seconds * 0.15)

        running = self._run(KILL_WAIT_SECONDS, until=lambda: bool(self._job_on(victim)))
        job = self._job_on(victim)
        victim.kill()
        what = f"while it ran job {job}" if running and job else "while it was idle"
        self.say(f"{victim.name} SIGKILLed {what}.")
        self._run(WORKER_DOWN_SECONDS)
        self._start_host(victim, env)
        self.events.append(
            f"{victim.name} SIGKILLed {what}, started again "
            f"{WORKER_DOWN_SECONDS:g} s later."
        )
        self._run(max(0.0, end - time.monotonic()))
        phase.ended = timezone.now()
        phase.backlog = self._backlog()

    def _sync_now(self) -> str:
        """Ask for a sync of an idle connection by hand; its name, or ''."""
        from apps.connections.models import Connection, SyncJob
        from apps.connections.services import sync_request

        busy = SyncJob.objects.active().values("connection_id")
        idle = (
            Connection.objects.filter(pk__in=self.connection_ids)
            .exclude(pk__in=busy)
            .first()
        )
        if idle is None:
            return ""
        job = sync_request(connection=idle, trigger="manual", actor=self.admin)
        self.manual_jobs.add(job.pk)
        return idle.name

    def _job_on(self, host: WorkerHost) -> str:
        """The public id of a job the host is running now, or ''."""
        from apps.connections.models import SyncAttempt

        pids = host.pids()
        host.seen_pids |= pids
        for attempt in SyncAttempt.objects.filter(
            status=SyncAttempt.Status.RUNNING
        ).select_related("job"):
            pid = attempt.worker.rpartition(":")[2]
            if pid.isdigit() and int(pid) in pids:
                return f"{attempt.job.public_id} (attempt {attempt.number})"
        return ""

    def _backlog(self) -> int:
        from apps.connections.models import SyncJob

        return (
            SyncJob.objects.filter(connection__workspace=self.workspace)
            .active()
            .count()
        )

    def _drain(self) -> None:
        """No new ticks; every job asked for so far must end."""
        from apps.schedules.models import Schedule

        Schedule.objects.filter(workspace=self.workspace).update(paused=True)
        left = self._backlog()
        limit = 120.0 + 6.0 * left
        self.say(f"Schedules paused; draining {left} job(s) (at most {limit:g} s).")
        started = time.monotonic()
        if self._run(limit, until=lambda: self._backlog() == 0):
            self.say(f"Drained in {time.monotonic() - started:.0f} s.")
        else:
            self.say(f"{self._backlog()} job(s) still not finished after {limit:g} s.")

    # -- checks --------------------------------------------------------------------
    def _check(self) -> Checks:
        from apps.connections.models import SyncJob
        from apps.schedules.models import Tick

        checks = Checks()
        tick_jobs = list(
            Tick.objects.filter(
                schedule__workspace=self.workspace, outcome=Tick.Outcome.QUEUED
            ).values_list("job_id", flat=True)
        )
        checks.expected = len(tick_jobs) + len(self.manual_jobs)
        jobs = list(
            SyncJob.objects.filter(connection__workspace=self.workspace)
            .select_related("connection")
            .prefetch_related("attempts")
        )
        checks.jobs = len(jobs)
        asked = set(tick_jobs) | self.manual_jobs
        if None in tick_jobs or len(set(tick_jobs)) != len(tick_jobs):
            checks.orphans.append("a tick that queued a sync has no job of its own")
        checks.orphans += [
            f"job {job.public_id} was asked for by no tick"
            for job in jobs
            if job.pk not in asked
        ]
        checks.orphans += [
            f"job {pk} is gone" for pk in asked - {job.pk for job in jobs} if pk
        ]
        rows = self._destination_rows()
        for job in jobs:
            self._check_job(job, rows.get(job.connection_id, []), checks)
        checks.rows = sum(len(moments) for moments in rows.values())
        return checks

    def _check_job(self, job: Any, extracted: list[datetime], checks: Checks) -> None:
        """One job: how it ended, its attempts, and its rows in the destination.

        A destination row belongs to the attempt whose run (claimed -> finished)
        covers the moment it was extracted; a connection's attempts never overlap.
        """
        from apps.connections.models import SyncAttempt, SyncJob

        attempts = sorted(job.attempts.all(), key=lambda a: a.number)
        checks.attempts += len(attempts)
        if job.status == SyncJob.Status.SUCCEEDED:
            checks.succeeded += 1
        elif job.status in SyncJob.TERMINAL_STATUSES:
            checks.failed += 1
        else:
            checks.unfinished += 1
        if len(attempts) > 1:
            checks.retried += 1
        wins = [a for a in attempts if a.status == SyncAttempt.Status.SUCCEEDED]
        overlap = any(
            a.finished_at is None or b.started_at < a.finished_at
            for a, b in itertools.pairwise(attempts)
        )
        numbers = [a.number for a in attempts]
        if (
            len(wins) > 1
            or overlap
            or numbers != list(range(1, len(attempts) + 1))
            or job.attempt_count != len(attempts)
        ):
            checks.duplicates.append(
                f"job {job.public_id}: attempts {numbers}, {len(wins)} succeeded"
                + (", overlapping" if overlap else "")
            )

        def rows_of(attempt: Any) -> int:
            if attempt.finished_at is None:
                return 0
            return sum(
                1
                for moment in extracted
                if attempt.started_at <= moment <= attempt.finished_at
            )

        last = attempts[-1] if attempts else None
        delivered = rows_of(last) if last is not None else 0
        if (
            last is not None
            and last.status == SyncAttempt.Status.SUCCEEDED
            and delivered == last.records_committed == self.options["records"]
        ):
            checks.data_ok += 1
        else:
            checks.data_bad.append(
                f"job {job.public_id}: its last attempt has {delivered} rows in the "
                f"destination, {last.records_committed if last else 0} records "
                f"committed, {self.options['records']} sent"
            )
        checks.attributed += delivered
        for attempt in attempts[:-1]:
            # A failed attempt's rows stay (full refresh | append: at-least-once);
            # the console's count of them is what its last heartbeat said.
            found = rows_of(attempt)
            checks.attributed += found
            checks.failed_attempt_rows += found
            checks.failed_attempt_counted += attempt.records_committed

    def _destination_rows(self) -> dict[int, list[datetime]]:
        """Per connection, when each destination row was extracted."""
        from django.db import connection as db

        found: dict[int, list[datetime]] = {}
        with db.cursor() as cursor:
            for number, connection_id in enumerate(self.connection_ids, start=1):
                table = f"{table_prefix(number)}{STREAM}"
                cursor.execute(
                    "select to_regclass(%s)", [f'"{DESTINATION_SCHEMA}"."{table}"']
                )
                if cursor.fetchone()[0] is None:
                    continue
                # The schema and table names are the bench's own, not input.
                name = f'"{DESTINATION_SCHEMA}"."{table}"'
                cursor.execute(f"select _airbyte_extracted_at from {name}")  # noqa: S608
                found[connection_id] = [row[0] for row in cursor.fetchall()]
        return found

    # -- figures -------------------------------------------------------------------
    def _measure_phases(self) -> None:
        from apps.connections.models import SyncJob

        jobs = SyncJob.objects.filter(connection__workspace=self.workspace)
        for phase in self.phases:
            if phase.ended is None:
                continue
            window = {"gte": phase.started, "lt": phase.ended}
            phase.finished = jobs.filter(
                status=SyncJob.Status.SUCCEEDED,
                finished_at__gte=window["gte"],
                finished_at__lt=window["lt"],
            ).count()
            phase.per_minute = phase.finished * 60 / phase.seconds
            asked = jobs.filter(
                created_at__gte=window["gte"], created_at__lt=window["lt"]
            ).count()
            phase.asked_per_minute = asked * 60 / phase.seconds
            waits = [
                (started - created).total_seconds()
                for created, started in jobs.filter(
                    started_at__gte=window["gte"], started_at__lt=window["lt"]
                ).values_list("created_at", "started_at")
            ]
            phase.wait_p50 = percentile(waits, 0.50)
            phase.wait_p95 = percentile(waits, 0.95)

    def _report(self, checks: Checks) -> None:
        def seconds(value: float | None) -> str:
            return "-" if value is None else f"{value:.1f} s"

        rows = [
            [
                phase.name,
                str(phase.workers),
                f"{phase.seconds:.0f}",
                str(phase.finished),
                f"{phase.per_minute:.1f}",
                f"{phase.asked_per_minute:.1f}",
                str(phase.backlog),
                seconds(phase.wait_p50),
                seconds(phase.wait_p95),
            ]
            for phase in self.phases
            if phase.ended is not None
        ]
        self.out.write("\n")
        self.out.write(
            text_table(
                [
                    "phase",
                    "workers",
                    "seconds",
                    "jobs finished",
                    "jobs/min",
                    "asked/min",
                    "backlog",
                    "queue wait p50",
                    "p95",
                ],
                rows,
            )
            + "\n\n"
        )
        clean = [p for p in self.phases if p.ended is not None][:2]
        if len(clean) == 2 and clean[0].per_minute:
            one, two = clean
            self.out.write(
                f"Throughput: {one.per_minute:.1f} jobs/min with 1 worker, "
                f"{two.per_minute:.1f} with 2 "
                f"({two.per_minute / one.per_minute:.2f}x)"
                + (
                    "; the 2 workers kept up with what was asked (no backlog), so "
                    "their figure is the demand, not their capacity.\n"
                    if two.backlog <= two.workers * self.options["concurrency"]
                    else ".\n"
                )
            )
        for event in self.events:
            self.out.write(f"Fault: {event}\n")
        self.out.write(f"Attempts per worker: {self._attempts_per_host()}.\n")
        yes = {True: "yes", False: "NO"}
        manual = len(self.manual_jobs)
        self.out.write(
            f"Jobs expected: {checks.expected} ({checks.expected - manual} schedule "
            f"ticks, {manual} Sync now); jobs run: {checks.succeeded} succeeded of "
            f"{checks.jobs} ({checks.attempts} attempts, {checks.retried} job(s) "
            "retried).\n"
            f"Exactly once: {yes[checks.exactly_once]} "
            f"({len(checks.duplicates)} job(s) with more than one successful or "
            f"with overlapping attempts, {len(checks.orphans)} tick/job "
            "mismatch(es)).\n"
            f"None lost: {yes[checks.none_lost]} ({checks.unfinished} unfinished, "
            f"{checks.failed} failed or cancelled).\n"
            f"Data: {yes[checks.data]} ({checks.data_ok} of {checks.jobs} jobs: the "
            "last attempt's rows in the destination = its records committed = "
            f"the {self.options['records']} sent; {checks.rows} rows in all, "
            f"{checks.stray_rows} outside any attempt).\n"
        )
        if checks.failed_attempt_rows or checks.failed_attempt_counted:
            self.out.write(
                f"Note: attempts that failed (the killed worker's) had committed "
                f"{checks.failed_attempt_rows} row(s) before they died, which "
                "full refresh | append keeps (at-least-once, as in Airbyte); the "
                f"console counted {checks.failed_attempt_counted} of them.\n"
            )
        for problem in (checks.duplicates + checks.orphans + checks.data_bad)[:10]:
            self.out.write(f"  {problem}\n")

    def _attempts_per_host(self) -> str:
        """Which host ran how many attempts (an attempt names its worker's pid)."""
        from apps.connections.models import SyncAttempt

        counts = dict.fromkeys((host.name for host in self.hosts), 0)
        workers = SyncAttempt.objects.filter(
            job__connection__workspace=self.workspace
        ).values_list("worker", flat=True)
        for worker in workers:
            pid = worker.rpartition(":")[2]
            for host in self.hosts:
                if pid.isdigit() and int(pid) in host.seen_pids:
                    counts[host.name] += 1
        return ", ".join(f"{name} {count}" for name, count in counts.items())

    def _results(self, checks: Checks) -> dict[str, Any]:
        return {
            "options": {
                k: self.options[k]
                for k in (
                    "connections",
                    "records",
                    "one_worker_seconds",
                    "two_worker_seconds",
                    "fault_seconds",
                    "concurrency",
                )
            },
            "load_at_start": list(os.getloadavg()),
            "phases": [
                {
                    **asdict(phase),
                    "started": phase.started.isoformat(),
                    "ended": phase.ended.isoformat() if phase.ended else None,
                }
                for phase in self.phases
            ],
            "events": self.events,
            "checks": {
                **asdict(checks),
                "exactly_once": checks.exactly_once,
                "none_lost": checks.none_lost,
                "data": checks.data,
            },
        }


def table_prefix(number: int) -> str:
    return f"c{number:02d}_"


def _is_scratch_db(data_dir: Path) -> bool:
    name = str(settings.DATABASES["default"]["NAME"])
    return (
        "postgresql" in settings.DATABASES["default"]["ENGINE"]
        and name.startswith(DATABASE_PREFIX)
        and name == os.environ.get(DATABASE_ENV)
    )


def inner(out: TextIO, options: dict[str, Any]) -> bool:
    """The measuring process; True when every check passed."""
    bench = ScaleBench(out, options)
    try:
        results = bench.run()
    except BenchFailure as exc:
        out.write(f"FAILED: {exc}\n")
        return False
    if options.get("json_out"):
        Path(options["json_out"]).write_text(json.dumps(results, indent=2))
        out.write(f"Results: {options['json_out']}\n")
    checks = results["checks"]
    return bool(checks["exactly_once"] and checks["none_lost"] and checks["data"])


def outer(out: TextIO, options: dict[str, Any], *, json_out: Path) -> int:
    """Scratch folder, database and broker port; the inner process does the rest."""
    problem = postgres_problem()
    if problem:
        raise CommandError(f"bench-scale needs PostgreSQL: {problem}.")
    if shutil.which("redis-server") is None:
        raise CommandError("bench-scale needs redis-server (apt-get install redis).")
    connectors_dir = Path(settings.CONNECTORS_DIR).resolve()
    with scratch_folder(
        out, prefix="airbyte-console-bench-scale-", keep=options["keep_scratch"]
    ) as scratch:
        out.write("\n")
        database = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:10]}"
        port = free_port()
        create_database(database)
        out.write(f"Scratch database: {database}; connectors from {connectors_dir}\n")
        try:
            env = scratch_env(
                scratch,
                scrubbed=SCRUBBED_ENV,
                extra={
                    "DATABASE_URL": f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/"
                    f"{database}",
                    "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
                    "CONNECTORS_DIR": str(connectors_dir),
                    DATABASE_ENV: database,
                    REDIS_PORT_ENV: str(port),
                    **TIMINGS_ENV,
                },
            )
            return run_inner(
                "bench_scale",
                env=env,
                options=options,
                forward=(
                    "connections",
                    "records",
                    "one_worker_seconds",
                    "two_worker_seconds",
                    "fault_seconds",
                    "concurrency",
                ),
                json_out=json_out,
            )
        finally:
            stop_leftover_redis(scratch / "redis", port)
            drop_database(database)
            out.write(f"Dropped {database}.\n")
