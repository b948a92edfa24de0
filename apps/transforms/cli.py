"""`airbyte transform ...`: dbt projects from scripts.

``init`` generates a project from a connection, ``install`` installs dbt here,
``create`` adds a model, ``run``/``test``/``docs`` start runs, ``list`` shows
projects or one project's models, ``apply`` runs a project after a connection's
syncs, ``cancel`` and ``show-run`` act on one run.

A run is done by a worker, like a sync: ``--wait`` follows the run's row until it
ends, printing its new log lines, and the exit code says how it ended (0
succeeded, 1 failed, 2 cancelled). ``--local`` runs dbt in this process instead,
for a machine where no worker runs (a laptop, a script, the tests); the claim
on the row makes sure a worker that picks the same run up does nothing.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import DatabaseError
from django.db import connection as db_connection
from django.db.models import OuterRef, Subquery

from apps.connections.models import Connection
from apps.connectors.models import Destination
from apps.core.clikit import CliResult, arg, group, table
from apps.core.roles import Role
from apps.transforms.dbt import install as dbt_install
from apps.transforms.models import (
    DbtInstall,
    DbtProject,
    ProjectFile,
    RunNode,
    TransformRun,
    TransformTrigger,
)
from apps.transforms.services import installs, projects, runs
from apps.workspaces.cli import AS_USER, WORKSPACE, cli_membership
from apps.workspaces.models import Membership, Workspace

transform = group("transform", "dbt projects: generate, run, test and document.")

PROJECT = arg(
    "--project",
    required=True,
    metavar="NAME_OR_ID",
    help="The dbt project (its name or id).",
)
CONNECTION = arg(
    "--connection",
    required=True,
    metavar="NAME_OR_ID",
    help="The connection (its name or id).",
)
SELECT = arg(
    "--select",
    default="",
    metavar="SELECTOR",
    help="dbt's --select, e.g. 'stg_users+' or 'source:airbyte_faker+'.",
)
WAIT = arg(
    "--wait",
    action="store_true",
    help="Follow the run until it ends; exit 0 succeeded, 1 failed, 2 cancelled.",
)
LOCAL = arg(
    "--local",
    action="store_true",
    help="Run dbt in this process instead of on a worker (implies --wait).",
)
TIMEOUT = arg(
    "--timeout",
    type=float,
    default=0,
    metavar="SECONDS",
    help="With --wait: give up waiting after this many seconds (the run goes on).",
)

# What `run --command` may start; test and docs have their own actions.
RUN_COMMANDS = ("build", "run", "seed", "snapshot", "compile")
# Runs whose node statuses say how a model last built (compile, show, parse and
# docs runs only read the project).
BUILDING_COMMANDS = ("build", "run", "test", "seed", "snapshot")
EXIT_CODES = {
    TransformRun.Status.SUCCEEDED: 0,
    TransformRun.Status.FAILED: 1,
    TransformRun.Status.CANCELLED: 2,
}
MODEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Tries to write a Ctrl-C's cancel while the run's own writes hold the database.
CANCEL_TRIES = 10
# A pending run nobody took after this long gets a hint about the worker.
NO_WORKER_HINT_SECONDS = 15


def _messages(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _find(model: Any, workspace: Workspace, wanted: str, what: str, hint: str) -> Any:
    """One row of the workspace by id or (case-insensitive) name, or a clear error."""
    rows = model.objects.for_workspace(workspace)
    try:
        found = rows.filter(public_id=UUID(str(wanted))).first()
    except ValueError:
        found = rows.filter(name__iexact=str(wanted)).first()
    if found is None:
        raise CommandError(f"No {what} {wanted!r} in {workspace}. {hint}")
    return found


def _project(workspace: Workspace, wanted: str) -> DbtProject:
    return _find(
        DbtProject,
        workspace,
        wanted,
        "dbt project",
        "`airbyte transform list` shows them.",
    )


def _connection(workspace: Workspace, wanted: str) -> Connection:
    return _find(
        Connection,
        workspace,
        wanted,
        "connection",
        "`airbyte content list --type connections` shows them.",
    )


def _destination(workspace: Workspace, wanted: str) -> Destination:
    return _find(
        Destination,
        workspace,
        wanted,
        "destination",
        "`airbyte content list --type destinations` shows them.",
    )


def _run(project: DbtProject, number: int | None) -> TransformRun:
    found = project.runs.all()
    found = found.filter(number=number) if number else found.order_by("-number")
    run = found.first()
    if run is None:
        if number:
            raise CommandError(
                f"No run #{number} of {project.name}. "
                f"`airbyte transform list --project {project.name}` shows the last one."
            )
        raise CommandError(f"{project.name} has no runs yet.")
    return run


def _project_row(project: DbtProject, last: TransformRun | None) -> dict[str, Any]:
    return {
        "id": str(project.public_id),
        "name": project.name,
        "kind": project.kind,
        "destination": project.destination.name if project.destination else "",
        "connection": project.connection.name if project.connection else "",
        "git_url": project.git_url,
        "git_branch": project.git_branch,
        "git_commit": project.git_commit,
        "schedule": project.cron_expression,
        "models": sum(
            1
            for node in (project.graph or {}).get("nodes", [])
            if node.get("resource_type") == "model"
        ),
        "last_run": last.number if last else None,
        "last_command": last.command if last else "",
        "last_status": last.status if last else "",
    }


def _run_row(run: TransformRun, *, nodes: bool = False) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": str(run.public_id),
        "project": run.project.name,
        "run": run.number,
        "command": run.command,
        "selector": run.selector,
        "trigger": run.trigger,
        "status": run.status,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_s": round(run.duration_seconds, 1)
        if run.duration_seconds is not None
        else None,
        "git_commit": run.git_commit,
        "stats": run.stats,
        "failure": run.failure_message,
    }
    if nodes:
        row["nodes"] = [
            {
                "unique_id": node.unique_id,
                "name": node.name,
                "type": node.resource_type,
                "status": node.status,
                "seconds": round(node.execution_time, 2),
                "rows": node.rows_affected,
                "failures": node.failures,
                "message": node.message,
            }
            for node in run.nodes.all()
        ]
        # What compile (one model's SQL) and show (rows) produced.
        row["output"] = run.output
    return row


def _summary(run: TransformRun) -> str:
    counts = ", ".join(f"{n} {status}" for status, n in sorted(run.stats.items()))
    took = f" in {run.duration_seconds:.1f} s" if run.duration_seconds else ""
    text = f"Run #{run.number} ({run.command}) of {run.project.name} {run.status}{took}"
    text += f": {counts}." if counts else "."
    if run.status != TransformRun.Status.SUCCEEDED and run.failure_message:
        text += f"\n{run.failure_message}"
    return text


def _nodes_table(row: dict[str, Any]) -> str:
    shown = [
        {
            **node,
            "rows": "" if node["rows"] is None else node["rows"],
            "failures": "" if node["failures"] is None else node["failures"],
        }
        for node in row["nodes"]
    ]
    return table(shown, ["name", "type", "status", "rows", "failures", "seconds"])


# --- starting and following runs ---------------------------------------------------


def _request(
    membership: Membership,
    project: DbtProject,
    *,
    command: str,
    selector: str,
    local: bool,
) -> TransformRun:
    """Ask for a run; with ``local``, first run here a pending run nobody took."""
    try:
        return runs.transform_run_request(
            project=project,
            actor=membership.user,
            command=command,
            selector=selector,
            trigger=TransformRun.Trigger.API,
        )
    except runs.RunAlreadyActive as exc:
        active = exc.run
        if active is None:  # it ended meanwhile
            raise CommandError(f"{_messages(exc)} Try again.") from None
        if not (local and active.status == TransformRun.Status.PENDING):
            raise CommandError(
                f"Run #{active.number} ({active.command}) of {project.name} is "
                f"{active.status}: one run at a time per project. Follow it with "
                f"`airbyte transform show-run --project {project.name} "
                f"--run {active.number}` or stop it with `airbyte transform cancel "
                f"--project {project.name} --run {active.number}`."
            ) from None
    except ValidationError as exc:
        raise CommandError(_messages(exc)) from None
    # Without a worker, the project's waiting run (the parse `init` asked for, say)
    # would block every other: run it here first, then ask again.
    sys.stderr.write(
        f"Running the waiting run #{active.number} ({active.command}) here first.\n"
    )
    runs.transform_run_execute(active.pk)
    return _request(
        membership, project, command=command, selector=selector, local=False
    )


def _finish(
    run: TransformRun,
    options: dict[str, Any],
    *,
    actor: Any = None,
    quiet_text: bool = False,
) -> CliResult:
    """Wait for (or do) the run, then report it with the exit code it earned."""
    quiet = bool(options.get("json"))
    if options.get("local"):
        with _ctrl_c_cancels(run, actor):
            runs.transform_run_execute(run.pk)
        run.refresh_from_db()
        printed = run.log_truncated_bytes + len(run.log.encode())
        if not quiet and run.log:
            sys.stderr.write(run.log.rstrip("\n") + "\n")
        if run.is_active:
            # A worker claimed it first: follow it like --wait.
            run = _follow(
                run, quiet=quiet, timeout=options.get("timeout"), printed=printed
            )
    elif options.get("wait"):
        run = _follow(run, quiet=quiet, timeout=options.get("timeout"))
    else:
        return CliResult(
            data=_run_row(run),
            text=f"Queued run #{run.number} ({run.command}) of {run.project.name}. "
            f"Follow it with `airbyte transform show-run --project "
            f"{run.project.name} --run {run.number}`.",
        )
    row = _run_row(run, nodes=True)
    text = _summary(run)
    if row["nodes"] and not quiet_text:
        text = _nodes_table(row) + "\n" + text
    if run.output.get("sql"):
        text = run.output["sql"].rstrip("\n") + "\n" + text
    return CliResult(data=row, text=text, exit_code=EXIT_CODES.get(run.status, 1))


@contextlib.contextmanager
def _ctrl_c_cancels(run: TransformRun, actor: Any) -> Iterator[None]:
    """While dbt runs here, Ctrl-C cancels the run like `transform cancel` does.

    The run then ends as cancelled, with what dbt did so far, rather than being
    left "running" for the reaper. The cancel is written from a thread (a signal
    handler must not use the database connection the run is using); the run's
    heartbeat sees it within a second and stops dbt. A second Ctrl-C interrupts.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def cancel() -> None:
        try:
            # The run's own writes may hold the database for a moment (SQLite).
            for attempt in range(CANCEL_TRIES):
                try:
                    runs.transform_run_cancel(run=run, actor=actor)
                    return
                except ValidationError:
                    return  # it ended meanwhile
                except DatabaseError as exc:
                    if attempt == CANCEL_TRIES - 1:
                        sys.stderr.write(
                            f"Could not record the cancel ({exc}); press Ctrl-C "
                            "again to interrupt.\n"
                        )
                        return
                    time.sleep(0.5)
        finally:
            db_connection.close()

    def on_ctrl_c(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, previous)
        sys.stderr.write(
            f"Cancelling run #{run.number}: dbt stops in a moment "
            "(Ctrl-C again to interrupt).\n"
        )
        threading.Thread(target=cancel, name="transform-cli-cancel").start()

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _follow(
    run: TransformRun, *, quiet: bool, timeout: float | None, printed: int = 0
) -> TransformRun:
    """Poll the run's row until it ends, printing the log lines it gains.

    ``printed`` counts the bytes of the whole log already shown, including those
    the row no longer holds: a long log keeps only its tail, dropping lines from
    its head and counting them in ``log_truncated_bytes``.
    """
    started = time.monotonic()
    hinted = False
    while True:
        run.refresh_from_db()
        if not quiet:
            printed = _print_new_log(run, printed)
        if not run.is_active:
            return run
        waited = time.monotonic() - started
        if (
            not hinted
            and not quiet
            and run.status == TransformRun.Status.PENDING
            and waited > NO_WORKER_HINT_SECONDS
        ):
            sys.stderr.write(
                f"Run #{run.number} is still waiting for a worker: is one running "
                "(`airbyte manage start`)? --local runs dbt here instead.\n"
            )
            hinted = True
        if timeout and waited > timeout:
            raise CommandError(
                f"Run #{run.number} of {run.project.name} still {run.status} "
                f"after {timeout:g} s."
            )
        time.sleep(1)


def _print_new_log(run: TransformRun, printed: int) -> int:
    """Write the log's lines past ``printed`` bytes to stderr; return the new count."""
    base = run.log_truncated_bytes
    text = run.log.encode()
    # Whole lines while it runs (the rest comes with the next flush).
    end = text.rfind(b"\n") + 1 if run.is_active else len(text)
    if base + end <= printed:
        return printed
    start = printed - base
    if start < 0:
        sys.stderr.write(f"[... {-start:,} bytes of the log dropped ...]\n")
        start = 0
    chunk = text[start:end].decode("utf-8", "replace")
    sys.stderr.write(chunk if chunk.endswith("\n") else chunk + "\n")
    return base + end


def _start(options: dict[str, Any], command: str, **finish: Any) -> CliResult:
    membership = cli_membership(options, Role.EDITOR)
    project = _project(membership.workspace, options["project"])
    run = _request(
        membership,
        project,
        command=command,
        selector=options.get("select") or "",
        local=bool(options.get("local")),
    )
    return _finish(run, options, actor=membership.user, **finish)


# --- actions -------------------------------------------------------------------------


@transform.action(
    "init",
    "Generate a dbt project from a connection: sources, staging models, tests.",
    arg("--name", default="", help="The project's name (default: the connection's)."),
    CONNECTION,
    arg(
        "--destination",
        metavar="NAME_OR_ID",
        help="Build in this destination (default: the connection's).",
    ),
    WAIT,
    LOCAL,
    TIMEOUT,
    WORKSPACE,
    AS_USER,
)
def transform_init(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.EDITOR)
    workspace = membership.workspace
    connection = _connection(workspace, options["connection"])
    destination = (
        _destination(workspace, options["destination"])
        if options.get("destination")
        else None
    )
    try:
        project = projects.project_create_generated(
            connection=connection,
            actor=membership.user,
            name=options.get("name") or "",
            destination=destination,
        )
    except ValidationError as exc:
        raise CommandError(_messages(exc)) from None
    files = list(project.files.values_list("path", flat=True))
    text = (
        f"Created dbt project {project.name} ({project.public_id}) from "
        f"{connection.name}, building in "
        f"{project.destination.name if project.destination else '(no destination)'}; "
        f"it runs after each sync of {connection.name}.\n"
        + "\n".join(f"  {path}" for path in files)
    )
    data = {**_project_row(project, None), "files": files}
    parse = project.runs.order_by("-number").first()
    if parse is None or not (options.get("wait") or options.get("local")):
        text += (
            "\nIts models are listed once a worker has parsed it "
            "(--wait follows that, --local does it here)."
        )
        return CliResult(data=data, text=text)
    # Follow the parse run, so the models are known when this returns.
    result = _finish(parse, options, actor=membership.user, quiet_text=True)
    project.refresh_from_db()
    data = {**_project_row(project, parse), "files": files, "parse": result.data}
    return CliResult(
        data=data, text=text + "\n" + result.text, exit_code=result.exit_code
    )


@transform.action(
    "install",
    "Install dbt (core and the adapter) here, showing pip's output.",
    arg(
        "--adapter",
        choices=dbt_install.ADAPTERS,
        help="postgres or duckdb (default: both).",
    ),
    WORKSPACE,
    AS_USER,
)
def transform_install(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.ADMIN)
    adapters = [options["adapter"]] if options.get("adapter") else dbt_install.ADAPTERS
    quiet = bool(options.get("json"))
    rows, lines, failed = [], [], False
    for adapter in adapters:
        if not quiet:
            sys.stderr.write(
                f"--- dbt-{adapter}: installing here (pip takes a minute or two the "
                "first time; its output follows when it ends)\n"
            )
        try:
            installs.dbt_install_request(adapter=adapter, actor=membership.user)
        except ValidationError as exc:
            raise CommandError(_messages(exc)) from None
        # The request queued the install for a worker; do it here now. A worker
        # that takes the queued one later finds it installed.
        done = installs.dbt_install_execute(adapter)
        if not quiet and done.log:
            sys.stderr.write(done.log.rstrip("\n") + "\n")
        ok = done.status == DbtInstall.Status.INSTALLED
        failed = failed or not ok
        rows.append(
            {
                "adapter": adapter,
                "status": done.status,
                "core_version": done.core_version,
                "adapter_version": done.adapter_version,
                "message": done.message,
            }
        )
        lines.append(
            f"dbt-core {done.core_version} with dbt-{adapter} {done.adapter_version} "
            "installed."
            if ok
            else f"dbt-{adapter} failed to install: {done.message}"
        )
    return CliResult(data=rows, text="\n".join(lines), exit_code=1 if failed else 0)


@transform.action(
    "create",
    "Add a model to a project (or replace its SQL) from a .sql file.",
    PROJECT,
    arg("--model", required=True, metavar="NAME", help="The model's name."),
    arg("--sql", required=True, metavar="FILE", help="Its SQL ('-' reads stdin)."),
    WORKSPACE,
    AS_USER,
)
def transform_create(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.EDITOR)
    project = _project(membership.workspace, options["project"])
    name = options["model"].removesuffix(".sql")
    if not MODEL_NAME.match(name):
        raise CommandError(
            f"{name!r} is not a model name: use letters, digits and underscores, "
            "starting with a letter (it becomes a table name)."
        )
    source = options["sql"]
    try:
        sql = sys.stdin.read() if source == "-" else Path(source).read_text()
    except FileNotFoundError:
        raise CommandError(f"No SQL file {source}.") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise CommandError(f"Cannot read {source}: {reason}.") from None
    if not sql.strip():
        raise CommandError(f"{source} is empty: a model needs a SELECT.")
    # A model of that name may already live in a subfolder (models/staging/...):
    # replace it there, since two files with one model name do not parse.
    existing = (
        ProjectFile.objects.filter(project=project, path__startswith="models/")
        .filter(path__endswith=f"/{name}.sql")
        .values_list("path", flat=True)
        .first()
    )
    path = existing or f"models/{name}.sql"
    try:
        projects.project_file_save(
            project=project, actor=membership.user, path=path, content=sql
        )
    except ValidationError as exc:
        raise CommandError(_messages(exc)) from None
    verb = "Replaced" if existing else "Added"
    return CliResult(
        data={
            "project": project.name,
            "model": name,
            "path": path,
            "created": not existing,
        },
        text=f"{verb} model {name} ({path}) in {project.name}. "
        f"`airbyte transform run --project {project.name} --select {name}` builds it.",
    )


@transform.action(
    "run",
    "Run dbt on a project (build by default); exit code by the run with --wait.",
    PROJECT,
    SELECT,
    arg("--command", choices=RUN_COMMANDS, default="build", help="Default: build."),
    WAIT,
    LOCAL,
    TIMEOUT,
    WORKSPACE,
    AS_USER,
)
def transform_run(options: dict[str, Any]) -> CliResult:
    return _start(options, options.get("command") or "build")


@transform.action(
    "test",
    "Run a project's dbt tests; exit 1 with --wait when one fails.",
    PROJECT,
    SELECT,
    WAIT,
    LOCAL,
    TIMEOUT,
    WORKSPACE,
    AS_USER,
)
def transform_test(options: dict[str, Any]) -> CliResult:
    return _start(options, TransformRun.Command.TEST)


@transform.action(
    "docs",
    "Generate a project's docs (dbt docs generate); --output writes the page.",
    PROJECT,
    arg(
        "--output",
        metavar="FILE",
        help="Write the static docs page (one HTML file) here; implies --wait.",
    ),
    WAIT,
    LOCAL,
    TIMEOUT,
    WORKSPACE,
    AS_USER,
)
def transform_docs(options: dict[str, Any]) -> CliResult:
    output = options.get("output")
    if output:
        options = {**options, "wait": True}
    result = _start(options, TransformRun.Command.DOCS, quiet_text=True)
    if not output or result.exit_code:
        return result
    run = TransformRun.objects.get(public_id=result.data["id"])
    page = run.project.artifacts.filter(name="docs.html").first()
    if page is None:
        raise CommandError(
            f"Run #{run.number} succeeded but left no docs page to write to {output}."
        )
    try:
        Path(output).write_text(page.content)
    except OSError as exc:
        raise CommandError(f"Cannot write {output}: {exc.strerror}.") from None
    result.data["output"] = str(output)
    result.text += f"\nWrote the docs page to {output}."
    return result


@transform.action(
    "list",
    "List the dbt projects; with --project, its models and how each last ran.",
    arg("--project", metavar="NAME_OR_ID", help="Show this project's models."),
    WORKSPACE,
    AS_USER,
)
def transform_list(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.VIEWER)
    workspace = membership.workspace
    if options.get("project"):
        return _models(_project(workspace, options["project"]))
    found = (
        DbtProject.objects.for_workspace(workspace)
        .select_related("destination", "connection")
        .order_by("name")
    )
    last_runs = {
        run.project_id: run
        for run in TransformRun.objects.filter(
            pk__in=Subquery(
                TransformRun.objects.filter(project=OuterRef("project"))
                .order_by("-number")
                .values("pk")[:1]
            ),
            project__workspace=workspace,
        )
    }
    rows = [_project_row(p, last_runs.get(p.pk)) for p in found]
    shown = [
        {
            **row,
            "last_run": f"#{row['last_run']} {row['last_command']} {row['last_status']}"
            if row["last_run"]
            else "",
        }
        for row in rows
    ]
    text = table(shown, ["name", "kind", "destination", "models", "last_run", "id"])
    return CliResult(data=rows, text=text)


def _models(project: DbtProject) -> CliResult:
    """A project's models, seeds and snapshots, each with its last build result."""
    nodes = [
        node
        for node in (project.graph or {}).get("nodes", [])
        if node.get("resource_type") in ("model", "seed", "snapshot")
    ]
    ids = [node["unique_id"] for node in nodes]
    building = RunNode.objects.filter(
        run__project=project, run__command__in=BUILDING_COMMANDS
    )
    latest = building.filter(unique_id=OuterRef("unique_id")).order_by(
        "-run__number", "-id"
    )
    last = {
        node.unique_id: node
        for node in building.filter(
            unique_id__in=ids, pk=Subquery(latest.values("pk")[:1])
        ).select_related("run")
    }
    rows = []
    for node in nodes:
        done = last.get(node["unique_id"])
        rows.append(
            {
                "unique_id": node["unique_id"],
                "name": node.get("name", ""),
                "type": node.get("resource_type", ""),
                "materialized": node.get("materialized", ""),
                "path": node.get("original_file_path") or node.get("path", ""),
                "status": done.status if done else "",
                "rows": done.rows_affected if done else None,
                "seconds": round(done.execution_time, 2) if done else None,
                "run": done.run.number if done else None,
                "finished_at": done.run.finished_at.isoformat()
                if done and done.run.finished_at
                else None,
            }
        )
    shown = [
        {
            **row,
            "status": row["status"] or "never built",
            "rows": "" if row["rows"] is None else row["rows"],
            "seconds": "" if row["seconds"] is None else row["seconds"],
            "run": f"#{row['run']}" if row["run"] else "",
        }
        for row in rows
    ]
    text = table(shown, ["name", "type", "status", "rows", "seconds", "run", "path"])
    if not nodes:
        text = (
            f"{project.name} has no parsed models yet: "
            f"`airbyte transform run --project {project.name} --local` parses and "
            "builds it."
        )
    return CliResult(
        data={"project": project.name, "id": str(project.public_id), "models": rows},
        text=text,
    )


@transform.action(
    "apply",
    "Run a project after each successful sync of a connection (--remove: stop).",
    PROJECT,
    CONNECTION,
    arg(
        "--select",
        default="",
        metavar="SELECTOR",
        help="dbt's --select (default: what is downstream of the connection's source).",
    ),
    arg(
        "--command",
        choices=projects.TRIGGER_COMMANDS,
        default="build",
        help="The dbt command to run after each sync (default: build).",
    ),
    arg("--remove", action="store_true", help="Stop running it after those syncs."),
    WORKSPACE,
    AS_USER,
)
def transform_apply(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.EDITOR)
    workspace = membership.workspace
    project = _project(workspace, options["project"])
    connection = _connection(workspace, options["connection"])
    existing = TransformTrigger.objects.filter(
        connection=connection, project=project
    ).first()
    try:
        if options.get("remove"):
            if existing is None:
                raise CommandError(
                    f"{project.name} does not run after {connection.name}'s syncs."
                )
            projects.trigger_delete(trigger=existing, actor=membership.user)
            return CliResult(
                data={
                    "project": project.name,
                    "connection": connection.name,
                    "removed": True,
                },
                text=f"{project.name} no longer runs after {connection.name}'s syncs.",
            )
        trigger = projects.trigger_set(
            connection=connection,
            project=project,
            actor=membership.user,
            selector=options.get("select") or "",
            command=options.get("command") or "build",
        )
    except ValidationError as exc:
        raise CommandError(_messages(exc)) from None
    selector = trigger.selector or "what this connection's syncs loaded (default)"
    return CliResult(
        data={
            "id": str(trigger.public_id),
            "project": project.name,
            "connection": connection.name,
            "command": trigger.command,
            "selector": trigger.selector,
            "enabled": trigger.enabled,
        },
        text=f"{project.name} runs dbt {trigger.command} after each successful sync "
        f"of {connection.name}, selecting {selector}.",
    )


@transform.action(
    "cancel",
    "Cancel a pending or running run (dbt is stopped).",
    PROJECT,
    arg("--run", required=True, type=int, metavar="N", help="The run's number."),
    WORKSPACE,
    AS_USER,
)
def transform_cancel(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.EDITOR)
    project = _project(membership.workspace, options["project"])
    run = _run(project, options["run"])
    if not run.is_active:
        raise CommandError(f"Run #{run.number} of {project.name} already {run.status}.")
    try:
        run = runs.transform_run_cancel(run=run, actor=membership.user)
    except ValidationError as exc:
        raise CommandError(_messages(exc)) from None
    text = (
        f"Cancelled run #{run.number} of {project.name}."
        if run.status == TransformRun.Status.CANCELLED
        else f"Asked the worker to stop run #{run.number} of {project.name}."
    )
    return CliResult(data=_run_row(run), text=text)


@transform.action(
    "show-run",
    "Show a run: status, nodes, the end of its log; exit 1 failed, 2 cancelled.",
    PROJECT,
    arg("--run", type=int, metavar="N", help="The run's number (default: the last)."),
    arg("--log-lines", type=int, default=40, metavar="N", help="Log lines to show."),
    WORKSPACE,
    AS_USER,
)
def transform_show_run(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.VIEWER)
    project = _project(membership.workspace, options["project"])
    run = _run(project, options.get("run"))
    row = _run_row(run, nodes=True)
    lines = run.log.splitlines()
    count = max(0, options.get("log_lines") or 0)
    tail = lines[-count:] if count else []
    row["log_tail"] = tail
    row["log_truncated_bytes"] = run.log_truncated_bytes
    parts = [_summary(run)]
    if row["nodes"]:
        parts.append(_nodes_table(row))
    if tail:
        parts.append(f"--- last {len(tail)} log lines")
        parts.extend(tail)
    # An active run's exit code is 0: it has not failed (yet).
    return CliResult(
        data=row,
        text="\n".join(parts),
        exit_code=EXIT_CODES.get(run.status, 0),
    )
