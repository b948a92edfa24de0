"""After a successful sync, the projects that follow its connection run (issue #14
item 4): through a real Celery worker within seconds, and by the rules (failed
syncs start nothing, disabled triggers stay quiet, an active run is not doubled,
a mirrored Airbyte sync starts them too); project schedules start builds."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.connections import lifecycle
from apps.connections.models import SyncJob
from apps.connections.services import sync_request
from apps.transforms.generate import source_name
from apps.transforms.models import DbtProject, TransformRun, TransformTrigger
from apps.transforms.services.runs import runs_after_sync, transforms_tick
from tests.connections.conftest import (  # noqa: F401 - fixtures
    faker_source,
    make_connection,
    pg_rows,
    pg_schema,
    postgres_destination,
)
from tests.factories import ConnectionFactory
from tests.transforms.conftest import TEST_DBT_DIR
from tests.transforms.runs_helpers import make_project, request

Status = TransformRun.Status


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout:g} s waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_a_sync_on_a_real_worker_runs_its_project_within_seconds(
    admin,
    worker,
    monkeypatch,
    faker_source,  # noqa: F811
    postgres_destination,  # noqa: F811
    pg_schema,  # noqa: F811
    make_connection,  # noqa: F811
    dbt_settings,
):
    from apps.transforms.services.projects import project_create_generated

    monkeypatch.setenv("DBT_DIR", str(TEST_DBT_DIR))
    connection = make_connection(
        faker_source(count=100, always_updated=False),
        postgres_destination,
        [
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
            }
        ],
        namespace=pg_schema,
    )
    # One button: the project, its after-sync trigger, and a parse on commit.
    project = project_create_generated(connection=connection, actor=admin)
    worker("w1")
    parse = wait_for(
        lambda: project.runs.filter(status__in=TransformRun.TERMINAL_STATUSES).first(),
        timeout=120,
        what="the new project's parse",
    )
    assert parse.status == Status.SUCCEEDED, parse.failure_message

    job = sync_request(connection=connection, trigger="manual", actor=admin)
    job = wait_for(
        lambda: SyncJob.objects.filter(
            pk=job.pk, status__in=SyncJob.TERMINAL_STATUSES
        ).first(),
        timeout=120,
        what="the sync",
    )
    assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message
    run = wait_for(
        lambda: TransformRun.objects.filter(
            sync_job=job, status__in=TransformRun.TERMINAL_STATUSES
        ).first(),
        timeout=120,
        what="the transform after the sync",
    )

    assert run.status == Status.SUCCEEDED, run.failure_message
    assert run.project == project
    assert run.trigger == TransformRun.Trigger.SYNC
    assert run.selector == f"source:{source_name(connection)}+"
    assert (run.started_at - job.finished_at).total_seconds() < 10
    assert run.nodes.get(name="stg_users").status == "success"
    assert {n.status for n in run.nodes.filter(resource_type="test")} == {"pass"}
    assert pg_rows(f'select count(*) from "{pg_schema}".stg_users') == [(100,)]


# -- the rules, without a worker ------------------------------------------------------


@pytest.fixture
def followed(workspace):
    """A connection and a project that runs after its syncs."""
    connection = ConnectionFactory(workspace=workspace, name="Shop")
    project = make_project(workspace, connection.destination, {}, name="Shop models")
    TransformTrigger.objects.create(
        workspace=workspace, connection=connection, project=project
    )
    return connection, project


def _job(connection, status=SyncJob.Status.SUCCEEDED) -> SyncJob:
    return SyncJob.objects.create(
        public_id=uuid.uuid4(),
        connection=connection,
        trigger="manual",
        status=status,
        finished_at=timezone.now(),
    )


def _after(job) -> list[TransformRun]:
    with mock.patch("apps.transforms.tasks.transform_run_task.apply_async"):
        return runs_after_sync(job.pk)


def test_a_successful_sync_runs_what_its_source_feeds(followed):
    connection, project = followed
    job = _job(connection)

    (run,) = _after(job)

    assert (run.project, run.sync_job, run.trigger) == (project, job, "sync")
    assert run.command == "build"
    assert run.selector == "source:airbyte_shop+"
    assert run.status == Status.PENDING
    # The same news twice starts nothing more.
    assert _after(job) == []
    assert TransformRun.objects.count() == 1


def test_a_trigger_s_own_selector_and_command_are_used(followed):
    connection, _ = followed
    TransformTrigger.objects.update(selector="tag:nightly", command="run")
    (run,) = _after(_job(connection))
    assert (run.command, run.selector) == ("run", "tag:nightly")


@pytest.mark.parametrize(
    "status", [SyncJob.Status.FAILED, SyncJob.Status.CANCELLED, SyncJob.Status.RUNNING]
)
def test_a_sync_that_did_not_succeed_starts_nothing(followed, status):
    connection, _ = followed
    assert _after(_job(connection, status)) == []


def test_a_disabled_trigger_starts_nothing(followed):
    connection, _ = followed
    TransformTrigger.objects.update(enabled=False)
    assert _after(_job(connection)) == []


def test_a_project_already_running_is_not_doubled(followed, admin):
    connection, project = followed
    active = request(project, admin)
    assert _after(_job(connection)) == []
    assert list(project.runs.all()) == [active]


def test_the_end_of_a_sync_reaches_the_transforms_after_commit(
    followed, django_capture_on_commit_callbacks
):
    connection, project = followed
    job = SyncJob.objects.create(
        public_id=uuid.uuid4(), connection=connection, trigger="manual"
    )
    job = SyncJob.objects.select_related("connection__workspace").get(pk=job.pk)
    with (
        mock.patch("apps.transforms.tasks.transform_run_task.apply_async") as sent,
        django_capture_on_commit_callbacks(execute=True),
    ):
        lifecycle.job_finish(job=job, status=SyncJob.Status.SUCCEEDED)

    run = project.runs.get()
    assert run.sync_job == job
    sent.assert_called_once_with(args=[run.pk], queue="syncs", retry=False)


def test_a_mirrored_airbyte_sync_runs_the_same_transforms(
    followed, workspace, django_capture_on_commit_callbacks
):
    # An airbyte-engine workspace: the job is the server's, ended by its poll.
    workspace.engine = "airbyte"
    workspace.save(update_fields=["engine"])
    connection, project = followed
    job = SyncJob.objects.create(
        public_id=uuid.uuid4(), connection=connection, trigger="manual", remote_id="77"
    )
    job = SyncJob.objects.select_related("connection__workspace").get(pk=job.pk)
    with (
        mock.patch("apps.transforms.tasks.transform_run_task.apply_async"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        lifecycle.job_finish(job=job, status=SyncJob.Status.SUCCEEDED)
    assert project.runs.get().sync_job == job


# -- schedules ------------------------------------------------------------------------


def test_a_due_project_schedule_starts_a_build_once(workspace, settings):
    project = make_project(workspace, None, {}, name="Nightly")
    now = timezone.now()
    DbtProject.objects.filter(pk=project.pk).update(
        cron_expression="0 3 * * *",
        schedule_timezone="Europe/Berlin",
        schedule_selector="tag:nightly",
        next_run_at=now - timedelta(minutes=1),
    )
    with mock.patch("apps.transforms.tasks.transform_run_task.apply_async"):
        first = transforms_tick(now=now)
        second = transforms_tick(now=now)

    assert first["scheduled"] == 1 and second["scheduled"] == 0
    run = project.runs.get()
    assert (run.trigger, run.command, run.selector) == (
        "schedule",
        "build",
        "tag:nightly",
    )
    project.refresh_from_db()
    assert project.next_run_at > now
    assert project.next_run_at.astimezone(ZoneInfo("Europe/Berlin")).hour == 3


def test_a_run_a_busy_project_skipped_starts_once_it_is_free(followed, admin):
    connection, project = followed
    preview = request(project, admin, command="show", selector="stg_users")
    job = _job(connection)
    assert _after(job) == []  # the page's preview holds the project

    with mock.patch("apps.transforms.tasks.transform_run_task.apply_async"):
        assert transforms_tick()["after_sync"] == 0  # still busy
        TransformRun.objects.filter(pk=preview.pk).update(status=Status.SUCCEEDED)
        assert transforms_tick()["after_sync"] == 1
        # Owed once: the next tick finds the run.
        assert transforms_tick()["after_sync"] == 0

    run = project.runs.get(sync_job=job)
    assert (run.trigger, run.command) == ("sync", "build")


def test_a_build_started_since_the_sync_settles_what_it_owed(followed, admin):
    connection, project = followed
    busy = request(project, admin)
    job = _job(connection)
    assert _after(job) == []
    TransformRun.objects.filter(pk=busy.pk).update(status=Status.SUCCEEDED)
    manual = request(project, admin)  # asked for after the sync ended
    TransformRun.objects.filter(pk=manual.pk).update(status=Status.SUCCEEDED)

    with mock.patch("apps.transforms.tasks.transform_run_task.apply_async"):
        assert transforms_tick()["after_sync"] == 0
    assert not project.runs.filter(sync_job=job).exists()


def test_a_sync_that_ended_before_the_trigger_existed_starts_nothing(workspace):
    connection = ConnectionFactory(workspace=workspace, name="Earlier")
    job = _job(connection)
    SyncJob.objects.filter(pk=job.pk).update(
        finished_at=timezone.now() - timedelta(minutes=5)
    )
    project = make_project(workspace, connection.destination, {}, name="Later")
    TransformTrigger.objects.create(
        workspace=workspace, connection=connection, project=project
    )
    with mock.patch("apps.transforms.tasks.transform_run_task.apply_async"):
        assert transforms_tick()["after_sync"] == 0
    assert not project.runs.exists()


def test_a_bad_schedule_is_not_due_again_every_tick(workspace):
    project = make_project(workspace, None, {}, name="Broken schedule")
    DbtProject.objects.filter(pk=project.pk).update(
        cron_expression="99 * * * *", next_run_at=timezone.now() - timedelta(minutes=1)
    )
    transforms_tick()
    project.refresh_from_db()
    assert project.next_run_at is None and not project.runs.exists()
