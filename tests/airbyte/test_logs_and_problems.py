"""#12 points 3 and 4 (and the token part of 9) against the fake server.

Point 3: from Airbyte 1.2 an attempt's log is structured (``events`` with a
lowercase ``level`` and a ``logSource``, ``"logLines": []`` beside them); the
console keeps every line with its level and source, fetches each attempt's log on
its own, and a log it cannot fetch never keeps an ended job from ending. Counts the
server leaves out (``totalStats`` while an attempt runs, ``bytesCommitted``) are
not read as zero.

Point 4: a Public API problem keeps its type's generic ``detail`` and says the
real reason in ``data.message``; Micronaut's own bodies say it in
``_embedded.errors[].message``. A wrong client id or secret is a bare 400 at the
token endpoint.
"""

from __future__ import annotations

import pytest

from apps.airbyte import jobs
from apps.airbyte.client import (
    AirbyteApiError,
    AirbyteAuthError,
    AirbyteClient,
    RetryPolicy,
)
from apps.airbyte.shapes import RemoteAttempt
from apps.connections import execution
from apps.connections import services as connection_services
from apps.connections.execution import sync_run
from apps.connections.models import SyncAttempt, SyncJob
from tests.airbyte_fake import DEFAULT_WORKSPACE_ID, FAKER_SOURCE_ID

ATTEMPT_LOGS = "/api/v1/attempt/get_for_job"
JOB_WITH_LOGS = "/api/v1/jobs/get"


@pytest.fixture(autouse=True)
def _keep_the_test_transaction(monkeypatch):
    monkeypatch.setattr(execution, "close_old_connections", lambda: None)


def _client(fake, **kwargs) -> AirbyteClient:
    kwargs.setdefault("retry", RetryPolicy(attempts=1, base=0.01, cap=0.02))
    return AirbyteClient(
        fake.url,
        client_id=kwargs.pop("client_id", fake.client_id),
        client_secret=kwargs.pop("client_secret", fake.client_secret),
        **kwargs,
    )


def _run_to_the_end(connection, admin, limit: int = 25) -> SyncJob:
    job = connection_services.sync_request(
        connection=connection, trigger="manual", actor=admin
    )
    sync_run(job_id=job.pk)
    for _ in range(limit):
        jobs.job_poll(job_id=job.pk)
        job.refresh_from_db()
        if not job.is_active:
            return job
    raise AssertionError(f"job still {job.status} after {limit} polls")


# -- point 3: logs ---------------------------------------------------------------
def test_structured_logs_keep_every_line_with_its_level_and_source(
    airbyte_fake, make_connection, admin
):
    """1.8 sends events plus ``logLines: []``: reading logLines first lost them all."""
    job = _run_to_the_end(make_connection(), admin)
    assert job.status == SyncJob.Status.SUCCEEDED
    log = job.attempts.get().log
    assert " INFO [source] Read 100 records" in log
    assert " INFO [destination] Sync summary: 100 records committed" in log
    assert "INFO [replication-orchestrator] Sync succeeded" in log
    assert "logLines" in str(airbyte_fake.tolerated)  # the server's oneOf overlap


def test_a_failed_attempt_keeps_its_error_level_and_stack_trace(
    airbyte_fake, make_connection, admin
):
    airbyte_fake.script_next_job(
        ["running", "failed"],
        failure={"failureType": "config_error", "externalMessage": "Bad password"},
    )
    job = _run_to_the_end(make_connection(), admin)
    assert job.status == SyncJob.Status.FAILED
    log = job.attempts.get().log
    assert "ERROR [platform] Failure: Bad password" in log
    assert "io.airbyte.workers.WorkerException: Failure: Bad password" in log
    assert " INFO " in log  # the other lines stay at their own level


def test_each_attempt_log_is_fetched_on_its_own(airbyte_fake, make_connection, admin):
    airbyte_fake.script_next_job(
        ["running", "incomplete", "running", "succeeded"],
        attempt_failures=[{"externalMessage": "Source timed out"}],
    )
    job = _run_to_the_end(make_connection(), admin)
    assert job.status == SyncJob.Status.SUCCEEDED
    asked = airbyte_fake.calls("POST", ATTEMPT_LOGS)
    assert sorted(r.json["attemptNumber"] for r in asked) == [0, 1]
    assert {r.json["jobId"] for r in asked} == {int(job.remote_id)}
    assert not airbyte_fake.calls("POST", JOB_WITH_LOGS)  # every attempt at once
    first, second = job.attempts.order_by("number")
    assert "Failure: Source timed out" in first.log
    assert "Failure: Source timed out" not in second.log
    assert "Sync succeeded" in second.log


def test_a_log_the_server_cannot_give_does_not_keep_the_job_running(
    airbyte_fake, make_connection, admin
):
    """The job ends as the server ended it; its log says the logs are missing."""
    for path in (ATTEMPT_LOGS, JOB_WITH_LOGS):
        airbyte_fake.fail_next("POST", path, 500, times=200)
    job = _run_to_the_end(make_connection(), admin)
    assert job.status == SyncJob.Status.SUCCEEDED
    assert job.records_committed == 100
    attempt = job.attempts.get()
    assert attempt.status == SyncAttempt.Status.SUCCEEDED
    assert "could not fetch this attempt's logs" in attempt.log


def test_a_log_refused_with_a_4xx_does_not_fail_the_job(
    airbyte_fake, make_connection, admin
):
    for path in (ATTEMPT_LOGS, JOB_WITH_LOGS):
        airbyte_fake.fail_next(
            "POST", path, 404, problem={"message": "Log file not found"}, times=10
        )
    job = _run_to_the_end(make_connection(), admin)
    assert job.status == SyncJob.Status.SUCCEEDED
    assert "could not fetch this attempt's logs" in job.attempts.get().log


def test_an_older_server_formatted_log_is_still_read(
    airbyte_fake, make_connection, admin
):
    airbyte_fake.version = "1.1.0"
    job = _run_to_the_end(make_connection(), admin)
    assert "Read 100 records" in job.attempts.get().log


def test_counts_the_server_leaves_out_are_not_read_as_zero(
    airbyte_fake, make_connection, admin
):
    """``totalStats`` is absent while an attempt runs: the row keeps its counts."""
    airbyte_fake.script_next_job(["running"] * 8 + ["succeeded"])
    job = connection_services.sync_request(
        connection=make_connection(), trigger="manual", actor=admin
    )
    sync_run(job_id=job.pk)
    jobs.job_poll(job_id=job.pk)
    attempt = SyncAttempt.objects.get(job=job)
    SyncAttempt.objects.filter(pk=attempt.pk).update(
        records_committed=40, bytes_committed=4000
    )
    jobs.job_poll(job_id=job.pk)  # still running: no totalStats in the answer
    attempt.refresh_from_db()
    assert (attempt.records_committed, attempt.bytes_committed) == (40, 4000)
    running = RemoteAttempt.from_api({"attempt": {"id": 0, "status": "running"}})
    assert running.records_committed is None and running.bytes_committed is None


# -- point 4: the server's reason -----------------------------------------------
def _bad_source(client: AirbyteClient) -> None:
    client.connector_create(
        "source",
        workspace_id=DEFAULT_WORKSPACE_ID,
        definition_id=FAKER_SOURCE_ID,
        name="Bad",
        configuration={"count": "many"},
    )


def test_a_problem_shows_the_reason_in_data_message_not_the_generic_detail(
    airbyte_fake,
):
    with _client(airbyte_fake) as client, pytest.raises(AirbyteApiError) as caught:
        _bad_source(client)
    error = caught.value
    assert error.status == 422 and error.title == "unprocessable-entity"
    assert "$.count" in error.message  # what is wrong, in the server's words
    assert "The body of the request was not understood" not in error.message
    body = airbyte_fake.calls("POST", "/api/public/v1/sources")
    assert len(body) == 1  # permanent, asked once


def test_a_reason_in_data_message_is_cut_short(airbyte_fake):
    airbyte_fake.fail_next(
        "POST",
        "/api/public/v1/sources",
        400,
        problem={"title": "bad-request", "data": {"message": "y" * 1000}},
    )
    with _client(airbyte_fake) as client, pytest.raises(AirbyteApiError) as caught:
        _bad_source(client)
    assert "y" * 200 in caught.value.message
    assert "y" * 301 not in caught.value.message
    assert "malformed syntax" not in caught.value.message


def test_a_micronaut_error_body_says_its_reason(airbyte_fake):
    """A body over the server's max-request-size is refused by Micronaut itself."""
    airbyte_fake.max_request_bytes = 200
    big = {"count": 10, "seed": 1, "note": "x" * 500}
    with _client(airbyte_fake) as client:
        with pytest.raises(AirbyteApiError) as public:
            client.connector_create(
                "source",
                workspace_id=DEFAULT_WORKSPACE_ID,
                definition_id=FAKER_SOURCE_ID,
                name="Big",
                configuration=big,
            )
        with pytest.raises(AirbyteApiError) as config:
            client.connector_check(
                "source",
                definition_id=FAKER_SOURCE_ID,
                workspace_id=DEFAULT_WORKSPACE_ID,
                configuration=big,
            )
    for caught in (public, config):
        assert caught.value.status == 413
        assert "exceeds the maximum allowed content length" in caught.value.message


def test_a_wrong_client_secret_says_so(airbyte_fake):
    """The token endpoint answers a bare 400 with no problem body."""
    client = _client(airbyte_fake, client_secret="not-the-secret")
    with client, pytest.raises(AirbyteAuthError) as caught:
        client.public("GET", "/workspaces")
    assert "wrong client id or secret" in caught.value.message
    assert "not-the-secret" not in caught.value.message
    assert len(airbyte_fake.calls("POST", "/api/public/v1/applications/token")) == 1
    assert not airbyte_fake.calls("POST", "/api/v1/applications/token")


def test_the_engine_test_says_the_client_secret_is_wrong(
    airbyte_fake, workspace, admin
):
    from apps.airbyte import services as server_services

    server = server_services.server_save(
        actor=admin,
        workspace=workspace,
        url=airbyte_fake.url,
        auth="application",
        client_id=airbyte_fake.client_id,
        client_secret="not-the-secret",
    )
    probe = server_services.server_test(actor=admin, server=server)
    assert not probe.ok
    assert "wrong client id or secret" in probe.failed_step.detail
