"""`manage.py airbyte transform ...`: dbt projects from scripts, on real dbt.

The fast tests at the top check what a script sees for bad input (a clear message,
a non-zero exit, nothing created) and the commands that only touch rows. The slow
one syncs real faker data into DuckDB and drives the generated project through
the commands a user types, with the exit codes a script reads
(test_cli_postgres.py does the same on PostgreSQL through a real worker).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from django.db import connection as db_connection

from apps.audit.models import AuditEvent
from apps.engines.embedded.destinations.duckdb import workspace_duckdb_dir
from apps.transforms.models import (
    DbtInstall,
    DbtProject,
    ProjectArtifact,
    ProjectFile,
    RunNode,
    TransformRun,
    TransformTrigger,
)
from apps.transforms.services.runs import transform_run_cancel as cancel_run
from apps.transforms.services.runs import transform_run_request
from tests.connections.conftest import (  # noqa: F401 - fixtures
    duckdb_destination,
    faker_source,
    make_connection,
)
from tests.factories import ConnectionFactory, DestinationFactory
from tests.transforms.cli_helpers import (  # noqa: F401 - transforms_dirs is a fixture
    refused,
    sync_now,
    transform,
    transform_json,
    transforms_dirs,
)


@pytest.fixture
def project(admin, workspace):
    """An uploaded project of the workspace, made with the ORM (no dbt needed)."""
    connection = ConnectionFactory(workspace=workspace, name="Shop sync")
    return DbtProject.objects.create(
        workspace=workspace,
        name="shop",
        kind=DbtProject.Kind.UPLOAD,
        destination=connection.destination,
        created_by=admin,
    )


# --- bad input: a clear message, a non-zero exit, nothing done ---------------------


def test_an_unknown_project_says_so_and_where_to_look(admin, workspace):
    refused(
        admin,
        workspace,
        "run",
        "--project",
        "nope",
        match=r"No dbt project 'nope' in Acme Data\. `airbyte transform list`",
    )
    assert not TransformRun.objects.exists()


def test_errors_under_json_are_json_on_stderr_with_exit_1(admin, workspace, capsys):
    code, out, err = transform(
        capsys, admin, workspace, "list", "--project", "nope", "--json"
    )
    assert (code, out) == (1, "")
    assert "No dbt project 'nope'" in json.loads(err)["error"]


def test_a_project_of_another_workspace_is_unknown(admin, workspace, outsider):
    theirs = DbtProject.objects.create(
        workspace=outsider.memberships.get().workspace,
        name="theirs",
        kind=DbtProject.Kind.UPLOAD,
    )
    for wanted in ("theirs", str(theirs.public_id)):
        refused(
            admin, workspace, "show-run", "--project", wanted, match="No dbt project"
        )


def test_init_refuses_a_connection_of_another_workspace(admin, workspace, outsider):
    theirs = ConnectionFactory(
        workspace=outsider.memberships.get().workspace, name="Their sync"
    )
    for wanted in ("Their sync", str(theirs.public_id)):
        refused(
            admin,
            workspace,
            "init",
            "--name",
            "x",
            "--connection",
            wanted,
            match=rf"No connection '{wanted}' in Acme Data",
        )
    assert not DbtProject.objects.exists()


def test_init_refuses_a_destination_of_another_workspace(admin, workspace, outsider):
    ConnectionFactory(workspace=workspace, name="Mine")
    DestinationFactory(workspace=outsider.memberships.get().workspace, name="Their DB")
    refused(
        admin,
        workspace,
        "init",
        "--connection",
        "Mine",
        "--destination",
        "Their DB",
        match=r"No destination 'Their DB' in Acme Data",
    )
    assert not DbtProject.objects.exists()


def test_apply_refuses_a_connection_of_another_workspace(
    admin, workspace, outsider, project
):
    ConnectionFactory(workspace=outsider.memberships.get().workspace, name="Their sync")
    refused(
        admin,
        workspace,
        "apply",
        "--project",
        "shop",
        "--connection",
        "Their sync",
        match="No connection 'Their sync'",
    )
    assert not TransformTrigger.objects.exists()


def test_create_with_a_missing_sql_file_says_which(admin, workspace, project, tmp_path):
    missing = tmp_path / "orders.sql"
    refused(
        admin,
        workspace,
        "create",
        "--project",
        "shop",
        "--model",
        "orders",
        "--sql",
        str(missing),
        match=f"No SQL file {missing}",
    )
    assert not project.files.exists()


def test_create_refuses_what_is_not_a_model_name_or_an_empty_file(
    admin, workspace, project, tmp_path
):
    sql = tmp_path / "x.sql"
    sql.write_text("select 1 as one")
    refused(
        admin,
        workspace,
        "create",
        "--project",
        "shop",
        "--model",
        "../escape",
        "--sql",
        str(sql),
        match="'../escape' is not a model name",
    )
    sql.write_text("  \n")
    refused(
        admin,
        workspace,
        "create",
        "--project",
        "shop",
        "--model",
        "fine",
        "--sql",
        str(sql),
        match="is empty",
    )
    assert not project.files.exists()


def test_a_viewer_can_list_but_not_run_create_or_install(
    viewer, workspace, project, tmp_path, capsys
):
    code, rows = transform_json(capsys, viewer, workspace, "list")
    assert code == 0 and [r["name"] for r in rows] == ["shop"]
    refused(
        viewer, workspace, "run", "--project", "shop", match="needs the editor role"
    )
    sql = tmp_path / "m.sql"
    sql.write_text("select 1 as one")
    refused(
        viewer,
        workspace,
        "create",
        "--project",
        "shop",
        "--model",
        "m",
        "--sql",
        str(sql),
        match="needs the editor role",
    )
    refused(viewer, workspace, "install", match="needs the admin role")
    assert not TransformRun.objects.exists() and not project.files.exists()


# --- commands that only touch rows ---------------------------------------------------


def test_create_adds_a_model_and_replaces_one_where_it_lives(
    admin, workspace, project, tmp_path, capsys
):
    ProjectFile.objects.create(
        project=project, path="models/staging/stg_users.sql", content="select 1 as id"
    )
    sql = tmp_path / "users.sql"
    sql.write_text("select 2 as id")
    code, out, _ = transform(
        capsys,
        admin,
        workspace,
        "create",
        "--project",
        "shop",
        "--model",
        "stg_users",
        "--sql",
        str(sql),
    )
    assert code == 0
    assert "Replaced model stg_users (models/staging/stg_users.sql) in shop" in out
    code, data = transform_json(
        capsys,
        admin,
        workspace,
        "create",
        "--project",
        "shop",
        "--model",
        "orders",
        "--sql",
        str(sql),
    )
    assert data == {
        "project": "shop",
        "model": "orders",
        "path": "models/orders.sql",
        "created": True,
    }
    # The existing model is replaced in its folder, not doubled in models/.
    assert dict(project.files.values_list("path", "content")) == {
        "models/staging/stg_users.sql": "select 2 as id",
        "models/orders.sql": "select 2 as id",
    }
    assert (
        AuditEvent.objects.filter(
            target_id=str(project.public_id), user_agent="airbyte-cli"
        ).count()
        == 2
    )


def test_create_refuses_a_git_project_with_the_reason(admin, workspace, tmp_path):
    DbtProject.objects.create(
        workspace=workspace,
        name="repo",
        kind=DbtProject.Kind.GIT,
        git_url="file:///nowhere",
        git_branch="main",
    )
    sql = tmp_path / "m.sql"
    sql.write_text("select 1 as one")
    refused(
        admin,
        workspace,
        "create",
        "--project",
        "repo",
        "--model",
        "m",
        "--sql",
        str(sql),
        match="Git projects are edited in git",
    )


def test_run_without_wait_queues_it_for_a_worker(
    editor, workspace, project, capsys, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        code, row = transform_json(
            capsys, editor, workspace, "run", "--project", "shop", "--select", "stg_x+"
        )
    assert code == 0
    run = TransformRun.objects.get()
    assert row["run"] == run.number == 1
    assert (row["status"], row["command"], row["selector"]) == (
        "pending",
        "build",
        "stg_x+",
    )
    assert run.requested_by == editor and run.trigger == TransformRun.Trigger.API
    assert callbacks, "the run is enqueued once the request commits"


def test_a_second_run_while_one_is_active_says_which(admin, workspace, project):
    active = transform_run_request(project=project, actor=admin, command="build")
    refused(
        admin,
        workspace,
        "test",
        "--project",
        "shop",
        match=rf"Run #{active.number} \(build\) of shop is pending: one run at a time",
    )
    assert TransformRun.objects.count() == 1


def test_cancel_a_pending_run_then_again(admin, workspace, project, capsys):
    run = transform_run_request(project=project, actor=admin, command="build")
    code, out, _ = transform(
        capsys,
        admin,
        workspace,
        "cancel",
        "--project",
        "shop",
        "--run",
        str(run.number),
    )
    assert code == 0 and f"Cancelled run #{run.number} of shop" in out
    run.refresh_from_db()
    assert run.status == TransformRun.Status.CANCELLED
    refused(
        admin,
        workspace,
        "cancel",
        "--project",
        "shop",
        "--run",
        str(run.number),
        match=rf"Run #{run.number} of shop already cancelled",
    )
    refused(
        admin,
        workspace,
        "cancel",
        "--project",
        "shop",
        "--run",
        "99",
        match="No run #99 of shop",
    )


def test_show_run_prints_nodes_and_the_log_tail_and_exits_by_its_status(
    viewer, workspace, project, capsys
):
    run = TransformRun.objects.create(
        workspace=workspace,
        project=project,
        number=7,
        command="build",
        trigger="manual",
        status=TransformRun.Status.FAILED,
        failure_message="Database Error in model orders: column x does not exist",
        stats={"success": 1, "error": 1},
        log="\n".join(f"line {i}" for i in range(100)),
    )
    RunNode.objects.create(
        run=run,
        unique_id="model.shop.stg_users",
        name="stg_users",
        resource_type="model",
        status="success",
        execution_time=0.5,
        rows_affected=200,
    )
    RunNode.objects.create(
        run=run,
        unique_id="model.shop.orders",
        name="orders",
        resource_type="model",
        status="error",
        message="column x does not exist",
    )
    code, out, _ = transform(
        capsys, viewer, workspace, "show-run", "--project", "shop", "--log-lines", "3"
    )
    assert code == 1
    assert "Run #7 (build) of shop failed" in out
    assert "column x does not exist" in out
    assert "stg_users" in out and "200" in out
    assert out.rstrip().endswith("line 97\nline 98\nline 99")
    assert "line 96" not in out
    code, row = transform_json(
        capsys, viewer, workspace, "show-run", "--project", "shop", "--run", "7"
    )
    assert code == 1
    assert [(n["name"], n["status"], n["rows"]) for n in row["nodes"]] == [
        ("stg_users", "success", 200),
        ("orders", "error", None),
    ]
    assert len(row["log_tail"]) == 40


def test_list_shows_projects_with_their_last_run(admin, workspace, project, capsys):
    transform_run_request(project=project, actor=admin, command="test")
    DbtProject.objects.create(
        workspace=workspace, name="another", kind=DbtProject.Kind.UPLOAD
    )
    code, out, _ = transform(capsys, admin, workspace, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["NAME", "KIND", "DESTINATION", "MODELS", "LAST_RUN"]
    assert lines[1].startswith("another") and lines[2].startswith("shop")
    assert "#1 test pending" in lines[2]
    _, rows = transform_json(capsys, admin, workspace, "list")
    assert [(r["name"], r["last_run"], r["last_status"]) for r in rows] == [
        ("another", None, ""),
        ("shop", 1, "pending"),
    ]


def test_list_of_a_project_without_a_parse_says_how_to_get_models(
    admin, workspace, project, capsys
):
    code, out, _ = transform(capsys, admin, workspace, "list", "--project", "shop")
    assert code == 0 and "shop has no parsed models yet" in out


def test_apply_then_remove(admin, workspace, project, capsys):
    connection = ConnectionFactory(workspace=workspace, name="Orders sync")
    code, out, _ = transform(
        capsys,
        admin,
        workspace,
        "apply",
        "--project",
        "shop",
        "--connection",
        "orders sync",
    )
    assert code == 0
    assert "shop runs dbt build after each successful sync of Orders sync" in out
    trigger = TransformTrigger.objects.get(connection=connection, project=project)
    assert trigger.enabled and trigger.selector == ""
    code, data = transform_json(
        capsys,
        admin,
        workspace,
        "apply",
        "--project",
        "shop",
        "--connection",
        str(connection.public_id),
        "--select",
        "stg_orders+",
        "--command",
        "test",
    )
    assert (data["selector"], data["command"]) == ("stg_orders+", "test")
    trigger = TransformTrigger.objects.get()
    assert (trigger.selector, trigger.command) == ("stg_orders+", "test")
    code, out, _ = transform(
        capsys,
        admin,
        workspace,
        "apply",
        "--project",
        "shop",
        "--connection",
        "Orders sync",
        "--remove",
    )
    assert code == 0 and "no longer runs after Orders sync's syncs" in out
    assert not TransformTrigger.objects.exists()
    refused(
        admin,
        workspace,
        "apply",
        "--project",
        "shop",
        "--connection",
        "Orders sync",
        "--remove",
        match="shop does not run after Orders sync's syncs",
    )


def test_show_run_of_a_cancelled_run_exits_2(admin, workspace, project, capsys):
    run = transform_run_request(project=project, actor=admin, command="build")
    transform(capsys, admin, workspace, "cancel", "--project", "shop", "--run", "1")
    code, row = transform_json(
        capsys, admin, workspace, "show-run", "--project", "shop", "--run", "1"
    )
    assert code == 2
    assert (row["run"], row["status"]) == (run.number, "cancelled")


def test_wait_exits_2_when_the_run_is_cancelled_meanwhile(
    admin, workspace, project, capsys, monkeypatch
):
    # Someone cancels the run from another terminal while --wait polls.
    def cancel_instead_of_sleeping(seconds: float) -> None:
        run = TransformRun.objects.get(project=project)
        if run.is_active:
            cancel_run(run=run, actor=admin)

    monkeypatch.setattr("apps.transforms.cli.time.sleep", cancel_instead_of_sleeping)
    code, out, _ = transform(
        capsys, admin, workspace, "run", "--project", "shop", "--wait"
    )
    assert code == 2
    assert "Run #1 (build) of shop cancelled" in out
    assert "Cancelled before it started." in out


LINES = [f"line {i} é" for i in range(8)]


@pytest.mark.parametrize(
    ("second_poll", "expected"),
    [
        # Line 4 has no newline yet at the first poll: it comes with the second.
        (LINES[3:8], LINES),
        # The cap dropped line 4 before it was printed: the gap is said.
        (
            LINES[5:8],
            [*LINES[:4], "[... 10 bytes of the log dropped ...]", *LINES[5:]],
        ),
    ],
)
def test_wait_prints_each_log_line_once_while_the_log_keeps_only_its_tail(
    admin, workspace, project, capsys, monkeypatch, second_poll, expected
):
    lines = LINES
    # What the worker's row holds at each poll: (lines kept, status). The cap drops
    # the oldest lines and counts their bytes (each with its newline).
    polls = iter([(lines[2:5], "running"), (second_poll, "succeeded")])

    def worker_writes(seconds: float) -> None:
        kept, status = next(polls)
        dropped = sum(len(line.encode()) + 1 for line in lines[: lines.index(kept[0])])
        TransformRun.objects.filter(project=project).update(
            status=status, log="\n".join(kept), log_truncated_bytes=dropped
        )

    monkeypatch.setattr("apps.transforms.cli.time.sleep", worker_writes)
    transform_run_request(project=project, actor=admin)
    TransformRun.objects.filter(project=project).update(
        status="running", log="\n".join(lines[:2]) + "\n"
    )
    # What --wait does once it has its run.
    from apps.transforms.cli import _follow

    run = _follow(TransformRun.objects.get(), quiet=False, timeout=None)
    assert run.status == "succeeded"
    assert capsys.readouterr().err.splitlines() == expected


def test_wait_gives_up_after_the_timeout_and_says_the_run_goes_on(
    admin, workspace, project, monkeypatch
):
    monkeypatch.setattr("apps.transforms.cli.time.sleep", lambda seconds: None)
    refused(
        admin,
        workspace,
        "test",
        "--project",
        "shop",
        "--wait",
        "--timeout",
        "0.05",
        match=r"Run #1 of shop still pending after 0\.05 s",
    )
    assert TransformRun.objects.get().status == TransformRun.Status.PENDING


def test_install_reports_the_dbt_it_found_or_installed(
    admin, workspace, dbt_settings, settings, capsys
):
    core, adapter = settings.DBT_CORE_VERSION, settings.DBT_ADAPTER_VERSIONS["duckdb"]
    code, out, err = transform(
        capsys, admin, workspace, "install", "--adapter", "duckdb"
    )
    assert code == 0, out + err
    assert f"dbt-core {core} with dbt-duckdb {adapter} installed." in out
    assert "already installed" in err
    row = DbtInstall.objects.get(adapter="duckdb")
    assert (row.status, row.core_version, row.requested_by) == (
        DbtInstall.Status.INSTALLED,
        core,
        admin,
    )
    assert AuditEvent.objects.filter(
        action="transform.dbt_install", user_agent="airbyte-cli"
    ).exists()


def test_a_failed_install_exits_1_with_pip_s_reason(
    admin, workspace, settings, tmp_path, capsys
):
    settings.DBT_DIR = tmp_path / "dbt"
    empty = tmp_path / "wheels"
    empty.mkdir()
    settings.DBT_PIP_ARGS = ["--no-index", "--find-links", str(empty)]
    code, rows = transform_json(
        capsys, admin, workspace, "install", "--adapter", "postgres"
    )
    assert code == 1
    assert rows[0]["adapter"] == "postgres" and rows[0]["status"] == "failed"
    assert "could not find" in rows[0]["message"]
    assert DbtInstall.objects.get(adapter="postgres").status == DbtInstall.Status.FAILED


# --- real dbt: a faker sync, then the generated project from the command line ------


@pytest.mark.django_db(transaction=True)
def test_duckdb_story_init_run_list_test_docs_and_a_broken_model(
    admin,
    workspace,
    faker_source,  # noqa: F811
    duckdb_destination,  # noqa: F811
    make_connection,  # noqa: F811
    transforms_dirs,  # noqa: F811
    tmp_path,
    capsys,
):
    connection = make_connection(
        faker_source(count=200),
        duckdb_destination,
        [{"name": "users"}, {"name": "products"}],
        namespace="faker",
    )
    connection.name = "Faker shop"
    connection.save(update_fields=["name"])
    sync_now(connection, admin)

    # init: files generated; no worker here, so the parse run waits.
    code, out, _ = transform(
        capsys, admin, workspace, "init", "--name", "shop", "--connection", "Faker shop"
    )
    assert code == 0
    assert "Created dbt project shop" in out and "from Faker shop" in out
    assert "models/staging/stg_users.sql" in out
    assert "once a worker has parsed it" in out
    project = DbtProject.objects.get(name="shop")
    assert project.triggers.get().connection == connection
    parse = project.runs.get()
    assert (parse.command, parse.status) == ("parse", "pending")
    code, out, _ = transform(capsys, admin, workspace, "list", "--project", "shop")
    assert "shop has no parsed models yet" in out

    # run --local: the waiting parse first, then the build of the staging models
    # and their tests, here.
    code, out, err = transform(
        capsys, admin, workspace, "run", "--project", "shop", "--local"
    )
    assert code == 0, out + err
    assert "Running the waiting run #1 (parse) here first." in err
    assert "Run #2 (build) of shop succeeded" in out
    assert "stg_users" in out
    assert "OK created sql view model main.stg_users" in err  # dbt's own lines
    parse.refresh_from_db()
    assert parse.status == "succeeded"

    # list --project: each model with its last status and rows.
    code, listing = transform_json(
        capsys, admin, workspace, "list", "--project", "shop"
    )
    models = {m["name"]: m for m in listing["models"]}
    assert {"stg_users", "stg_products"} <= set(models)
    assert models["stg_users"]["status"] == "success"
    assert models["stg_users"]["run"] == 2

    # test: the generated tests pass.
    code, row = transform_json(
        capsys, admin, workspace, "test", "--project", "shop", "--local"
    )
    assert code == 0, row["failure"]
    assert row["command"] == "test"
    assert row["nodes"] and {n["status"] for n in row["nodes"]} == {"pass"}

    # compile one model: its SQL, with the source's real table.
    code, out, err = transform(
        capsys,
        admin,
        workspace,
        "run",
        "--project",
        "shop",
        "--command",
        "compile",
        "--select",
        "stg_users",
        "--local",
    )
    assert code == 0, out + err
    assert '"warehouse"."faker"."users"' in out.replace("'", '"')

    # docs --output: the static page lands in the file.
    page = tmp_path / "docs.html"
    code, out, err = transform(
        capsys,
        admin,
        workspace,
        "docs",
        "--project",
        "shop",
        "--local",
        "--output",
        str(page),
    )
    assert code == 0, out + err
    assert f"Wrote the docs page to {page}" in out
    assert page.read_text().lstrip().lower().startswith("<!doctype html")
    assert ProjectArtifact.objects.get(project=project, name="docs.html").content == (
        page.read_text()
    )

    # A model with a SQL error: the run fails with dbt's reason, exit 1, and the
    # models built before stay as they were.
    broken = tmp_path / "broken.sql"
    broken.write_text("select no_such_column from {{ ref('stg_users') }}\n")
    code, out, _ = transform(
        capsys,
        admin,
        workspace,
        "create",
        "--project",
        "shop",
        "--model",
        "broken",
        "--sql",
        str(broken),
    )
    assert code == 0 and "Added model broken (models/broken.sql)" in out
    code, out, err = transform(
        capsys,
        admin,
        workspace,
        "run",
        "--project",
        "shop",
        "--select",
        "broken",
        "--local",
    )
    assert code == 1, out + err
    assert "of shop failed" in out
    assert "no_such_column" in out
    run = project.runs.order_by("-number").first()
    assert run.status == TransformRun.Status.FAILED
    assert "no_such_column" in run.failure_message
    code, listing = transform_json(
        capsys, admin, workspace, "list", "--project", "shop"
    )
    models = {m["name"]: m for m in listing["models"]}
    assert models["stg_users"]["status"] == "success"

    # show-run of the failed run: exit 1, the reason and the log's end.
    code, out, _ = transform(capsys, admin, workspace, "show-run", "--project", "shop")
    assert code == 1 and "no_such_column" in out


@pytest.mark.django_db(transaction=True)
def test_ctrl_c_during_a_local_run_cancels_it_and_stops_dbt(
    admin,
    workspace,
    duckdb_destination,  # noqa: F811
    transforms_dirs,  # noqa: F811
    capsys,
):
    project = DbtProject.objects.create(
        workspace=workspace,
        name="slow",
        kind=DbtProject.Kind.UPLOAD,
        destination=duckdb_destination,
    )
    ProjectFile.objects.create(
        project=project,
        path="dbt_project.yml",
        content="name: slow\nversion: '1.0'\nconfig-version: 2\nprofile: console\n"
        "models:\n  slow:\n    +materialized: table\n",
    )
    # Minutes of work for DuckDB: only a cancel ends it in time.
    ProjectFile.objects.create(
        project=project,
        path="models/endless.sql",
        content="select sum(a.range * b.range) as n "
        "from range(1000000) a, range(1000000) b",
    )

    # The workspace's DuckDB folder exists once a sync wrote there.
    workspace_duckdb_dir(str(workspace.public_id)).mkdir(parents=True, exist_ok=True)
    done = threading.Event()

    def press_ctrl_c_once_dbt_runs() -> None:
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and not done.is_set():
                run = TransformRun.objects.filter(project=project).first()
                if run is not None and run.status == "running" and run.pgid:
                    os.kill(os.getpid(), signal.SIGINT)
                    return
                time.sleep(0.2)
            if not done.is_set():  # never hang the suite: end the run another way
                cancel_run(run=TransformRun.objects.get(project=project), actor=None)
        finally:
            db_connection.close()

    # A Ctrl-C that came after the command restored this handler must not stop
    # the test session: it is only counted.
    stray: list[int] = []
    outer = signal.signal(signal.SIGINT, lambda signum, frame: stray.append(signum))
    presser = threading.Thread(target=press_ctrl_c_once_dbt_runs)
    presser.start()
    started = time.monotonic()
    try:
        code, out, err = transform(
            capsys, admin, workspace, "run", "--project", "slow", "--local"
        )
    finally:
        done.set()
        presser.join()
        signal.signal(signal.SIGINT, outer)
    assert stray == []
    assert code == 2, out + err
    assert "Cancelling run #1: dbt stops in a moment" in err
    assert "Run #1 (build) of slow cancelled" in out
    run = TransformRun.objects.get(project=project)
    assert run.status == TransformRun.Status.CANCELLED
    assert time.monotonic() - started < 90
    # Nothing of dbt's process group still runs.
    assert live_processes_in_group(run.pgid) == []


def live_processes_in_group(pgid: int) -> list[int]:
    """Pids of the group that are still alive (zombies only wait to be reaped)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive
