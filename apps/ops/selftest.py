"""`airbyte test`: check a running installation, quickly or end to end.

``smoke_run`` checks every part a sync needs (database, broker, workers, engine),
each bounded by a timeout, in well under 10 s. ``integration_run`` makes a scratch
workspace (``selftest-<random>``) with a faker source, a DuckDB destination and a
connection, runs one real sync through a worker (or in this process), checks the
rows in DuckDB and removes everything it made, whatever happened.
``airbyte_integration_run`` does the airbyte engine's whole flow against an
Airbyte server (or another console serving Airbyte's API) the same way.
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django.db import transaction

from apps.audit.services import audit_record
from apps.engines import registry
from apps.ops.demo import (
    FAKER_PACKAGE,
    DemoDiscoverFailed,
    demo_definitions,
    demo_pipeline_create,
)
from apps.ops.engine_health import HealthCheck, engine_targets, run_engine_checks
from apps.ops.health import run_probes
from apps.workspaces.models import Workspace

SCRATCH_PREFIX = "selftest-"
SMOKE_BUDGET_SECONDS = 10.0
FAKER_COUNT = 100
NAMESPACE = "selftest"
# Not "selftest.duckdb": DuckDB names the catalog after the file, and a catalog
# named like the schema makes "selftest.users" ambiguous.
DUCKDB_FILE = "warehouse.duckdb"

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Check:
    """One line of the smoke test."""

    name: str
    ok: bool
    detail: str
    ms: int


@dataclass
class SmokeResult:
    checks: list[Check]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "seconds": round(self.seconds, 2),
            "checks": [asdict(check) for check in self.checks],
        }


def _schema_check() -> Check:
    """Every migration applied (a console that skipped one fails in odd places)."""
    from django.db.migrations.executor import MigrationExecutor

    started = time.monotonic()
    executor = MigrationExecutor(db_connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    ms = int((time.monotonic() - started) * 1000)
    if plan:
        return Check(
            "schema",
            False,
            f"{len(plan)} migration(s) not applied: run `airbyte manage install`",
            ms,
        )
    return Check("schema", True, "all migrations applied", ms)


def _engine_check(check: HealthCheck) -> Check:
    """An engine's health as a smoke check; its stricter verdict where it has one."""
    label = "engine" if check.name == check.engine else f"engine {check.name}"
    if check.ok and check.smoke_ok is not None:
        # The integration test and the demo need their connector: there, or able
        # to be installed.
        return Check(
            label,
            check.smoke_ok,
            f"{check.engine}: {check.smoke_detail}",
            check.latency_ms,
        )
    return Check(label, check.ok, f"{check.engine}: {check.detail}", check.latency_ms)


def smoke_run(workspaces: list[Workspace] | None = None) -> SmokeResult:
    """Database, broker, workers and engines, each within its own timeout."""
    started = time.monotonic()
    checks: list[Check] = [
        Check(r.name, r.ok, r.detail, r.latency_ms)
        for r in run_probes(["database", "broker", "workers"])
    ]
    schema = _schema_check() if checks[0].ok else None
    if schema is not None:
        checks.insert(1, schema)
    if schema is not None and not schema.ok:
        checks.append(Check("engine", False, "not checked: migrate first", 0))
    elif schema is not None:
        chosen = (
            workspaces
            if workspaces is not None
            else list(Workspace.objects.order_by("name"))
        )
        # With no workspaces yet, the engine a new one gets is what to check.
        targets = engine_targets(chosen or [Workspace(name="(new workspaces)")])
        budget = max(1.0, SMOKE_BUDGET_SECONDS - 1 - (time.monotonic() - started))
        for engine in run_engine_checks(targets, timeout=min(budget, 5.0)):
            checks.append(_engine_check(engine))
    else:
        checks.append(Check("engine", False, "not checked: the database is down", 0))
    return SmokeResult(checks=checks, seconds=time.monotonic() - started)


# --- integration -------------------------------------------------------------------


class IntegrationFailed(Exception):
    """The end-to-end run failed; the message says at which step and why."""


@dataclass
class IntegrationResult:
    ok: bool
    workspace: str
    seconds: float
    sync_seconds: float = 0.0
    records: int = 0
    tables: dict[str, int] = field(default_factory=dict)
    job_status: str = ""
    error: str = ""
    cleanup: str = ""
    mode: str = "worker"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@transaction.atomic
def selftest_workspace_delete(*, actor: AbstractBaseUser, workspace: Workspace) -> None:
    """Delete a scratch workspace `airbyte test integration` made, and all in it.

    Its audit events stay (the trail is append-only); they keep the workspace's
    name, so the trail shows the test ran, and this records that it was removed.
    """
    if not workspace.name.startswith(SCRATCH_PREFIX):
        raise ValueError(f"{workspace.name} is not a scratch workspace.")
    from apps.connections.models import Connection

    audit_record(
        actor=actor,
        action="workspace.deleted",
        workspace=workspace,
        target=workspace,
        changes={"reason": "airbyte test integration finished"},
    )
    # Connections first: they protect their source and destination from deletion.
    Connection.objects.for_workspace(workspace).delete()
    workspace.delete()


def _duckdb_tables(path: Path) -> dict[str, int]:
    import duckdb

    with duckdb.connect(str(path), read_only=True) as conn:
        names = [
            row[0]
            for row in conn.execute(
                "select table_name from information_schema.tables "
                "where table_schema = ? and table_name not like '\\_airbyte%' "
                "escape '\\' order by table_name",
                [NAMESPACE],
            ).fetchall()
        ]
        counts = {}
        for name in names:
            # Names from information_schema, quoted as identifiers.
            quoted = '"' + name.replace('"', '""') + '"'
            sql = f'select count(*) from "{NAMESPACE}".{quoted}'  # noqa: S608
            counts[name] = conn.execute(sql).fetchone()[0]
        return counts


def integration_run(
    *,
    actor: AbstractBaseUser,
    timeout: float = 120.0,
    inline: bool = False,
    echo: Echo = lambda line: None,
) -> IntegrationResult:
    """One real sync, faker to DuckDB, in a scratch workspace removed afterwards."""
    from apps.connections.models import SyncJob
    from apps.connections.services import sync_cancel, sync_request
    from apps.workspaces.services import workspace_create

    started = time.monotonic()
    token = secrets.token_hex(4)
    name = f"{SCRATCH_PREFIX}{token}"
    result = IntegrationResult(
        ok=False, workspace=name, seconds=0.0, mode="inline" if inline else "worker"
    )
    if not inline:
        workers = run_probes(["workers"])[0]
        if not workers.ok:
            result.error = (
                f"No worker answered ({workers.detail}): start them with `airbyte "
                "manage start` (or `make run`), or pass --inline to run the sync in "
                "this process."
            )
            result.seconds = time.monotonic() - started
            return result
    definitions = demo_definitions()
    if definitions is None:
        result.error = (
            "The catalog lacks faker or DuckDB: run `airbyte manage install` first."
        )
        result.seconds = time.monotonic() - started
        return result
    workspace: Workspace | None = None
    job: SyncJob | None = None
    scratch_dir: Path | None = None
    try:
        workspace = workspace_create(actor=actor, name=name)
        echo(f"Created the scratch workspace {name}.")
        # The destination's file, resolved by its own rule: in the scratch
        # workspace's DuckDB folder, which goes with the workspace.
        duckdb_file = Path(
            registry.destination("duckdb").prepare_config(
                {"destination_path": DUCKDB_FILE},
                workspace_id=str(workspace.public_id),
            )["destination_path"]
        )
        scratch_dir = duckdb_file.parent
        faker, duckdb = definitions
        try:
            pipeline = demo_pipeline_create(
                actor=actor,
                workspace=workspace,
                faker=faker,
                duckdb=duckdb,
                label="self-test",
                count=FAKER_COUNT,
                destination_path=DUCKDB_FILE,
                namespace=NAMESPACE,
                before_discover=lambda: echo(
                    "Discovering the faker source's streams..."
                ),
            )
        except DemoDiscoverFailed as exc:
            raise IntegrationFailed(
                f"Discovering the faker source failed: {exc}"
            ) from None
        sync_started = time.monotonic()
        job = sync_request(
            connection=pipeline.connection, trigger="manual", actor=actor
        )
        echo(
            f"Sync of {len(pipeline.streams)} streams requested (job {job.public_id}); "
            + ("running it here." if inline else "waiting for a worker...")
        )
        if inline:
            from apps.connections.execution import sync_run

            sync_run(job_id=job.pk)
        job = _wait_for(job, timeout=timeout, echo=echo)
        result.sync_seconds = round(time.monotonic() - sync_started, 2)
        result.job_status = job.status
        result.records = job.records_committed
        if job.status != SyncJob.Status.SUCCEEDED:
            attempt = job.attempts.order_by("-number").first()
            why = job.failure_message or (attempt.failure_message if attempt else "")
            if job.status in SyncJob.TERMINAL_STATUSES or job.status == (
                SyncJob.Status.INCOMPLETE
            ):
                raise IntegrationFailed(f"The sync ended {job.status}: {why}".strip())
            raise IntegrationFailed(
                f"The sync did not finish within {timeout:g} s (still {job.status})."
            )
        result.tables = _duckdb_tables(duckdb_file)
        users = result.tables.get("users", 0)
        if users != FAKER_COUNT:
            raise IntegrationFailed(
                f"DuckDB has {users} users, not the {FAKER_COUNT} faker sent."
            )
        echo(
            f"The sync committed {result.records} records in "
            f"{result.sync_seconds:.1f} s; DuckDB has "
            + ", ".join(f"{t} {n}" for t, n in result.tables.items())
            + "."
        )
        result.ok = True
    except IntegrationFailed as exc:
        result.error = str(exc)
    except ValidationError as exc:
        result.error = " ".join(exc.messages)
    except Exception as exc:  # any failure is the test's result, then clean up
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        # Not echoed: the summary that follows ends with it (it was printed twice).
        result.cleanup = _clean_up(actor, workspace, job, scratch_dir, sync_cancel)
        result.seconds = round(time.monotonic() - started, 2)
    return result


def _wait_for(job: Any, *, timeout: float, echo: Echo) -> Any:
    from apps.connections.models import SyncJob

    deadline = time.monotonic() + timeout
    said = time.monotonic()
    while time.monotonic() < deadline:
        job.refresh_from_db()
        # A failed first attempt is a failed test: no waiting for the retry.
        if job.status in SyncJob.TERMINAL_STATUSES or (
            job.status == SyncJob.Status.INCOMPLETE
        ):
            return job
        if time.monotonic() - said >= 5:
            said = time.monotonic()
            echo(f"  ... {job.status}, {job.records_committed} records so far")
        time.sleep(0.5)
    job.refresh_from_db()
    return job


def _clean_up(
    actor: AbstractBaseUser,
    workspace: Workspace | None,
    job: Any,
    scratch_dir: Path | None,
    sync_cancel: Callable[..., Any],
) -> str:
    """Remove what the run made; say what was removed (or what was left)."""
    from apps.connections.models import SyncJob

    problems = []
    if job is not None:
        job.refresh_from_db()
        if job.is_active:
            # Stop a sync still running before its rows disappear under it.
            try:
                sync_cancel(actor=actor, job=job)
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    job.refresh_from_db()
                    if job.status in SyncJob.TERMINAL_STATUSES:
                        break
                    time.sleep(0.5)
            except Exception as exc:
                problems.append(f"cancelling the sync failed ({exc})")
    if workspace is not None:
        try:
            selftest_workspace_delete(actor=actor, workspace=workspace)
        except Exception as exc:
            problems.append(
                f"deleting the workspace {workspace.name} failed ({exc}); delete it "
                "by hand"
            )
    if scratch_dir is not None:
        shutil.rmtree(scratch_dir, ignore_errors=True)
        if scratch_dir.exists():
            problems.append(f"{scratch_dir} is still there")
    if problems:
        return "Clean-up incomplete: " + "; ".join(problems) + "."
    what = f"the scratch workspace {workspace.name}" if workspace else "nothing"
    return f"Removed {what} and its DuckDB files."


# --- the project's test suite ------------------------------------------------------


def suite_command() -> tuple[list[str], Path] | None:
    """``make test`` in the checkout, or None when this is not a checkout."""
    base = Path(settings.BASE_DIR)
    if (base / "tests").is_dir() and (base / "Makefile").is_file():
        return ["make", "test"], base
    return None


# --- integration against an Airbyte server (or another console) --------------------

AIRBYTE_FAKER_COUNT = 500
AIRBYTE_CANCEL_COUNT = 10_000_000
AIRBYTE_DUCKDB_FILE = "airbyte-selftest.duckdb"  # not the schema's name (see above)


@dataclass
class AirbyteIntegrationResult:
    """What ``airbyte test integration --engine airbyte`` did, step by step."""

    ok: bool
    url: str
    workspace: str
    seconds: float = 0.0
    server: str = ""
    remote_workspace: str = ""
    imported: str = ""
    records: int = 0
    sync_status: str = ""
    cancel_status: str = ""
    steps: list[str] = field(default_factory=list)
    error: str = ""
    cleanup: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def airbyte_integration_run(
    *,
    actor: AbstractBaseUser,
    url: str,
    client_id: str,
    client_secret: str,
    remote_workspace_id: str = "",
    timeout: float = 300.0,
    inline: bool = False,
    echo: Echo = lambda line: None,
) -> AirbyteIntegrationResult:
    """The whole airbyte-engine flow against the server at ``url``, then clean up.

    In a scratch workspace: save and test the server, choose its workspace (the
    one named, else the first it lists), switch to the airbyte engine, import
    what is there, make a faker source and a DuckDB destination on the server
    (checked and discovered there), connect them, sync and wait for the records,
    then start a second sync and cancel it. Everything made on the server is
    deleted there afterwards, and the scratch workspace here. ``inline`` starts
    and follows the jobs in this process instead of on a worker.
    """
    from apps.airbyte import services as airbyte_services
    from apps.airbyte.importer import airbyte_import
    from apps.connectors.models import ConnectorDefinition
    from apps.workspaces.services import workspace_create

    started = time.monotonic()
    name = f"{SCRATCH_PREFIX}{secrets.token_hex(4)}"
    result = AirbyteIntegrationResult(ok=False, url=url, workspace=name)

    def step(line: str) -> None:
        result.steps.append(line)
        echo(line)

    if not inline:
        workers = run_probes(["workers"])[0]
        if not workers.ok:
            result.error = (
                f"No worker answered ({workers.detail}): start them, or pass "
                "--inline to follow the jobs in this process."
            )
            result.seconds = round(time.monotonic() - started, 2)
            return result
    workspace: Workspace | None = None
    made: list[tuple[str, Any]] = []  # (kind, row) made on the server, to delete
    jobs: list[Any] = []
    try:
        workspace = workspace_create(actor=actor, name=name)
        step(f"Created the scratch workspace {name}.")
        server = airbyte_services.server_save(
            actor=actor,
            workspace=workspace,
            url=url,
            auth="application",
            client_id=client_id,
            client_secret=client_secret,
        )
        probe = airbyte_services.server_test(actor=actor, server=server)
        if not probe.ok:
            raise IntegrationFailed(f"Testing the server failed: {probe.summary}")
        result.server = f"Airbyte {probe.version} ({probe.edition}, {probe.auth_mode})"
        step(f"Tested the server: {probe.summary}")
        chosen = remote_workspace_id or (
            probe.workspaces[0]["id"] if probe.workspaces else ""
        )
        if not chosen:
            raise IntegrationFailed(
                "The server lists no workspace for these credentials: name one with "
                "--remote-workspace."
            )
        server = airbyte_services.remote_workspace_choose(
            actor=actor, server=server, remote_workspace_id=chosen
        )
        result.remote_workspace = (
            f"{server.remote_workspace_name} ({server.remote_workspace_id})"
        )
        offered = airbyte_services.definitions_refresh(server_id=server.pk)
        server.refresh_from_db()
        step(
            f"Chose the server's workspace {result.remote_workspace}; it offers "
            f"{offered} connectors."
        )
        airbyte_services.workspace_engine_set(
            actor=actor, workspace=workspace, engine="airbyte"
        )
        workspace.refresh_from_db()
        imported = airbyte_import(actor=actor, workspace=workspace)
        result.imported = imported.summary
        step(f"Imported the server's workspace: {imported.summary}")

        faker = ConnectorDefinition.objects.filter(
            definition_id__in=server.definition_ids, pypi_package=FAKER_PACKAGE
        ).first()
        duckdb = ConnectorDefinition.objects.filter(
            definition_id__in=server.definition_ids, builtin="duckdb"
        ).first()
        if faker is None or duckdb is None:
            raise IntegrationFailed(
                "The server does not offer both faker and DuckDB to this workspace."
            )
        source = _airbyte_connector(
            actor, workspace, faker, {"count": AIRBYTE_FAKER_COUNT, "seed": 1}, name
        )
        made.append(("source", source))
        destination = _airbyte_connector(
            actor, workspace, duckdb, {"destination_path": AIRBYTE_DUCKDB_FILE}, name
        )
        made.append(("destination", destination))
        step(
            f"Checked faker and DuckDB on the server: {source.last_check_message} / "
            f"{destination.last_check_message}"
        )
        streams = _airbyte_discover(source)
        step(f"Discovered faker's streams on the server: {', '.join(streams)}.")
        connection = _airbyte_connection(actor, workspace, source, destination, name)
        made.insert(0, ("connection", connection))

        job = _airbyte_sync(actor, connection, inline=inline)
        jobs.append(job)
        step(f"Sync requested (job {job.public_id}); waiting for the server...")
        job = _airbyte_follow(job, timeout=timeout, inline=inline, echo=echo)
        result.sync_status, result.records = job.status, job.records_committed
        if job.status != "succeeded":
            raise IntegrationFailed(
                f"The sync ended {job.status}: {job.failure_message}".strip()
            )
        connection.refresh_from_db()
        step(
            f"The sync succeeded on the server (job {job.remote_id} there): "
            f"{job.records_committed} records."
        )
        if job.records_committed < AIRBYTE_FAKER_COUNT:
            raise IntegrationFailed(
                f"The server synced {job.records_committed} records, not the "
                f"{AIRBYTE_FAKER_COUNT} users faker sends."
            )

        # A sync long enough to be cancelled while it runs: the source now sends
        # far more records (the change reaches the server when the sync starts).
        from apps.connections.services import sync_cancel
        from apps.connectors.services import connector_update

        source.refresh_from_db()
        connector_update(
            actor=actor,
            obj=source,
            config={**source.config, "count": AIRBYTE_CANCEL_COUNT},
        )
        second = _airbyte_sync(actor, connection, inline=inline)
        jobs.append(second)
        second = _airbyte_follow(
            second, timeout=timeout, inline=inline, echo=echo, until_running=True
        )
        if second.is_active:
            sync_cancel(actor=actor, job=second)
        second = _airbyte_follow(second, timeout=timeout, inline=inline, echo=echo)
        result.cancel_status = second.status
        if second.status != "cancelled":
            raise IntegrationFailed(
                f"The cancelled sync ended {second.status}, not cancelled."
            )
        step(f"A second sync was cancelled on the server (job {second.remote_id}).")
        result.ok = True
    except IntegrationFailed as exc:
        result.error = str(exc)
    except ValidationError as exc:
        result.error = " ".join(exc.messages)
    except Exception as exc:  # any failure is the test's result, then clean up
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        result.cleanup = _airbyte_clean_up(actor, workspace, made, jobs)
        result.seconds = round(time.monotonic() - started, 2)
    return result


def _airbyte_connector(
    actor: AbstractBaseUser,
    workspace: Workspace,
    definition: Any,
    config: dict[str, Any],
    label: str,
) -> Any:
    """A source or destination made through the services; its spec and check come
    from the server (discover and the sync's start create it there)."""
    from apps.connectors import services
    from apps.connectors.selectors import connector_full_config

    settings_part, secret_part = services.validate_config(
        definition, config, workspace=workspace
    )
    obj = services.connector_create(
        actor=actor,
        workspace=workspace,
        kind=definition.kind,
        name=f"{label} {definition.name}",
        definition=definition,
        config=settings_part,
        secrets=secret_part,
    )
    # The check the console's "Test" runs for a new one: the server's scheduler
    # check of these settings.
    check = registry.get_engine(workspace).check(
        definition, connector_full_config(obj), actor=None
    )
    services.connector_check_record(obj=obj, result=check)
    if not check.ok:
        raise IntegrationFailed(
            f"The server's check of {definition.name} failed: {check.message}"
        )
    return obj


def _airbyte_discover(source: Any) -> list[str]:
    from apps.connectors.services import source_discover_run

    catalog = source_discover_run(pk=source.pk)
    source.refresh_from_db()
    if catalog is None:
        raise IntegrationFailed(
            f"Discovering faker's streams on the server failed: "
            f"{source.discover_message}"
        )
    return [stream.name for stream in catalog.streams]


def _airbyte_connection(
    actor: AbstractBaseUser,
    workspace: Workspace,
    source: Any,
    destination: Any,
    label: str,
) -> Any:
    """faker's users stream to DuckDB (created on the server when the sync starts)."""
    from apps.connections.services import connection_create

    return connection_create(
        actor=actor,
        workspace=workspace,
        name=f"{label} faker to DuckDB",
        source=source,
        destination=destination,
        streams=[{"name": "users"}],
        namespace=NAMESPACE,
    )


def _airbyte_sync(actor: AbstractBaseUser, connection: Any, *, inline: bool) -> Any:
    from apps.connections.services import sync_request

    job = sync_request(connection=connection, trigger="manual", actor=actor)
    if inline:
        from apps.connections.execution import sync_run

        sync_run(job_id=job.pk)
        job.refresh_from_db()
    return job


def _airbyte_follow(
    job: Any, *, timeout: float, inline: bool, echo: Echo, until_running: bool = False
) -> Any:
    """Wait for the job to end (or, ``until_running``, to run on the server);
    ``inline`` polls the server from here."""
    from apps.airbyte.jobs import job_poll
    from apps.connections.models import SyncJob

    deadline = time.monotonic() + timeout
    said = time.monotonic()
    while time.monotonic() < deadline:
        if inline and job.remote_id:
            job_poll(job_id=job.pk)
        job.refresh_from_db()
        if job.status in SyncJob.TERMINAL_STATUSES:
            return job
        if until_running and job.remote_status == "running":
            return job
        if time.monotonic() - said >= 5:
            said = time.monotonic()
            echo(f"  ... {job.status}, {job.records_committed} records so far")
        time.sleep(1.0)
    raise IntegrationFailed(
        f"Job {job.public_id} did not end within {timeout:g} s (still {job.status})."
    )


def _airbyte_clean_up(
    actor: AbstractBaseUser,
    workspace: Workspace | None,
    made: list[tuple[str, Any]],
    jobs: list[Any],
) -> str:
    """Delete on the server what the run made there, then the scratch workspace.

    A job still running there (the run failed while following it) is cancelled
    first, so nothing keeps writing into a destination about to be deleted.
    """
    from apps.airbyte.client import AirbyteClient, AirbyteError
    from apps.airbyte.models import AirbyteServer

    problems: list[str] = []
    removed: list[str] = []

    def reason(exc: Exception) -> str:
        return exc.message if isinstance(exc, AirbyteError) else str(exc) or repr(exc)

    # Each step catches whatever it meets (a transient error, a row gone, a bug):
    # one failed step must not leave the scratch workspace behind or end the run
    # on a traceback; it is named in the clean-up line instead.
    try:
        server = (
            AirbyteServer.objects.filter(workspace=workspace).first()
            if workspace
            else None
        )
        client = AirbyteClient.for_server(server) if server is not None else None
    except Exception as exc:
        problems.append(f"reaching the server failed ({reason(exc)})")
        client = None
    if client is not None:
        with client:
            for job in jobs:
                try:
                    job.refresh_from_db()
                    if job.is_active and job.remote_id:
                        client.job_cancel(job.remote_id)
                except Exception as exc:
                    problems.append(
                        f"cancelling job {job.remote_id} on the server failed "
                        f"({reason(exc)})"
                    )
            for kind, obj in made:
                try:
                    obj.refresh_from_db()
                    if not obj.remote_id:
                        continue
                    client.object_delete(kind, obj.remote_id)
                    removed.append(f"the {kind}")
                except Exception as exc:
                    problems.append(
                        f"deleting the {kind} {obj.remote_id} on the server failed "
                        f"({reason(exc)})"
                    )
    if workspace is not None:
        try:
            selftest_workspace_delete(actor=actor, workspace=workspace)
        except Exception as exc:
            problems.append(
                f"deleting the workspace {workspace.name} failed ({exc}); delete it "
                "by hand"
            )
    if problems:
        return "Clean-up incomplete: " + "; ".join(problems) + "."
    there = f"{', '.join(removed)} on the server and " if removed else ""
    what = f"the scratch workspace {workspace.name}" if workspace else "nothing"
    return f"Removed {there}{what}."
