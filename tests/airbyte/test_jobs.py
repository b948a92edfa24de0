"""Syncs on the fake Airbyte server: start, adopt, poll, fail, retry, cancel."""

from __future__ import annotations

import pytest

from apps.airbyte import jobs
from apps.connections import execution
from apps.connections import services as connection_services
from apps.connections.execution import sync_run
from apps.connections.models import SyncJob

JOBS = "/api/public/v1/jobs"


@pytest.fixture(autouse=True)
def _keep_the_test_transaction(monkeypatch):
    """sync_run starts with close_old_connections(), as a worker should; inside a
    test's transaction on PostgreSQL that would close the test's own connection."""
    monkeypatch.setattr(execution, "close_old_connections", lambda: None)


def _request_sync(connection, admin):
    return connection_services.sync_request(
        connection=connection, trigger="manual", actor=admin
    )


def _poll_until_done(job, limit: int = 20) -> SyncJob:
    for _ in range(limit):
        jobs.job_poll(job_id=job.pk)
        job.refresh_from_db()
        if not job.is_active:
            return job
    raise AssertionError(f"job still {job.status} after {limit} polls")


def test_a_sync_runs_on_the_server_and_is_mirrored(
    airbyte_fake, make_connection, admin, polls
):
    connection = make_connection()
    assert connection.remote_id in airbyte_fake.connections
    remote = airbyte_fake.connections[connection.remote_id]
    assert remote.schedule_type == "manual"  # the console keeps the schedule

    job = _request_sync(connection, admin)
    sync_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == SyncJob.Status.RUNNING and job.remote_id
    assert polls == [job.pk]

    job = _poll_until_done(job)
    assert job.status == SyncJob.Status.SUCCEEDED
    assert job.records_committed == 100
    attempt = job.attempts.get()
    assert attempt.status == "succeeded" and attempt.worker == "airbyte"
    assert attempt.log  # the server's log lines, copied at the end
    assert len(airbyte_fake.calls("POST", JOBS)) == 1


def test_a_redelivered_start_task_starts_no_second_job(
    airbyte_fake, make_connection, admin, polls
):
    connection = make_connection()
    job = _request_sync(connection, admin)
    sync_run(job_id=job.pk)
    sync_run(job_id=job.pk)  # the broker delivered the task twice
    jobs.job_start(job_id=job.pk, recover=True)  # and the reaper chimed in
    assert len(airbyte_fake.calls("POST", JOBS)) == 1
    assert len(airbyte_fake.jobs) == 1


def test_a_409_adopts_the_job_already_running(
    airbyte_fake, make_connection, admin, polls
):
    """A start that died after its POST (or a sync begun in Airbyte's UI)."""
    from apps.airbyte.client import AirbyteClient
    from apps.airbyte.models import AirbyteServer

    connection = make_connection()
    server = AirbyteServer.objects.get(workspace=connection.workspace)
    with AirbyteClient.for_server(server) as client:
        running = client.public(
            "POST",
            "/jobs",
            json={"connectionId": connection.remote_id, "jobType": "sync"},
        )
    job = _request_sync(connection, admin)
    sync_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.remote_id == str(running["jobId"])
    assert len(airbyte_fake.jobs) == 1
    assert _poll_until_done(job).status == SyncJob.Status.SUCCEEDED


def test_a_config_error_fails_the_job_with_the_servers_reason(
    airbyte_fake, make_connection, admin, polls
):
    connection = make_connection()
    airbyte_fake.script_next_job(
        steps=["running", "failed"],
        failure={
            "failureType": "config_error",
            "failureOrigin": "source",
            "externalMessage": "Invalid credentials for the Faker API",
        },
    )
    job = _request_sync(connection, admin)
    sync_run(job_id=job.pk)
    job = _poll_until_done(job)
    assert job.status == SyncJob.Status.FAILED
    assert (job.failure_type, job.failure_origin) == ("config_error", "source")
    assert job.failure_message == "Invalid credentials for the Faker API"


def test_a_transient_error_then_success_shows_both_attempts(
    airbyte_fake, make_connection, admin, polls
):
    connection = make_connection()
    airbyte_fake.script_next_job(
        steps=["running", "incomplete", "running", "succeeded"],
        attempt_failures=[
            {
                "failureType": "transient_error",
                "failureOrigin": "destination",
                "externalMessage": "Connection reset by peer",
            }
        ],
    )
    job = _request_sync(connection, admin)
    sync_run(job_id=job.pk)
    job = _poll_until_done(job)
    assert job.status == SyncJob.Status.SUCCEEDED
    first, second = job.attempts.order_by("number")
    assert (first.status, first.failure_type) == ("failed", "transient_error")
    assert first.failure_message == "Connection reset by peer"
    assert second.status == "succeeded"
    assert job.attempt_count == 2


def test_an_unknown_status_is_shown_as_is_and_the_job_keeps_going(
    airbyte_fake, make_connection, admin, polls
):
    connection = make_connection()
    airbyte_fake.script_next_job(
        steps=["running", "queued_for_a_dataplane", "succeeded"],
        allow_invalid_response=True,
    )
    job = _request_sync(connection, admin)
    sync_run(job_id=job.pk)
    seen = []
    for _ in range(10):
        jobs.job_poll(job_id=job.pk)
        job.refresh_from_db()
        seen.append((job.status, job.remote_status))
        if not job.is_active:
            break
    assert ("running", "queued_for_a_dataplane") in seen
    assert job.status == SyncJob.Status.SUCCEEDED
    # Only the scripted unknown value was let through; nothing else was off-spec.
    assert airbyte_fake.tolerated


def test_the_job_page_shows_the_servers_own_status_word(
    airbyte_fake, make_connection, admin, polls, login
):
    connection = make_connection()
    airbyte_fake.script_next_job(
        steps=["running", "queued_for_a_dataplane", "succeeded"],
        allow_invalid_response=True,
    )
    job = _request_sync(connection, admin)
    sync_run(job_id=job.pk)
    while job.remote_status != "queued_for_a_dataplane":
        jobs.job_poll(job_id=job.pk)
        job.refresh_from_db()
        assert job.is_active, job.remote_status
    page = login(admin).get(
        f"/w/{connection.workspace.public_id}/connections/jobs/{job.public_id}/"
    )
    assert page.status_code == 200
    assert "queued_for_a_dataplane" in page.content.decode()


def test_cancel_is_sent_to_the_server_and_mirrored(
    airbyte_fake, make_connection, admin, polls, django_capture_on_commit_callbacks
):
    connection = make_connection()
    airbyte_fake.script_next_job(steps=["running"] * 20)
    job = _request_sync(connection, admin)
    sync_run(job_id=job.pk)
    jobs.job_poll(job_id=job.pk)
    with django_capture_on_commit_callbacks(execute=True):
        connection_services.sync_cancel(actor=admin, job=job)
    job.refresh_from_db()
    assert job.status == SyncJob.Status.CANCELLING
    job = _poll_until_done(job)
    assert job.status == SyncJob.Status.CANCELLED
    assert len(airbyte_fake.calls("DELETE", f"{JOBS}/{job.remote_id}")) == 1
    assert airbyte_fake.jobs[int(job.remote_id)].status == "cancelled"


def test_a_400_from_the_server_reaches_the_user(
    airbyte_fake, make_connection, admin, polls
):
    connection = make_connection()
    airbyte_fake.fail_next(
        "POST",
        JOBS,
        400,
        problem={
            "title": "bad-request",
            "detail": "The connection has no streams selected.",
        },
    )
    job = _request_sync(connection, admin)
    sync_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == SyncJob.Status.FAILED
    assert "The connection has no streams selected." in job.failure_message


def test_a_server_down_at_start_leaves_the_job_waiting_not_failed(
    airbyte_fake, make_connection, admin, polls
):
    connection = make_connection()
    airbyte_fake.fail_next("POST", JOBS, 503, times=10)
    job = _request_sync(connection, admin)
    sync_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == SyncJob.Status.PENDING and job.next_attempt_at
    assert "tries again" in job.failure_message


def test_polls_lost_for_a_while_are_found_by_the_reaper(
    airbyte_fake, make_connection, admin, polls
):
    from datetime import timedelta

    from django.utils import timezone

    connection = make_connection()
    job = _request_sync(connection, admin)
    sync_run(job_id=job.pk)
    SyncJob.objects.filter(pk=job.pk).update(
        remote_polled_at=timezone.now() - timedelta(minutes=10)
    )
    to_poll, to_start = jobs.lost_jobs()
    assert (to_poll, to_start) == ([job.pk], [])


def test_a_server_that_refuses_to_answer_is_explained_and_retried_later(
    airbyte_fake, make_connection, admin, polls
):
    connection = make_connection()
    job = _request_sync(connection, admin)
    sync_run(job_id=job.pk)
    polls.clear()
    airbyte_fake.fail_next(
        "GET",
        f"{JOBS}/*",
        403,
        problem={"title": "forbidden", "detail": "Missing the workspace role."},
    )
    jobs.job_poll(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == SyncJob.Status.RUNNING
    assert "cannot follow this job" in job.failure_message
    assert "Missing the workspace role." in job.failure_message
    assert polls == []  # no hot loop: the reaper asks again later
    # Once the server answers again, the job is followed to its end.
    assert _poll_until_done(job).status == SyncJob.Status.SUCCEEDED
    assert job.failure_message == ""
