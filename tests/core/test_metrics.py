"""Pipeline metrics (issue #17): counted once per transition, with bounded labels.

These read this process's own values (a metric's in-process child), so other
tests' values in the shared folder do not matter; tests/ops/test_metrics_e2e.py
scrapes the sums of real worker processes.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
import uuid
from datetime import timedelta
from pathlib import Path
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.connections import lifecycle
from apps.connections import services as connection_services
from apps.connections.models import SyncJob
from apps.core import metrics
from apps.engines.base import AttemptOutcome
from apps.engines.registry import engine_names
from apps.schedules import services as schedule_services
from apps.schedules.models import Schedule
from apps.transforms.models import DbtProject, TransformRun
from apps.transforms.services.runs import RunResult, _finish, transform_run_cancel
from apps.webhooks import delivery
from apps.webhooks.models import Notification
from tests.factories import ConnectionFactory, DestinationFactory


def value(metric, **labels) -> float:
    """This process's value of one series (0 before its first use)."""
    child = metric.labels(**labels) if labels else metric
    return child._value.get()


def observations(histogram, **labels) -> float:
    child = histogram.labels(**labels) if labels else histogram
    return sum(bucket.get() for bucket in child._buckets)


@pytest.fixture
def job(db):
    return SyncJob.objects.create(
        public_id=uuid.uuid4(), connection=ConnectionFactory(), trigger="manual"
    )


def test_label_values_are_the_models_choices():
    assert set(metrics.ENGINES) == set(engine_names())
    assert set(metrics.SYNC_STATUSES) == set(SyncJob.TERMINAL_STATUSES)
    assert set(metrics.FAILURE_ORIGINS) == set(SyncJob.FailureOrigin.values)
    assert set(metrics.TRIGGERS) == set(SyncJob.Trigger.values)
    assert set(metrics.TRANSFORM_STATUSES) == set(TransformRun.TERMINAL_STATUSES)
    assert set(metrics.TRANSFORM_COMMANDS) == set(TransformRun.Command.values)


def test_values_outside_their_set_are_other_and_empty_ones_none():
    assert metrics.bounded("embedded", metrics.ENGINES) == "embedded"
    assert metrics.bounded("made-up-engine", metrics.ENGINES) == "other"
    assert metrics.bounded("", metrics.FAILURE_ORIGINS) == "none"


def test_a_sync_is_counted_once_when_it_starts_and_once_when_it_ends(
    job, django_capture_on_commit_callbacks
):
    m = metrics.current()
    done = {"engine": "embedded", "status": "succeeded", "failure_origin": "none"}
    started = value(m.syncs_started, engine="embedded", trigger="manual")
    finished = value(m.syncs_finished, **done)
    records = value(m.records_committed, engine="embedded")
    waits = observations(m.queue_wait, engine="embedded")
    durations = observations(m.sync_duration, engine="embedded", status="succeeded")
    running = value(m.syncs_running)

    with django_capture_on_commit_callbacks(execute=True):
        attempt = lifecycle.attempt_claim(job_id=job.pk)
    assert value(m.syncs_running) == running + 1
    # The task delivered twice: the second claim finds the job taken.
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.attempt_claim(job_id=job.pk) is None
    outcome = AttemptOutcome(
        status="succeeded", records_committed=7, bytes_committed=700
    )
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.attempt_finish(attempt_id=attempt.pk, outcome=outcome)
    # A late duplicate finish (the reaper already ended it) changes nothing.
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.attempt_finish(attempt_id=attempt.pk, outcome=outcome)

    assert value(m.syncs_started, engine="embedded", trigger="manual") == started + 1
    assert value(m.syncs_finished, **done) == finished + 1
    assert value(m.records_committed, engine="embedded") == records + 7
    assert observations(m.queue_wait, engine="embedded") == waits + 1
    assert (
        observations(m.sync_duration, engine="embedded", status="succeeded")
        == durations + 1
    )
    assert value(m.syncs_running) == running


def _first_attempt_fails_and_waits_to_retry(job, capture) -> None:
    """A worker claims the job and its attempt fails with a retryable error."""
    with capture(execute=True):
        attempt = lifecycle.attempt_claim(job_id=job.pk)
    with capture(execute=True):
        lifecycle.attempt_finish(
            attempt_id=attempt.pk,
            outcome=AttemptOutcome(
                status="failed",
                failure_type="transient_error",
                failure_origin="source",
                failure_message="The source went away.",
            ),
        )
    job.refresh_from_db()
    assert job.status == SyncJob.Status.INCOMPLETE


def test_a_failed_attempt_that_retries_counts_a_retry_not_an_end(
    job, django_capture_on_commit_callbacks
):
    m = metrics.current()
    retries = value(m.retries, engine="embedded")
    failed = value(
        m.syncs_finished, engine="embedded", status="failed", failure_origin="source"
    )
    _first_attempt_fails_and_waits_to_retry(job, django_capture_on_commit_callbacks)
    assert value(m.retries, engine="embedded") == retries + 1
    assert (
        value(
            m.syncs_finished,
            engine="embedded",
            status="failed",
            failure_origin="source",
        )
        == failed
    )


def test_a_job_cancelled_while_it_waits_to_retry_is_counted_ended_once(
    job, django_capture_on_commit_callbacks
):
    m = metrics.current()
    cancelled = {"engine": "embedded", "status": "cancelled", "failure_origin": "none"}
    _first_attempt_fails_and_waits_to_retry(job, django_capture_on_commit_callbacks)
    before = value(m.syncs_finished, **cancelled)
    durations = observations(m.sync_duration, engine="embedded", status="cancelled")

    with django_capture_on_commit_callbacks(execute=True):
        connection_services.sync_cancel(actor=None, job=job)
    with pytest.raises(ValidationError):  # a second click: already ended
        connection_services.sync_cancel(actor=None, job=job)

    job.refresh_from_db()
    assert (job.status, job.failure_origin) == (SyncJob.Status.CANCELLED, "")
    assert value(m.syncs_finished, **cancelled) == before + 1
    assert (
        observations(m.sync_duration, engine="embedded", status="cancelled")
        == durations + 1
    )
    # Told like a cancel from a running attempt: the workspace hears it ended.
    workspace = job.connection.workspace
    assert Notification.objects.filter(
        workspace=workspace, event="sync.cancelled"
    ).exists()


def test_a_job_cancelled_before_a_worker_took_it_is_not_counted(
    job, django_capture_on_commit_callbacks
):
    m = metrics.current()
    cancelled = {"engine": "embedded", "status": "cancelled", "failure_origin": "none"}
    before = value(m.syncs_finished, **cancelled)
    with django_capture_on_commit_callbacks(execute=True):
        connection_services.sync_cancel(actor=None, job=job)
    job.refresh_from_db()
    assert job.status == SyncJob.Status.CANCELLED
    # It never started, so it never ends in the counts (nor in the notifications).
    assert value(m.syncs_finished, **cancelled) == before
    assert not Notification.objects.filter(event="sync.cancelled").exists()


def test_the_reaper_ending_another_process_s_attempt_leaves_this_gauge_alone(
    job, django_capture_on_commit_callbacks
):
    m = metrics.current()
    attempt = lifecycle.attempt_claim(job_id=job.pk)  # not committed: not counted
    running = value(m.syncs_running)
    lifecycle.attempt_finish(
        attempt_id=attempt.pk, outcome=AttemptOutcome(status="failed")
    )
    assert value(m.syncs_running) == running


def test_labels_stay_bounded_whatever_the_number_of_connections(settings):
    settings.METRICS_PER_CONNECTION = False
    m = metrics.current()
    for number in range(50):
        metrics.sync_finished(
            engine="embedded" if number % 2 else "something-new",
            status="failed" if number % 3 else "weird",
            failure_origin="" if number % 5 else "source",
            records_committed=1,
            bytes_committed=1,
            duration_seconds=1.0,
            connection_id=f"conn-{number}",
        )
    assert m.syncs_finished._labelnames == ("engine", "status", "failure_origin")
    engines, statuses, origins = zip(*m.syncs_finished._metrics, strict=True)
    assert set(engines) <= {*metrics.ENGINES, "other"}
    assert set(statuses) <= {*metrics.SYNC_STATUSES, "other"}
    assert set(origins) <= {*metrics.FAILURE_ORIGINS, "none", "other"}
    assert len(m.records_committed._metrics) <= len(metrics.ENGINES) + 1


def test_per_connection_labels_only_when_asked(settings):
    settings.METRICS_PER_CONNECTION = True
    metrics.sync_finished(
        engine="embedded",
        status="succeeded",
        failure_origin="",
        records_committed=3,
        bytes_committed=0,
        duration_seconds=None,
        connection_id="c0ffee",
    )
    m = metrics.current()
    assert m.per_connection
    assert "connection" in m.syncs_finished._labelnames
    assert any("c0ffee" in key for key in m.records_committed._metrics)
    assert (
        "connection"
        not in metrics.build(per_connection=False).records_committed._labelnames
    )


def test_schedule_lag_is_observed_when_the_sync_is_enqueued(
    editor, workspace, django_capture_on_commit_callbacks
):
    m = metrics.current()
    before, seconds = observations(m.schedule_lag), m.schedule_lag._sum.get()
    connection = ConnectionFactory(workspace=workspace)
    schedule = schedule_services.schedule_create(
        actor=editor,
        workspace=workspace,
        connection=connection,
        name="hourly",
        kind="cron",
        cron_expression="0 * * * *",
    )
    Schedule.objects.filter(pk=schedule.pk).update(
        next_run_at=timezone.now() - timedelta(seconds=40)
    )
    with (
        mock.patch("apps.connections.tasks.sync_job_task.apply_async"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        (tick,) = schedule_services.schedule_dispatch()
    assert tick.outcome == "queued"
    assert observations(m.schedule_lag) == before + 1
    assert m.schedule_lag._sum.get() - seconds >= 40


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(204 if self.path == "/ok" else 500)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver_url(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_webhook_requests_are_counted_by_outcome_with_their_latency(receiver_url):
    m = metrics.current()
    outcomes = ("succeeded", "http_error", "network_error", "refused")
    before = {o: value(m.webhook_deliveries, outcome=o) for o in outcomes}
    timed = observations(m.webhook_latency, outcome="succeeded")

    delivery.post(f"{receiver_url}/ok", b"{}", {})
    delivery.post(f"{receiver_url}/broken", b"{}", {})
    delivery.post("http://127.0.0.1:1/closed", b"{}", {})
    delivery.post("ftp://example.com/", b"{}", {})

    after = {o: value(m.webhook_deliveries, outcome=o) for o in outcomes}
    assert {o: after[o] - before[o] for o in outcomes} == dict.fromkeys(outcomes, 1)
    assert observations(m.webhook_latency, outcome="succeeded") == timed + 1


def test_connector_installs_are_counted_by_outcome():
    m = metrics.current()
    installed = value(m.connector_installs, outcome="installed")
    failed = value(m.connector_installs, outcome="failed")
    with metrics.connector_install():
        pass
    with pytest.raises(RuntimeError), metrics.connector_install():
        raise RuntimeError("pip said no")
    assert value(m.connector_installs, outcome="installed") == installed + 1
    assert value(m.connector_installs, outcome="failed") == failed + 1


def test_this_process_writes_into_the_shared_folder():
    # The package set PROMETHEUS_MULTIPROC_DIR before prometheus_client loaded.
    assert metrics.multiprocess_enabled()
    assert metrics.directory().is_dir()


def test_a_transform_run_is_counted_once_when_it_ends(
    workspace, django_capture_on_commit_callbacks
):
    project = DbtProject.objects.create(
        workspace=workspace,
        name="Shop",
        kind=DbtProject.Kind.GIT,
        destination=DestinationFactory(workspace=workspace),
        git_url="https://git.example.com/shop.git",
    )
    run = TransformRun.objects.create(
        workspace=workspace,
        project=project,
        number=1,
        command="build",
        trigger="manual",
        status="running",
    )
    m = metrics.current()
    before = value(m.transform_runs, status="failed", command="build")
    with django_capture_on_commit_callbacks(execute=True):
        _finish(run.pk, RunResult(status="failed", failure_message="dbt failed"))
    # The tick reaping it late finds it ended and keeps the first verdict.
    with django_capture_on_commit_callbacks(execute=True):
        _finish(run.pk, RunResult(status="failed", failure_message="again"))
    assert value(m.transform_runs, status="failed", command="build") == before + 1


def test_a_transform_run_cancelled_before_a_worker_took_it_is_counted(
    workspace, django_capture_on_commit_callbacks
):
    project = DbtProject.objects.create(
        workspace=workspace,
        name="Shop",
        kind=DbtProject.Kind.GIT,
        destination=DestinationFactory(workspace=workspace),
        git_url="https://git.example.com/shop.git",
    )

    def run(number: int, status: str) -> TransformRun:
        return TransformRun.objects.create(
            workspace=workspace,
            project=project,
            number=number,
            command="seed",
            trigger="manual",
            status=status,
        )

    m = metrics.current()
    before = value(m.transform_runs, status="cancelled", command="seed")
    with django_capture_on_commit_callbacks(execute=True):
        transform_run_cancel(run=run(1, "pending"), actor=None)
    assert value(m.transform_runs, status="cancelled", command="seed") == before + 1
    running = run(2, "running")
    # A running one is only asked to stop: its worker counts it when it ends.
    with django_capture_on_commit_callbacks(execute=True):
        transform_run_cancel(run=running, actor=None)
        transform_run_cancel(run=running, actor=None)
    assert value(m.transform_runs, status="cancelled", command="seed") == before + 1
    with django_capture_on_commit_callbacks(execute=True):
        _finish(running.pk, RunResult(status="cancelled"))
    assert value(m.transform_runs, status="cancelled", command="seed") == before + 2


def _child_folder(**env: str) -> str:
    code = "import os, airbyte_console; print(os.environ['PROMETHEUS_MULTIPROC_DIR'])"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return done.stdout.strip()


def test_children_share_the_folder_unless_they_are_another_console(tmp_path):
    ours = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    # `serve`'s and `manage start`'s children: the same folder.
    assert _child_folder() == ours
    # A second console (its own data folder) derives its own, never ours.
    other = tmp_path / "other-console"
    assert _child_folder(CONSOLE_DATA_DIR=str(other)) == str(
        other / "run" / "prometheus"
    )
    # A folder a person set is kept.
    chosen = tmp_path / "chosen"
    assert _child_folder(
        CONSOLE_DATA_DIR=str(other), PROMETHEUS_MULTIPROC_DIR=str(chosen)
    ) == str(chosen)
