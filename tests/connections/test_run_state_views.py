"""Run state on the connection and job pages: a failed attempt waiting to retry
says why and when, and Retry now starts the next attempt (#18 item 6)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
import time_machine
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.connections.models import SyncAttempt, SyncJob
from tests.factories import ConnectionFactory

NOW = datetime(2026, 12, 4, 16, 17, 21, tzinfo=UTC)


@pytest.fixture
def no_enqueue():
    with mock.patch("apps.connections.tasks.sync_job_task.apply_async") as send:
        yield send


def url(name, workspace, *args):
    return reverse(f"connections:{name}", args=[workspace.public_id, *args])


def waiting_job(workspace, *, attempts: int = 1) -> SyncJob:
    """A job whose attempts failed and whose next one is due in 30 s."""
    connection = ConnectionFactory(workspace=workspace)
    job = SyncJob.objects.create(
        public_id=uuid.uuid4(),
        connection=connection,
        trigger="manual",
        status="incomplete",
        attempt_count=attempts,
        started_at=NOW - timedelta(minutes=1),
        next_attempt_at=NOW + timedelta(seconds=30),
        failure_type="transient_error",
        failure_origin="source",
        failure_message="Connection refused by the API.",
    )
    for number in range(1, attempts + 1):
        SyncAttempt.objects.create(
            job=job,
            number=number,
            status="failed",
            failure_type="transient_error",
            failure_message="Connection refused by the API.",
        )
    return job


@time_machine.travel(NOW, tick=False)
def test_connection_page_says_which_attempt_failed_and_when_the_next_one_runs(
    viewer, workspace, login, htmx_headers
):
    job = waiting_job(workspace)
    client = login(viewer)
    live = client.get(
        url("detail", workspace, job.connection.public_id), headers=htmx_headers
    )
    assert "<html" not in live.text
    text = " ".join(live.text.split())
    assert "Attempt 1 failed:</strong> Connection refused by the API." in text
    assert "Next attempt at" in text and "16:17:51 UTC" in text
    assert "(2 of 5)" in text
    assert "Starting the source" not in text
    assert "every 1500ms" in text  # still live
    # A viewer sees the wait but has no button.
    assert "Retry now" not in text


@time_machine.travel(NOW, tick=False)
def test_job_page_shows_the_wait_and_offers_retry_now_to_runners(
    runner, workspace, login
):
    job = waiting_job(workspace, attempts=2)
    page = login(runner).get(url("job", workspace, job.public_id))
    text = " ".join(page.text.split())
    assert "Attempt 2 failed:" in text and "(3 of 5)" in text
    assert "Retry now" in text


@time_machine.travel(NOW, tick=False)
def test_runner_retries_now_from_the_connection_page(
    runner,
    workspace,
    login,
    htmx_headers,
    no_enqueue,
    django_capture_on_commit_callbacks,
):
    job = waiting_job(workspace)
    with django_capture_on_commit_callbacks(execute=True):
        response = login(runner).post(
            url("job_retry", workspace, job.public_id),
            {"back": "connection"},
            headers=htmx_headers,
        )
    assert response.status_code == 200
    assert "<html" not in response.text and 'id="live"' in response.text
    job.refresh_from_db()
    assert job.next_attempt_at == NOW and job.status == "incomplete"
    no_enqueue.assert_called_once()
    assert no_enqueue.call_args.kwargs["args"] == [job.pk]
    event = AuditEvent.objects.get(action="sync.retry_now")
    assert event.actor == runner
    assert event.changes["job"][1] == str(job.public_id)


@time_machine.travel(NOW, tick=False)
def test_retry_now_after_the_job_moved_on_changes_nothing(
    runner, workspace, login, htmx_headers, no_enqueue
):
    job = waiting_job(workspace)
    SyncJob.objects.filter(pk=job.pk).update(status="running", next_attempt_at=None)
    response = login(runner).post(
        url("job_retry", workspace, job.public_id), headers=htmx_headers
    )
    assert response.status_code == 409
    assert 'id="job-live"' in response.text
    job.refresh_from_db()
    assert job.status == "running" and job.next_attempt_at is None
    no_enqueue.assert_not_called()
    assert not AuditEvent.objects.filter(action="sync.retry_now").exists()


def test_viewer_cannot_retry_now(viewer, workspace, login, no_enqueue):
    job = waiting_job(workspace)
    response = login(viewer).post(url("job_retry", workspace, job.public_id))
    assert response.status_code == 403
    no_enqueue.assert_not_called()


def test_outsider_gets_404_on_retry_now(outsider, workspace, login, no_enqueue):
    job = waiting_job(workspace)
    response = login(outsider).post(url("job_retry", workspace, job.public_id))
    assert response.status_code == 404
