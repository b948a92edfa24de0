"""The life of a transform run on its row: one active per project, cancel stops
dbt's process group, a dead worker's run is reaped and its dbt killed, and the
destination's secrets never reach what is stored (issue #14 item 3)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import psycopg
import pytest
from django.db import connection as db_connection

from apps.audit.models import AuditEvent
from apps.core.masking import MASK
from apps.core.pids import pid_alive
from apps.transforms.models import TransformRun
from apps.transforms.services.runs import (
    RunAlreadyActive,
    transform_run_cancel,
    transform_run_execute,
    transform_run_request,
    transforms_tick,
)
from tests.services_plugin import port_open, skip_or_fail
from tests.transforms.conftest import TEST_DBT_DIR
from tests.transforms.runs_helpers import (
    dbt_project_yml,
    duckdb_destination,
    make_project,
    postgres_destination,
    request,
)

PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
SLOW_MODEL = "select 1 as slept from pg_sleep(60)\n"
Status = TransformRun.Status


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout:g} s waiting for {what}")


@pytest.fixture
def pg_schema():
    if not port_open("postgres://127.0.0.1:5432", 5432):
        skip_or_fail("needs PostgreSQL at 127.0.0.1:5432")
    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        # A dbt killed with SIGKILL leaves its query to the server, which sees the
        # client gone only when the query ends: stop it before dropping the schema.
        conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where query like %s and pid <> pg_backend_pid()",
            (f"%{name}%",),
        )
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _sleeping_queries(schema: str) -> int:
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        return conn.execute(
            "select count(*) from pg_stat_activity "
            "where query like %s and pid <> pg_backend_pid()",
            (f"%{schema}%pg_sleep(60)%",),
        ).fetchone()[0]


@pytest.fixture
def slow_project(workspace, settings, tmp_path, pg_schema):
    settings.TRANSFORMS_DIR = tmp_path / "transforms"
    return make_project(
        workspace,
        postgres_destination(workspace, pg_schema),
        {
            "dbt_project.yml": dbt_project_yml("slow"),
            "models/slow.sql": SLOW_MODEL,
        },
        name="Slow",
    )


# -- one active run -------------------------------------------------------------------


def test_a_project_has_one_active_run_and_numbers_count_up(admin, workspace, settings):
    settings.DUCKDB_DIR = "/nonexistent"
    project = make_project(workspace, duckdb_destination(workspace), {}, name="A")
    other = make_project(workspace, duckdb_destination(workspace, name="B"), {})

    first = request(project, admin)
    with pytest.raises(RunAlreadyActive) as refused:
        request(project, admin, command="test")
    assert refused.value.run == first
    assert "already queued or running (run #1)" in refused.value.messages[0]
    # Another project is not held up.
    assert request(other, admin).number == 1

    cancelled = transform_run_cancel(run=first, actor=admin)
    assert cancelled.status == Status.CANCELLED
    assert cancelled.failure_message == "Cancelled before it started."
    second = request(project, admin, command="test", selector="stg_users+")
    assert (second.number, second.command, second.selector) == (2, "test", "stg_users+")
    actions = list(
        AuditEvent.objects.filter(workspace=workspace)
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "transform.requested",
        "transform.requested",
        "transform.cancel_requested",
        "transform.requested",
    ]
    with pytest.raises(Exception, match="already ended"):
        transform_run_cancel(run=first, actor=admin)


def test_a_second_cancel_of_a_cancelling_run_changes_nothing(admin, workspace):
    project = make_project(workspace, duckdb_destination(workspace), {})
    run = request(project, admin)
    TransformRun.objects.filter(pk=run.pk).update(status=Status.RUNNING)
    transform_run_cancel(run=run, actor=admin)
    transform_run_cancel(run=run, actor=admin)
    run.refresh_from_db()
    assert run.status == Status.CANCELLING
    assert AuditEvent.objects.filter(action="transform.cancel_requested").count() == 1


def test_a_request_names_a_bad_command(admin, workspace):
    project = make_project(workspace, duckdb_destination(workspace), {})
    with pytest.raises(Exception, match="not a dbt command"):
        transform_run_request(project=project, actor=admin, command="rm -rf")
    assert not TransformRun.objects.exists()


# -- cancel ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_dbt_and_its_query_mid_run(
    admin, require_postgres, slow_project, pg_schema, dbt_settings
):
    run = request(slow_project, admin)

    def work() -> None:
        try:
            transform_run_execute(run.pk)
        finally:
            db_connection.close()

    worker = threading.Thread(target=work)
    started = time.monotonic()
    worker.start()
    try:
        pgid = wait_for(
            lambda: TransformRun.objects.get(pk=run.pk).pgid,
            timeout=60,
            what="dbt to start",
        )
        wait_for(
            lambda: _sleeping_queries(pg_schema),
            timeout=60,
            what="the model's query to run",
        )
        assert pid_alive(pgid)
        # The page follows the log while dbt runs: the worker writes it as it goes.
        live = wait_for(
            lambda: "START sql table model" in TransformRun.objects.get(pk=run.pk).log,
            timeout=10,
            what="the live log",
        )
        assert live
        beat = TransformRun.objects.get(pk=run.pk).heartbeat_at
        wait_for(
            lambda: TransformRun.objects.get(pk=run.pk).heartbeat_at > beat,
            timeout=10,
            what="the next heartbeat",
        )

        cancelling = transform_run_cancel(run=run, actor=admin)
        assert cancelling.status == Status.CANCELLING
    finally:
        worker.join(timeout=60)

    assert not worker.is_alive()
    run.refresh_from_db()
    assert run.status == Status.CANCELLED
    assert time.monotonic() - started < 50  # well before the model's 60 s sleep
    assert "Cancelled" in run.failure_message
    assert "dbt was cancelled." in run.log
    assert not pid_alive(pgid)
    # dbt cancelled its query on the way out: the database is not left busy.
    wait_for(
        lambda: _sleeping_queries(pg_schema) == 0,
        timeout=15,
        what="the model's query to stop",
    )


def test_the_stored_log_keeps_its_tail_within_the_cap(settings, workspace):
    from apps.transforms.services.runs import RunReporter

    settings.TRANSFORM_LOG_MAX_BYTES = 4000
    project = make_project(workspace, duckdb_destination(workspace), {})
    reporter = RunReporter(request(project))
    for number in range(1, 501):
        reporter.log(f"line {number}")

    text, dropped = reporter.text()

    assert len(text.encode()) <= 4000
    assert dropped > 0
    # The end of a log says why a run ended: the newest lines are kept.
    assert text.splitlines()[-1].endswith("line 500")
    assert "line 1\n" not in text + "\n"
    total = sum(len(f"2026-01-01 00:00:00Z line {n}\n") for n in range(1, 501))
    assert dropped + len(text.encode()) + 1 == total


# -- a dead worker --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_s_run_is_reaped_and_its_dbt_stopped(
    admin, worker, slow_project, pg_schema, dbt_settings, monkeypatch
):
    monkeypatch.setenv("DBT_DIR", str(TEST_DBT_DIR))
    # In the sandbox, bubblewrap (--die-with-parent) takes dbt down with its
    # worker; without it dbt lives on and only the reaper can stop it: that case.
    monkeypatch.setenv("CONNECTOR_SANDBOX", "none")
    doomed = worker("doomed")
    run = transform_run_request(project=slow_project, actor=admin)  # real enqueue

    running = wait_for(
        lambda: TransformRun.objects.filter(pk=run.pk, pgid__isnull=False).first(),
        timeout=90,
        what="the worker to start dbt",
    )
    wait_for(lambda: _sleeping_queries(pg_schema), timeout=60, what="the query")
    # The worker dies (OOM killer, a power cut): dbt, in its own session, lives on.
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()
    assert pid_alive(running.pgid)

    counts = transforms_tick()

    assert counts["reaped"] == 1
    run.refresh_from_db()
    assert run.status == Status.FAILED
    assert "stopped responding: its process on this host is gone" in (
        run.failure_message
    )
    assert run.finished_at is not None
    wait_for(lambda: not pid_alive(running.pgid), timeout=15, what="dbt to die")
    # Nothing else to reap on the next tick.
    assert transforms_tick()["reaped"] == 0


def test_a_stale_heartbeat_on_another_host_is_reaped_without_killing_anything(
    admin, workspace, settings
):
    settings.SYNC_HEARTBEAT_STALE_SECONDS = 60
    project = make_project(workspace, duckdb_destination(workspace), {})
    bystander = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True
    )
    try:
        run = request(project, admin)
        TransformRun.objects.filter(pk=run.pk).update(
            status=Status.RUNNING,
            worker="another-host:4242",
            pgid=bystander.pid,
            heartbeat_at="2020-01-01T00:00:00Z",
        )
        assert transforms_tick()["reaped"] == 1
        run.refresh_from_db()
        assert run.status == Status.FAILED
        assert "no heartbeat for" in run.failure_message
        # Its pgid belongs to another host: nothing here is killed.
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


# -- secrets --------------------------------------------------------------------------


CANARY = "canary-Pw-7f3a9c"


@pytest.mark.django_db(transaction=True)
def test_the_destination_password_never_reaches_the_stored_run(
    admin, workspace, settings, tmp_path, pg_schema, dbt_settings
):
    import json

    from apps.connectors.models import Destination
    from tests.engines.fixtures import POSTGRES_ID, definition
    from tests.transforms.runs_helpers import run_now

    settings.TRANSFORMS_DIR = tmp_path / "transforms"
    destination = Destination.objects.create(
        workspace=workspace,
        name="PG with a password",
        definition=definition(POSTGRES_ID),
        config={
            "host": "127.0.0.1",
            "port": 5432,
            "database": "postgres",
            "schema": pg_schema,
            "username": "postgres",
            "ssl_mode": "disable",
        },
        secrets=json.dumps({"/password": CANARY}),
    )
    # The server trusts local connections, so the password is sent and ignored;
    # a model that makes PostgreSQL quote it back puts it in dbt's output.
    project = make_project(
        workspace,
        destination,
        {
            "dbt_project.yml": dbt_project_yml("leaky"),
            "models/leaky.sql": f"select cast('{CANARY}' as integer) as n\n",
        },
    )

    run = run_now(project, admin)

    assert run.status == Status.FAILED
    assert "invalid input syntax" in run.failure_message  # the error did come back
    stored = [run.log, run.failure_message, json.dumps(run.output)]
    stored += [node.message for node in run.nodes.all()]
    assert all(CANARY not in text for text in stored)
    assert MASK in run.failure_message
    # The profile dbt read (with the password) is gone from the worker's disk.
    assert not list((tmp_path / "transforms").rglob("profiles.yml"))
