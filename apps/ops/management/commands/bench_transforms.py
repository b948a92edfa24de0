"""``manage.py bench_transforms``: how soon a transform follows a sync, and how long
dbt takes over a million synced rows.

    manage.py bench_transforms [--rows 1000000] [--repeat 3] [--quick]

For each destination (DuckDB, and PostgreSQL when ``postgres@127.0.0.1:5432``
answers), through the console's own services:

1. a source-faker source (``users`` only, ``--seed-count`` records, seed 42) and a
   connection to the destination (incremental | append_dedup, so the generated
   staging model keeps the latest row per ``id``);
2. a generated dbt project for that connection (``project_create_generated``: the
   files, the after-sync trigger and the first ``parse`` run, run here);
3. **sync end -> transform start**: a real Celery worker process (solo pool,
   queues ``syncs,default``, as in ``bench_sync``) runs ``--repeat`` syncs from
   ``sync_request``; each successful job's ``sync_job_finished`` signal requests
   the project's run, which goes through the broker back to the worker. Measured
   from the rows: the job's ``finished_at`` to the run's ``created_at``
   (requested) and ``started_at`` (claimed by the worker), and the run's duration;
4. **staging build over ``--rows`` users**: the synced table is grown in place to
   ``--rows`` rows with SQL (copies of the synced rows with new ids and raw ids:
   the writer's exact table shape, without a connector producing a million
   records), then one ``build`` run of the project (staging view + its tests) runs
   here through ``transform_run_execute``; its duration is the row's
   ``started_at`` -> ``finished_at`` (materializing the folder, dbt's start-up,
   partial parse, the nodes, saving results); the slowest nodes are listed.

The scratch harness of ``apps.ops.bench`` keeps all of it away from the
developer's data (a scratch ``CONSOLE_DATA_DIR`` with its own SQLite, DuckDB files
and filesystem broker; PostgreSQL cases in a scratch schema of
``postgres@127.0.0.1:5432/postgres``, dropped at the end). Connectors and dbt come
from the developer's ``CONNECTORS_DIR`` and ``DBT_DIR`` (installed there if
missing). Results also go to ``<CONSOLE_DATA_DIR>/bench/transforms-<ts>.json``.
A failed sync or run makes the exit code 1.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
import uuid
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
from apps.ops.management.commands.bench_sync import (
    PG_DATABASE,
    PG_HOST,
    PG_PORT,
    PG_USER,
    SCRUBBED_ENV,
    BenchFailure,
    Worker,
    _pg_params,
    postgres_reachable,
)

QUICK_ROWS = 100_000
SEED_COUNT = 1000
RUN_TIMEOUT = 1800.0
SYNC_TIMEOUT = 300.0


@dataclass
class AfterSync:
    """One sync and the transform its end started."""

    destination: str
    sync_records: int
    to_requested: float
    to_started: float
    run_seconds: float
    run_status: str


@dataclass
class Build:
    """One ``build`` run over the grown table."""

    destination: str
    rows: int
    seconds: float
    status: str
    staged_rows: int
    nodes: list[dict[str, Any]] = field(default_factory=list)
    grow_seconds: float = 0.0
    parse_seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


class Command(ScratchBenchCommand):
    help = (
        "Benchmark transforms: time from a sync's end to its dbt run's start "
        "(through a real worker), and a dbt build of the generated staging models "
        "over a million synced users rows (DuckDB and PostgreSQL)."
    )
    keep_help = "Keep the scratch data folder (database, worker logs, DuckDB files)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument("--repeat", type=int, default=3)
        parser.add_argument("--seed-count", type=int, default=SEED_COUNT)
        parser.add_argument(
            "--destinations",
            default="duckdb,postgres",
            help="Comma-separated: duckdb, postgres.",
        )
        parser.add_argument(
            "--quick",
            action="store_true",
            help=f"{QUICK_ROWS:,} rows and one after-sync round, for a smoke run.",
        )
        super().add_arguments(parser)

    def check_options(self, options: dict[str, Any]) -> None:
        if options["quick"]:
            options["rows"] = QUICK_ROWS
            options["repeat"] = 1
        kinds = [k.strip() for k in options["destinations"].split(",") if k.strip()]
        if not kinds or any(k not in ("duckdb", "postgres") for k in kinds):
            raise CommandError("--destinations takes duckdb and/or postgres.")
        options["destinations"] = ",".join(kinds)
        if options["seed_count"] < 10 or options["rows"] < options["seed_count"]:
            raise CommandError("--seed-count must be >= 10 and --rows >= it.")
        if options["repeat"] < 1:
            raise CommandError("--repeat must be at least 1.")

    def inner(self, options: dict[str, Any]) -> None:
        TransformBench(self, options).run()

    def outer(self, options: dict[str, Any]) -> None:
        connectors_dir = Path(settings.CONNECTORS_DIR).resolve()
        dbt_dir = Path(settings.DBT_DIR).resolve()
        json_out = results_path("transforms")
        with scratch_folder(
            self.stdout,
            prefix="airbyte-console-bench-transforms-",
            keep=options["keep_scratch"],
        ) as scratch:
            env = scratch_env(
                scratch,
                scrubbed=SCRUBBED_ENV,
                extra={
                    "CONNECTORS_DIR": str(connectors_dir),
                    "DBT_DIR": str(dbt_dir),
                    "DUCKDB_DIR": str(scratch / "duckdb"),
                },
            )
            self.stdout.write(f"Connectors from:     {connectors_dir}")
            self.stdout.write(f"dbt from:            {dbt_dir}")
            returncode = run_inner(
                "bench_transforms",
                env=env,
                options=options,
                forward=("rows", "repeat", "seed_count", "destinations"),
                json_out=json_out,
            )
        if returncode != 0:
            raise CommandError("The benchmark did not complete (see above).")


class TransformBench:
    """The inner process: rows, a worker, runs, the tables."""

    def __init__(self, command: BaseCommand, options: dict[str, Any]) -> None:
        self.out = command.stdout
        self.err = command.stderr
        self.style = command.style
        self.options = options
        self.scratch = Path(".")
        self.pg_schema = f"bench_{uuid.uuid4().hex[:10]}"
        self.pg_problem: str | None = None
        self.after_sync: list[AfterSync] = []
        self.builds: list[Build] = []
        self.skipped: list[str] = []
        self.failure: str | None = None
        self.load_at_start: list[float] = []

    def run(self) -> None:
        def sqlite_in(data_dir: Path) -> bool:
            engine = settings.DATABASES["default"]["ENGINE"]
            name = str(settings.DATABASES["default"]["NAME"])
            return "sqlite" in engine and name.startswith(str(data_dir))

        self.scratch = check_scratch(self.options, database_is_scratch=sqlite_in)
        self.load_at_start = list(os.getloadavg())
        cpus = os.cpu_count() or 1
        if self.load_at_start[0] > 0.5 * cpus:
            self.out.write(
                self.style.WARNING(
                    f"The machine is busy (load {self.load_at_start[0]:.1f} on {cpus} "
                    "CPUs): dbt's start-up dominates small builds and will be slower."
                )
            )
        kinds = self.options["destinations"].split(",")
        if "postgres" in kinds:
            self.pg_problem = postgres_reachable()
            if self.pg_problem:
                kinds.remove("postgres")
                self.skipped.append(f"PostgreSQL skipped: {self.pg_problem}.")
                self.out.write(self.style.WARNING(self.skipped[-1]))
        try:
            admin, workspace, source = self._prepare()
            for kind in kinds:
                self._destination_cases(kind, admin, workspace, source)
        except BenchFailure as exc:
            self.failure = str(exc)
        finally:
            self._drop_pg_schema()
        self._report()
        if self.failure:
            self.err.write(self.style.ERROR(f"FAILED: {self.failure}"))
            raise CommandError("A sync or a transform run failed; see above.")

    # -- rows ----------------------------------------------------------------------
    def _prepare(self) -> tuple[Any, Any, Any]:
        from apps.audit.context import audit_context
        from apps.connectors.models import ConnectorDefinition
        from apps.connectors.services import connector_create, source_discover_run
        from apps.transforms.dbt.install import DbtInstallError, dbt_ensure
        from apps.workspaces.services import workspace_create

        # The engine installs the connector on first use (the discover below).
        faker = ConnectorDefinition.objects.get(pypi_package="airbyte-source-faker")
        for adapter in ("duckdb", "postgres"):
            try:
                env = dbt_ensure(adapter)
            except DbtInstallError as exc:
                raise BenchFailure(f"dbt-{adapter}: {exc.message}") from None
            self.out.write(
                f"dbt-core {env.core_version} + dbt-{adapter} {env.adapter_version}"
            )
        with audit_context(user_agent="bench-transforms"):
            admin = bench_admin()
            workspace = workspace_create(actor=admin, name="Bench")
            source = connector_create(
                actor=admin,
                workspace=workspace,
                kind="source",
                name="Bench faker",
                definition=faker,
                config={
                    "count": self.options["seed_count"],
                    "seed": 42,
                    "records_per_slice": 1000,
                    "parallelism": 2,
                },
            )
        if source_discover_run(pk=source.pk) is None:
            source.refresh_from_db()
            raise BenchFailure(f"Discover of faker failed: {source.discover_message}")
        source.refresh_from_db()
        return admin, workspace, source

    def _destination_cases(self, kind: str, admin, workspace, source) -> None:
        from apps.audit.context import audit_context
        from apps.connections.services import connection_create
        from apps.connectors.models import ConnectorDefinition
        from apps.connectors.services import connector_create
        from apps.transforms.services.projects import project_create_generated

        self.out.write(self.style.MIGRATE_HEADING(f"== {kind}"))
        if kind == "postgres":
            config: dict[str, Any] = {
                "host": PG_HOST,
                "port": PG_PORT,
                "database": PG_DATABASE,
                "schema": self.pg_schema,
                "username": PG_USER,
                "ssl_mode": "disable",
            }
            namespace = self.pg_schema
        else:
            config = {"destination_path": "bench_transforms.duckdb"}
            namespace = "bench"
        with audit_context(user_agent="bench-transforms"):
            destination = connector_create(
                actor=admin,
                workspace=workspace,
                kind="destination",
                name=f"Bench {kind}",
                definition=ConnectorDefinition.objects.get(builtin=kind),
                config=config,
            )
            connection = connection_create(
                actor=admin,
                workspace=workspace,
                name=f"Bench users to {kind}",
                source=source,
                destination=destination,
                streams=[
                    {
                        "name": "users",
                        "sync_mode": "incremental",
                        "destination_sync_mode": "append_dedup",
                    }
                ],
                namespace=namespace,
            )
            project = project_create_generated(connection=connection, actor=admin)
        parse_seconds = self._run_pending(project, "parse")
        self.out.write(f"    generated project parsed in {parse_seconds:.1f} s")
        self._after_sync_rounds(kind, connection, project)
        self._staging_build(kind, project, parse_seconds)

    def _run_pending(self, project, what: str) -> float:
        """Run the project's pending run here, as a worker would; its duration."""
        from apps.transforms.models import TransformRun
        from apps.transforms.services.runs import transform_run_execute

        run = (
            TransformRun.objects.filter(
                project=project, status=TransformRun.Status.PENDING
            )
            .order_by("-number")
            .first()
        )
        if run is None:
            raise BenchFailure(f"No pending {what} run for {project.name}.")
        transform_run_execute(run.pk)
        run.refresh_from_db()
        if run.status != TransformRun.Status.SUCCEEDED:
            raise BenchFailure(
                f"The {what} run ended {run.status}: {run.failure_message}\n"
                + "\n".join(run.log.splitlines()[-20:])
            )
        return (run.finished_at - run.started_at).total_seconds()

    # -- sync end -> transform start -----------------------------------------------
    def _after_sync_rounds(self, kind: str, connection, project) -> None:
        from apps.connections.models import SyncJob
        from apps.connections.services import sync_request

        worker = Worker(
            f"bench-transforms-{kind}-{os.getpid()}",
            self.scratch / f"worker-{kind}.log",
        )
        worker.start()
        try:
            for round_ in range(1, self.options["repeat"] + 1):
                job = sync_request(connection=connection, trigger="manual", actor=None)
                job = self._wait_job(job.pk, worker)
                if job.status != SyncJob.Status.SUCCEEDED:
                    raise BenchFailure(
                        f"{kind}: sync ended {job.status}: {job.failure_message}\n"
                        f"{worker.log_tail()}"
                    )
                run = self._wait_run(project, job, worker)
                result = AfterSync(
                    destination=kind,
                    sync_records=job.records_committed,
                    to_requested=round(
                        (run.created_at - job.finished_at).total_seconds(), 3
                    ),
                    to_started=round(
                        (run.started_at - job.finished_at).total_seconds(), 3
                    ),
                    run_seconds=round(
                        (run.finished_at - run.started_at).total_seconds(), 3
                    ),
                    run_status=run.status,
                )
                self.after_sync.append(result)
                self.out.write(
                    f"    round {round_}: sync of {job.records_committed:,} records "
                    f"ended; run requested +{result.to_requested:.2f} s, started "
                    f"+{result.to_started:.2f} s, dbt build {result.run_seconds:.1f} s "
                    f"({run.status})"
                )
                if run.status != "succeeded":
                    raise BenchFailure(
                        f"{kind}: the after-sync run ended {run.status}: "
                        f"{run.failure_message}"
                    )
        finally:
            worker.stop()

    def _wait_job(self, job_id: int, worker: Worker):
        from apps.connections.models import SyncJob

        ended = (*SyncJob.TERMINAL_STATUSES, SyncJob.Status.INCOMPLETE)
        deadline = time.monotonic() + SYNC_TIMEOUT
        while time.monotonic() < deadline:
            job = SyncJob.objects.get(pk=job_id)
            if job.status in ended:
                return job
            if not worker.alive():
                raise BenchFailure(f"The worker died.\n{worker.log_tail()}")
            time.sleep(0.1)
        raise BenchFailure(f"Sync job {job_id} did not end.\n{worker.log_tail()}")

    def _wait_run(self, project, job, worker: Worker):
        from apps.transforms.models import TransformRun

        terminal = {"succeeded", "failed", "cancelled"}
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            run = TransformRun.objects.filter(project=project, sync_job=job).first()
            if run is not None and run.status in terminal:
                return run
            if not worker.alive():
                raise BenchFailure(f"The worker died.\n{worker.log_tail()}")
            if run is None and time.monotonic() > deadline - RUN_TIMEOUT + 60:
                raise BenchFailure(
                    f"No transform run followed sync job {job.pk} within 60 s.\n"
                    f"{worker.log_tail()}"
                )
            time.sleep(0.1)
        raise BenchFailure(f"The run after job {job.pk} did not end.")

    # -- the staging build over many rows ------------------------------------------
    def _staging_build(self, kind: str, project, parse_seconds: float) -> None:
        from apps.transforms.generate import streams_of
        from apps.transforms.models import TransformRun
        from apps.transforms.profiles import profile_for
        from apps.transforms.services.runs import (
            transform_run_execute,
            transform_run_request,
        )

        rows = self.options["rows"]
        stream = streams_of(project.connection)[0]
        _, profile, _ = profile_for(project)
        started = time.monotonic()
        total = self._grow(profile, stream, rows)
        grow_seconds = time.monotonic() - started
        self.out.write(
            f"    grew {stream.schema}.{stream.table} to {total:,} rows in "
            f"{grow_seconds:.1f} s"
        )
        run = transform_run_request(project=project, actor=None, command="build")
        transform_run_execute(run.pk)
        run.refresh_from_db()
        if run.status != TransformRun.Status.SUCCEEDED:
            raise BenchFailure(
                f"{kind}: the build over {total:,} rows ended {run.status}: "
                f"{run.failure_message}"
            )
        nodes = sorted(
            (
                {
                    "name": n.name,
                    "resource_type": n.resource_type,
                    "status": n.status,
                    "seconds": n.execution_time,
                }
                for n in run.nodes.all()
            ),
            key=lambda n: -(n["seconds"] or 0),
        )
        build = Build(
            destination=kind,
            rows=total,
            seconds=round((run.finished_at - run.started_at).total_seconds(), 3),
            status=run.status,
            staged_rows=self._count(profile, f'"{stream.model}"'),
            nodes=nodes,
            grow_seconds=round(grow_seconds, 3),
            parse_seconds=round(parse_seconds, 3),
        )
        self.builds.append(build)
        self.out.write(
            f"    dbt build over {total:,} rows: {build.seconds:.1f} s; "
            f"{build.staged_rows:,} rows in {stream.model}; slowest: "
            + ", ".join(f"{n['name']} {n['seconds']:.1f} s" for n in nodes[:3])
        )

    def _connect(self, profile: dict[str, Any]):
        if profile["type"] == "duckdb":
            import duckdb

            return duckdb.connect(profile["path"])
        import psycopg

        return psycopg.connect(
            host=profile["host"],
            port=profile["port"],
            user=profile["user"],
            password=profile.get("password") or None,
            dbname=profile["dbname"],
            autocommit=True,
        )

    def _grow(self, profile: dict[str, Any], stream, rows: int) -> int:
        """Copy the synced rows (new ids, new raw ids) until the table has ``rows``."""
        duck = profile["type"] == "duckdb"
        table = f'"{stream.schema}"."{stream.table}"'
        keys = {c.name for c in stream.key_columns} or {"id"}
        con = self._connect(profile)
        try:
            columns = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = %s and table_name = %s order by ordinal_position"
                if not duck
                else "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                (stream.schema, stream.table),
            ).fetchall()
            if not columns:
                raise BenchFailure(f"{table} is not there after the syncs.")
            have, top = con.execute(
                f"select count(*), max({next(iter(keys))}) from {table}"  # noqa: S608
            ).fetchone()
            if rows <= have:
                return int(have)
            copies = -(-(rows - have) // have)
            new_uuid = "uuid()" if duck else "gen_random_uuid()"
            select = []
            for name, data_type in columns:
                quoted = f'"{name}"'
                if name in keys:
                    select.append(f"{quoted} + {int(top) + 1} * g.k")
                elif name == "_airbyte_raw_id":
                    select.append(f"cast({new_uuid} as {data_type})")
                else:
                    select.append(quoted)
            names = ", ".join(f'"{name}"' for name, _ in columns)
            con.execute(
                f"insert into {table} ({names}) select {', '.join(select)} "  # noqa: S608
                f"from {table} cross join generate_series(1, {copies}) as g(k) "
                f"limit {rows - have}"
            )
            if duck:
                con.execute("checkpoint")
            else:
                con.execute(f"analyze {table}")
            return int(con.execute(f"select count(*) from {table}").fetchone()[0])  # noqa: S608
        finally:
            con.close()

    def _count(self, profile: dict[str, Any], relation: str) -> int:
        schema = profile.get("schema") or (
            "main" if profile["type"] == "duckdb" else ""
        )
        con = self._connect(profile)
        try:
            return int(
                con.execute(f'select count(*) from "{schema}".{relation}').fetchone()[0]  # noqa: S608
            )
        finally:
            con.close()

    def _drop_pg_schema(self) -> None:
        if (
            self.pg_problem is not None
            or "postgres" not in self.options["destinations"]
        ):
            return
        import psycopg

        try:
            with psycopg.connect(**_pg_params(), autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.pg_schema}" CASCADE')
        except psycopg.Error as exc:
            self.err.write(f"Could not drop the scratch schema {self.pg_schema}: {exc}")

    # -- output --------------------------------------------------------------------
    def _report(self) -> None:
        self.out.write("")
        if self.after_sync:
            rows = []
            for kind in dict.fromkeys(r.destination for r in self.after_sync):
                mine = [r for r in self.after_sync if r.destination == kind]
                rows.append(
                    (
                        kind,
                        str(len(mine)),
                        _stat([r.to_requested for r in mine]),
                        _stat([r.to_started for r in mine]),
                        _stat([r.run_seconds for r in mine]),
                    )
                )
            self.out.write(
                text_table(
                    (
                        "sync end -> transform",
                        "rounds",
                        "requested s (median/max)",
                        "started s (median/max)",
                        "dbt build s (median/max)",
                    ),
                    rows,
                )
            )
            self.out.write("")
        if self.builds:
            self.out.write(
                text_table(
                    (
                        "staging build",
                        "rows",
                        "build s",
                        "rows/s",
                        "parse s",
                        "grow s",
                        "slowest node",
                    ),
                    [
                        (
                            b.destination,
                            f"{b.rows:,}",
                            f"{b.seconds:.1f}",
                            f"{b.rows_per_second:,.0f}",
                            f"{b.parse_seconds:.1f}",
                            f"{b.grow_seconds:.1f}",
                            (
                                f"{b.nodes[0]['name']} {b.nodes[0]['seconds']:.1f} s"
                                if b.nodes
                                else "-"
                            ),
                        )
                        for b in self.builds
                    ],
                )
            )
            self.out.write("")
        self.out.write(
            "requested/started: seconds from the sync job's finished_at to the "
            "transform run's created_at / started_at (claimed by the worker; broker "
            "filesystem://). build s: the run's started_at -> "
            "finished_at (folder, dbt start-up, partial parse, nodes, results). "
            "rows/s: synced rows per build second."
        )
        for line in self.skipped:
            self.out.write(self.style.WARNING(f"SKIP {line}"))
        json_out = self.options.get("json_out")
        if json_out:
            payload = {
                "finished_at": datetime.now(UTC).isoformat(),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "load_average_at_start": self.load_at_start,
                    "load_average_at_end": list(os.getloadavg()),
                },
                "options": {
                    k: self.options[k]
                    for k in ("rows", "repeat", "seed_count", "destinations")
                },
                "after_sync": [asdict(r) for r in self.after_sync],
                "builds": [
                    {**asdict(b), "rows_per_second": round(b.rows_per_second, 1)}
                    for b in self.builds
                ],
                "skipped": self.skipped,
                "failure": self.failure,
            }
            Path(json_out).write_text(json.dumps(payload, indent=2, default=str) + "\n")
            self.out.write(f"Results: {json_out}")


def _stat(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.2f} / {max(values):.2f}"
