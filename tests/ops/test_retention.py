"""Retention: `airbyte manage prune`, the beat task, and what is (never) pruned."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.airbyte.models import AirbyteProbe, AirbyteServer
from apps.audit.models import AuditEvent
from apps.audit.services import audit_record
from apps.connections.models import SyncAttempt, SyncJob
from apps.connectors.models import RegistryFetch
from apps.engines.models import RuntimeStatus, WorkerStatus
from apps.ops import retention
from apps.schedules.models import Schedule, Tick
from apps.webhooks.models import (
    Notification,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from tests.cli_runner import airbyte
from tests.connections.test_worker import wait_for
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.usefixtures("require_postgres")

S = SyncJob.Status
LOG = "2024-01-01 00:00:00 INFO source: read 10 records\n"


@pytest.fixture
def retention_settings(settings):
    settings.RETENTION_JOB_DAYS = 90
    settings.RETENTION_MIN_JOBS = 2
    settings.RETENTION_LOG_DAYS = 30
    settings.RETENTION_TICK_DAYS = 14
    settings.RETENTION_DELIVERY_DAYS = 30
    settings.RETENTION_NOTIFICATION_DAYS = 90
    settings.RETENTION_BATCH_SIZE = 500
    return settings


@pytest.fixture
def ago():
    """``with ago(days):`` rows made inside are that many days old."""
    now = timezone.now()
    return lambda days: time_machine.travel(now - timedelta(days=days), tick=False)


def make_job(ago, connection, days: float, status=S.SUCCEEDED, attempts: int = 1):
    with ago(days):
        job = SyncJob.objects.create(
            connection=connection,
            trigger=SyncJob.Trigger.SCHEDULED,
            status=status,
            records_committed=10,
            attempt_count=attempts,
        )
        for number in range(1, attempts + 1):
            SyncAttempt.objects.create(
                job=job,
                number=number,
                status=SyncAttempt.Status.SUCCEEDED,
                records_committed=10,
                bytes_committed=1234,
                log=LOG,
            )
    return job


def exists(row) -> bool:
    return type(row).objects.filter(pk=row.pk).exists()


@pytest.fixture
def world(workspace, retention_settings, ago):
    """Rows of every kind at known ages; ``expected`` is what a prune removes."""
    RegistryFetch.objects.all().delete()
    rows = {}
    a = ConnectionFactory(workspace=workspace, name="A")
    # A: four jobs past 90 days go (one had two attempts); its newest two stay.
    rows["a_old"] = [
        make_job(ago, a, 200, S.FAILED, attempts=2),
        make_job(ago, a, 150),
        make_job(ago, a, 120, S.CANCELLED),
        make_job(ago, a, 100),
    ]
    rows["a_recent"] = [make_job(ago, a, 10), make_job(ago, a, 5)]
    # B: every job is old. The newest two stay as its last jobs, and the one from
    # 300 days ago as its last success; only the failure from 200 days ago goes.
    b = ConnectionFactory(workspace=workspace, name="B")
    rows["b_last_success"] = make_job(ago, b, 300)
    rows["b_old"] = make_job(ago, b, 200, S.FAILED)
    rows["b_last"] = [make_job(ago, b, 190, S.FAILED), make_job(ago, b, 180, S.FAILED)]

    schedule = Schedule.objects.create(
        workspace=workspace,
        connection=a,
        name="A",
        kind="interval",
        interval_minutes=60,
    )
    lone = Schedule.objects.create(
        workspace=workspace,
        connection=b,
        name="B",
        kind="interval",
        interval_minutes=60,
    )
    now = timezone.now()

    def tick(on, days, outcome=Tick.Outcome.QUEUED):
        return Tick.objects.create(
            schedule=on, scheduled_for=now - timedelta(days=days), outcome=outcome
        )

    rows["ticks_old"] = [tick(schedule, 20), tick(schedule, 15, "skipped_paused")]
    rows["ticks_kept"] = [
        tick(schedule, 16, Tick.Outcome.WAITING),
        tick(schedule, 3),
        tick(lone, 60),  # the schedule's newest (and only) tick
    ]

    endpoint = WebhookEndpoint.objects.create(
        workspace=workspace, name="hook", url="https://hooks.example/x", secret="s"
    )

    def delivery(days, status, attempts=0):
        with ago(days):
            row = WebhookDelivery.objects.create(
                endpoint=endpoint,
                event="sync.succeeded",
                webhook_id=f"msg_{days}_{status}",
                payload={},
                status=status,
            )
            for number in range(1, attempts + 1):
                WebhookAttempt.objects.create(
                    delivery=row, number=number, attempted_at=timezone.now()
                )
        return row

    D = WebhookDelivery.Status
    rows["deliveries_old"] = [delivery(40, D.SUCCEEDED, 2), delivery(40, D.GAVE_UP, 1)]
    rows["deliveries_kept"] = [delivery(40, D.PENDING), delivery(10, D.SUCCEEDED, 1)]

    with ago(100):
        rows["notification_old"] = Notification.objects.create(
            workspace=workspace, event="sync.failed", title="A failed"
        )
    with ago(50):
        rows["notification_kept"] = Notification.objects.create(
            workspace=workspace, event="sync.failed", title="A failed again"
        )

    server = AirbyteServer.objects.create(
        workspace=workspace, url="https://airbyte.example", client_id="c"
    )

    def probe(days, kind, status):
        with ago(days):
            return AirbyteProbe.objects.create(
                workspace=workspace, server=server, kind=kind, status=status
            )

    K, P = AirbyteProbe.Kind, AirbyteProbe.Status
    rows["probes_old"] = [
        probe(30, K.IMPORT, P.SUCCEEDED),
        probe(20, K.TEST, P.RUNNING),  # lost long ago
    ]
    rows["probes_kept"] = [
        probe(20, K.IMPORT, P.FAILED),  # the last import the Engine page shows
        probe(5, K.TEST, P.SUCCEEDED),
    ]

    def runtime(name, host, days):
        return RuntimeStatus.objects.create(
            runtime=name,
            host=host,
            available=True,
            checked_at=now - timedelta(days=days),
        )

    rows["runtime_old"] = runtime("docker", "gone-host", 30)
    rows["runtime_kept"] = [
        runtime("docker", "live-host", 0.001),
        runtime("podman", "gone-host", 30),  # the only word on podman
    ]

    def worker(name, days):
        reported = now - timedelta(days=days)
        return WorkerStatus.objects.create(
            name=name, host="h", pid=1, started_at=reported, reported_at=reported
        )

    rows["worker_old"] = worker("celery@gone-host", 30)
    rows["worker_kept"] = worker("celery@live-host", 0.001)

    def fetch(days, status):
        with ago(days):
            return RegistryFetch.objects.create(location="registry.json", status=status)

    F = RegistryFetch.Status
    rows["fetches_old"] = [fetch(40, F.SUCCEEDED), fetch(25, F.FAILED)]
    rows["fetches_kept"] = [fetch(30, F.SUCCEEDED), fetch(20, F.FAILED)]

    with ago(4000):
        rows["audit_old"] = audit_record(
            actor=None, actor_label="system", action="test.ancient"
        )
    rows["expected"] = {
        "jobs": 5,
        "job_attempts": 6,
        # B's three kept jobs are past 30 days: their logs go, their rows stay.
        "attempt_logs": 3,
        "ticks": 2,
        "webhook_deliveries": 2,
        "webhook_attempts": 3,
        "notifications": 1,
        "airbyte_probes": 2,
        "runtime_statuses": 1,
        "worker_statuses": 1,
        "registry_fetches": 2,
    }
    return rows


def table_sizes() -> dict[str, int]:
    models = (
        SyncJob,
        SyncAttempt,
        Tick,
        WebhookDelivery,
        WebhookAttempt,
        Notification,
        AirbyteProbe,
        RuntimeStatus,
        WorkerStatus,
        RegistryFetch,
        AuditEvent,
    )
    return {model.__name__: model.objects.count() for model in models}


def test_prune_removes_exactly_what_is_past_its_retention(world):
    audit_before = AuditEvent.objects.count()

    report = retention.retention_prune()

    assert report.counts() == world["expected"]
    assert report.complete
    for key in ("a_old", "ticks_old", "deliveries_old", "probes_old", "fetches_old"):
        assert not any(exists(row) for row in world[key]), key
    assert not exists(world["b_old"])
    assert not exists(world["notification_old"])
    assert not exists(world["runtime_old"])
    assert not exists(world["worker_old"])
    assert exists(world["worker_kept"])
    assert not SyncAttempt.objects.filter(job__in=world["a_old"]).exists()
    for key in ("a_recent", "b_last", "ticks_kept", "deliveries_kept"):
        assert all(exists(row) for row in world[key]), key
    for key in ("probes_kept", "runtime_kept", "fetches_kept"):
        assert all(exists(row) for row in world[key]), key
    assert exists(world["b_last_success"])
    assert exists(world["notification_kept"])
    # Audit events are never pruned, however old; the run adds exactly one.
    assert exists(world["audit_old"])
    assert AuditEvent.objects.count() == audit_before + 1
    event = AuditEvent.objects.get(action="retention.pruned")
    assert event.actor is None and event.actor_label == "system"
    assert event.changes["removed"][1] == world["expected"]


def test_old_logs_are_blanked_and_their_attempts_keep_their_numbers(world):
    retention.retention_prune()

    old = SyncAttempt.objects.get(job=world["b_last"][0])
    assert old.log == (
        "Log pruned after 30 days (RETENTION_LOG_DAYS); the attempt's counts, "
        "times and outcome are kept."
    )
    assert (old.records_committed, old.bytes_committed) == (10, 1234)
    assert old.status == SyncAttempt.Status.SUCCEEDED
    recent = SyncAttempt.objects.get(job=world["a_recent"][0])
    assert recent.log == LOG


def test_the_job_log_page_says_the_log_was_pruned(world, workspace, viewer, login):
    retention.retention_prune()

    job = world["b_last"][0]
    page = login(viewer).get(
        reverse("connections:job_log", args=[workspace.public_id, job.public_id])
    )
    assert page.status_code == 200
    assert "Log pruned after 30 days" in page.content.decode()
    assert "read 10 records" not in page.content.decode()


def test_dry_run_removes_nothing_and_counts_what_the_run_removes(world):
    before = table_sizes()
    logs_before = list(SyncAttempt.objects.order_by("pk").values_list("log", flat=True))

    dry = retention.retention_prune(dry_run=True)

    assert dry.counts() == world["expected"]
    assert table_sizes() == before
    assert list(SyncAttempt.objects.order_by("pk").values_list("log", flat=True)) == (
        logs_before
    )
    assert retention.retention_prune().counts() == dry.counts()


def test_a_second_run_removes_nothing_more_and_records_no_event(world):
    retention.retention_prune()
    after_first = table_sizes()

    second = retention.retention_prune()

    assert second.total == 0
    assert table_sizes() == after_first
    assert AuditEvent.objects.filter(action="retention.pruned").count() == 1


@pytest.mark.parametrize("status", [S.PENDING, S.RUNNING, S.INCOMPLETE, S.CANCELLING])
def test_an_active_job_is_never_pruned(status, workspace, retention_settings, ago):
    retention_settings.RETENTION_MIN_JOBS = 0
    connection = ConnectionFactory(workspace=workspace)
    ended = make_job(ago, connection, 400, S.FAILED)
    active = make_job(ago, connection, 300, status)

    report = retention.retention_prune()

    assert report.counts()["jobs"] == 1
    assert not exists(ended)
    assert exists(active)
    # Its attempt's log stays too: the job is not over.
    assert SyncAttempt.objects.get(job=active).log == LOG


def test_zero_days_keeps_a_kind_for_ever(world, retention_settings):
    retention_settings.RETENTION_JOB_DAYS = 0
    retention_settings.RETENTION_NOTIFICATION_DAYS = 0

    report = retention.retention_prune()

    assert report.counts()["jobs"] == 0
    assert report.counts()["notifications"] == 0
    assert all(exists(job) for job in world["a_old"])
    assert exists(world["notification_old"])
    # Without job pruning, the logs of every old ended attempt are blanked.
    assert report.counts()["attempt_logs"] == 9


def test_more_rows_than_a_batch_go_in_several_small_deletes(
    workspace, retention_settings, ago
):
    retention_settings.RETENTION_BATCH_SIZE = 2
    retention_settings.RETENTION_MIN_JOBS = 0
    connection = ConnectionFactory(workspace=workspace)
    for _ in range(5):
        make_job(ago, connection, 100, S.FAILED)
    make_job(ago, connection, 1, S.FAILED)
    with ago(100):
        for n in range(5):
            Notification.objects.create(workspace=workspace, event="e", title=f"{n}")

    with CaptureQueriesContext(db_connection) as queries:
        report = retention.retention_prune()

    kinds = {kind.key: kind for kind in report.kinds}
    assert (kinds["jobs"].rows, kinds["jobs"].batches) == (5, 3)
    assert (kinds["notifications"].rows, kinds["notifications"].batches) == (5, 3)
    assert SyncJob.objects.filter(connection=connection).count() == 1
    assert not Notification.objects.exists()
    deletes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith('DELETE FROM "webhooks_notification"')
    ]
    assert len(deletes) == 3


def test_manage_prune_dry_run_prints_counts_per_kind(world, capsys):
    code, out, _ = airbyte(capsys, "manage", "prune", "--dry-run")

    assert code == 0
    assert "Would remove 28 rows (dry run: nothing was changed)." in out
    assert "Jobs " in out and "90 days (RETENTION_JOB_DAYS)" in out
    assert "audit events" in out
    assert SyncJob.objects.filter(pk=world["b_old"].pk).exists()

    code, out, _ = airbyte(capsys, "manage", "prune", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["dry_run"] is False and data["total"] == 28
    assert {k["kind"]: k["rows"] for k in data["kinds"]} == world["expected"]
    assert not SyncJob.objects.filter(pk=world["b_old"].pk).exists()
    event = AuditEvent.objects.get(action="retention.pruned")
    assert event.user_agent == "airbyte-cli"


@pytest.mark.django_db(transaction=True)
def test_the_beat_entry_runs_the_prune_on_a_real_worker(
    require_redis, worker, workspace, retention_settings, ago
):
    with ago(100):
        old = Notification.objects.create(workspace=workspace, event="e", title="old")
    recent = Notification.objects.create(workspace=workspace, event="e", title="new")
    worker()
    from airbyte_console.celery import app

    entry = django_settings.CELERY_BEAT_SCHEDULE["ops-retention-prune"]
    app.send_task(entry["task"])

    wait_for(lambda: not exists(old), timeout=60, what="the worker to prune")
    assert exists(recent)
    wait_for(
        lambda: AuditEvent.objects.filter(action="retention.pruned").exists(),
        timeout=10,
        what="the prune's audit event",
    )
