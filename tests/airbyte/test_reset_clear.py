"""Resets on the airbyte engine (#12 points 1 and 2).

A reset empties only the streams the user chose, through the Config API's
``connections/clear/stream``, as a console job followed like a sync; "forget state
only" does not exist on Airbyte and is refused; a sync started while a reset runs
on the server waits for it instead of adopting it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from apps.airbyte import jobs
from apps.airbyte.client import AirbyteClient
from apps.airbyte.models import AirbyteServer
from apps.connections import execution
from apps.connections import services as connection_services
from apps.connections.execution import sync_run
from apps.connections.models import ConnectionState, SyncJob
from apps.engines.base import EngineError
from apps.engines.registry import get_engine

JOBS = "/api/public/v1/jobs"
CLEAR = "/api/v1/connections/clear/stream"


@pytest.fixture(autouse=True)
def _keep_the_test_transaction(monkeypatch):
    """sync_run closes old connections, as a worker should; not the test's own."""
    monkeypatch.setattr(execution, "close_old_connections", lambda: None)


def _reset(connection, admin, captured, **kwargs) -> SyncJob:
    """Ask for a reset as the Reset page does, then play the worker that runs it."""
    with captured(execute=False):
        connection_services.connection_reset(
            actor=admin, connection=connection, **kwargs
        )
    job = connection.jobs.get(trigger=SyncJob.Trigger.RESET)
    sync_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def _poll_until_done(job, limit: int = 20) -> SyncJob:
    for _ in range(limit):
        jobs.job_poll(job_id=job.pk)
        job.refresh_from_db()
        if not job.is_active:
            return job
    raise AssertionError(f"job still {job.status} after {limit} polls")


def _server_call(connection, method: str, path: str, **kwargs):
    server = AirbyteServer.objects.get(workspace=connection.workspace)
    with AirbyteClient.for_server(server) as client:
        return client.public(method, path, **kwargs)


def test_a_reset_empties_only_the_chosen_stream_as_a_job_in_the_history(
    airbyte_fake,
    make_connection,
    admin,
    polls,
    login,
    django_capture_on_commit_callbacks,
):
    connection = make_connection()
    names = sorted(s.name for s in connection.streams.all())
    assert len(names) > 1
    kept = names[1:]

    job = _reset(
        connection,
        admin,
        django_capture_on_commit_callbacks,
        streams=[names[0]],
        drop_tables=True,
    )

    # Never the Public API's clear, which empties every stream of the connection.
    assert not airbyte_fake.calls("POST", JOBS)
    (call,) = airbyte_fake.calls("POST", CLEAR)
    assert call[3]["streams"] == [{"streamName": names[0]}]
    (remote,) = airbyte_fake.jobs.values()
    assert remote.stream_names == [names[0]]
    assert not set(kept) & set(remote.stream_names)  # their data stays

    assert job.status == SyncJob.Status.RUNNING and job.remote_id == str(remote.id)
    assert polls == [job.pk]
    # The reset is the connection's active job: a sync waits until it ends.
    with pytest.raises(connection_services.SyncAlreadyRunning):
        connection_services.sync_request(
            connection=connection, trigger="manual", actor=admin
        )
    job = _poll_until_done(job)
    assert job.status == SyncJob.Status.SUCCEEDED

    page = login(admin).get(
        reverse(
            "connections:detail",
            args=[connection.workspace.public_id, connection.public_id],
        )
    )
    assert page.status_code == 200
    assert page.context["recent_jobs"][0] == job  # in the history, as a reset
    assert "<td>Reset</td>" in page.content.decode()


def test_forget_state_only_is_refused_on_this_engine(
    airbyte_fake,
    make_connection,
    admin,
    login,
    django_capture_on_commit_callbacks,
):
    connection = make_connection()
    ConnectionState.objects.create(
        connection=connection, kind="global", state={"type": "GLOBAL"}
    )
    assert get_engine(connection.workspace).can_forget_state_only is False

    with (
        pytest.raises(ValidationError, match="cannot forget the saved state alone"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        connection_services.connection_reset(
            actor=admin, connection=connection, drop_tables=False
        )
    assert connection.states.exists()  # nothing forgotten
    assert not connection.jobs.exists()
    assert not airbyte_fake.calls("POST", JOBS)
    assert not airbyte_fake.calls("POST", CLEAR)

    client = login(admin)
    url = reverse(
        "connections:reset",
        args=[connection.workspace.public_id, connection.public_id],
    )
    page = client.get(url).content.decode()
    assert "cannot forget state alone" in page
    answer = client.post(url, {"confirm": connection.name})
    assert answer.status_code == 400
    assert "cannot forget the saved state alone" in answer.content.decode()
    assert not airbyte_fake.calls("POST", CLEAR)


def test_the_engine_never_posts_the_whole_connection_clear(
    airbyte_fake, make_connection
):
    connection = make_connection()
    engine = get_engine(connection.workspace)
    with pytest.raises(EngineError, match="runs as a job"):
        engine.clear_tables(
            destination_definition=None,
            destination_config={},
            namespace="public",
            table_prefix="",
            streams=["users"],
            connection_id=str(connection.public_id),
            empty_tables=True,
            workspace_id=str(connection.workspace.public_id),
        )
    assert not airbyte_fake.calls("POST", JOBS)


def test_a_reset_while_a_sync_runs_on_the_server_is_refused_and_cancels_nothing(
    airbyte_fake, make_connection, admin, polls, django_capture_on_commit_callbacks
):
    connection = make_connection()
    # A sync begun in Airbyte's own UI: the console does not know it.
    running = _server_call(
        connection,
        "POST",
        "/jobs",
        json={"connectionId": connection.remote_id, "jobType": "sync"},
    )

    job = _reset(
        connection,
        admin,
        django_capture_on_commit_callbacks,
        streams=["users"],
        drop_tables=True,
    )

    assert job.status == SyncJob.Status.FAILED
    assert "a sync is running" in job.failure_message.lower()
    assert "cancel it or wait" in job.failure_message
    assert airbyte_fake.jobs[running["jobId"]].active  # the sync goes on
    assert len(airbyte_fake.jobs) == 1  # and nothing was cleared


def test_a_sync_started_during_a_clear_waits_instead_of_adopting_it(
    airbyte_fake, make_connection, admin, polls
):
    connection = make_connection()
    # A clear running on the server (started in Airbyte's UI).
    clear = _server_call(
        connection,
        "POST",
        "/jobs",
        json={"connectionId": connection.remote_id, "jobType": "clear"},
    )
    assert clear["jobType"] == "reset"

    job = connection_services.sync_request(
        connection=connection, trigger="manual", actor=admin
    )
    sync_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.remote_id == ""  # the clear is not reported as this sync
    assert job.status == SyncJob.Status.PENDING and job.next_attempt_at
    assert "reset, clear or refresh is running" in job.failure_message
    assert polls == []

    # The clear ends; the sync starts on its own turn.
    for _ in range(10):
        if not airbyte_fake.jobs[clear["jobId"]].active:
            break
        _server_call(connection, "GET", f"/jobs/{clear['jobId']}")
    SyncJob.objects.filter(pk=job.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    sync_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == SyncJob.Status.RUNNING
    assert job.remote_id and job.remote_id != str(clear["jobId"])
    assert airbyte_fake.jobs[int(job.remote_id)].job_type == "sync"


def test_the_fake_clears_like_the_server(airbyte_fake, make_connection):
    """``POST /jobs {clear}`` cancels the running sync and reads back as ``reset``;
    the job list shows resets unless ``jobType`` filters them out."""
    connection = make_connection()
    sync = _server_call(
        connection,
        "POST",
        "/jobs",
        json={"connectionId": connection.remote_id, "jobType": "sync"},
    )
    clear = _server_call(
        connection,
        "POST",
        "/jobs",
        json={"connectionId": connection.remote_id, "jobType": "clear"},
    )
    assert airbyte_fake.jobs[sync["jobId"]].status == "cancelled"
    assert clear["jobType"] == "reset"
    assert set(airbyte_fake.jobs[clear["jobId"]].stream_names) == {
        s.name for s in connection.streams.all()
    }
    listed = _server_call(
        connection, "GET", "/jobs", params={"connectionId": connection.remote_id}
    )
    assert {j["jobType"] for j in listed["data"]} == {"sync", "reset"}
    syncs = _server_call(
        connection,
        "GET",
        "/jobs",
        params={"connectionId": connection.remote_id, "jobType": "sync"},
    )
    assert [j["jobId"] for j in syncs["data"]] == [sync["jobId"]]


def test_the_reset_page_starts_the_reset_job_and_says_so(
    airbyte_fake, make_connection, admin, login, django_capture_on_commit_callbacks
):
    connection = make_connection()
    url = reverse(
        "connections:reset",
        args=[connection.workspace.public_id, connection.public_id],
    )
    with django_capture_on_commit_callbacks(execute=False):
        answer = login(admin).post(
            url,
            {"confirm": connection.name, "streams": ["users"], "drop_tables": "on"},
            follow=True,
        )
    assert answer.status_code == 200
    assert "the reset runs as a job; syncs wait until it ends" in (
        answer.content.decode()
    )
    job = connection.jobs.get()
    assert job.trigger == SyncJob.Trigger.RESET
    assert job.reset_streams == [{"name": "users", "namespace": ""}]
