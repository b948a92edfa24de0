"""Public API jobs: start a sync or a reset, list and filter, get, cancel.

Every call goes through ``api_client``, which fails the test when a request or an
answer departs from Airbyte's spec. The last test runs a real sync end to end: a
connection made through the API, a sync started through the API, a real Celery
worker running the Faker connector into DuckDB, polled through the API.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apps.audit.models import AuditEvent
from apps.connections import services as connection_services
from apps.connections.models import Connection, SyncAttempt, SyncJob
from apps.connections.services import connection_create, sync_request
from apps.workspaces.models import Workspace
from tests.factories import DestinationFactory, SourceFactory

URL = "/api/public/v1/jobs"
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def connection(editor, workspace):
    return connection_create(
        actor=editor,
        workspace=workspace,
        name="Faker to warehouse",
        source=SourceFactory(workspace=workspace),
        destination=DestinationFactory(workspace=workspace),
        streams=[{"name": "users"}],
    )


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """The job ids handed to the workers (after the request's transaction)."""
    sent: list[int] = []
    monkeypatch.setattr(
        connection_services, "sync_enqueue", lambda *, job_id: sent.append(job_id)
    )
    return sent


def _start(client, connection, job_type="sync"):
    return client.post(
        URL, json={"connectionId": str(connection.public_id), "jobType": job_type}
    )


def _job(connection, status=SyncJob.Status.SUCCEEDED, **fields) -> SyncJob:
    return SyncJob.objects.create(
        connection=connection, trigger="manual", status=status, **fields
    )


# --- create --------------------------------------------------------------------------


def test_runner_starts_a_sync_and_a_worker_is_asked_after_commit(
    api_client, runner, connection, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _start(api_client(runner), connection)

    assert response.status_code == 200, response.content
    body = response.json()
    job = SyncJob.objects.get()
    assert (job.trigger, job.status, job.requested_by) == ("api", "pending", runner)
    assert enqueued == [job.pk]
    assert body["jobId"] == job.pk
    assert body["status"] == "pending"
    assert body["jobType"] == "sync"
    assert body["connectionId"] == str(connection.public_id)
    assert datetime.fromisoformat(body["startTime"]) == job.created_at.replace(
        microsecond=0
    )
    # Pending: no duration or counts yet, and no end time.
    assert not {"duration", "rowsSynced", "lastUpdatedAt"} & set(body)
    assert AuditEvent.objects.filter(action="sync.requested", actor=runner).exists()


def test_sync_of_a_paused_connection_is_a_409_with_the_reason(
    api_client, runner, editor, connection, enqueued
):
    connection_services.connection_set_status(
        actor=editor,
        connection=connection,
        status=Connection.Status.PAUSED,
        reason="Paused: the warehouse is being migrated.",
    )
    response = _start(api_client(runner), connection)

    assert response.status_code == 409
    problem = response.json()
    assert problem["title"] == "state-conflict"
    assert "paused" in problem["detail"]
    assert "the warehouse is being migrated" in problem["detail"]
    assert problem["data"]["connectionStatus"] == "paused"
    assert not SyncJob.objects.exists()
    assert not AuditEvent.objects.filter(action="sync.requested").exists()
    assert enqueued == []


def test_sync_while_one_runs_is_409_try_again_later(
    api_client, runner, connection, enqueued
):
    running = _job(connection, status=SyncJob.Status.RUNNING)
    response = _start(api_client(runner), connection)

    assert response.status_code == 409
    problem = response.json()
    assert problem["title"] == "try-again-later"
    assert problem["detail"] == f"A sync is already running for: {connection.public_id}"
    assert list(SyncJob.objects.all()) == [running]


def test_refresh_is_not_supported(api_client, runner, connection):
    response = _start(api_client(runner), connection, "refresh")
    assert response.status_code == 422
    assert not SyncJob.objects.exists()


def test_reset_on_the_embedded_engine_has_no_job_to_answer_with(
    api_client, editor, connection
):
    response = _start(api_client(editor), connection, "reset")
    assert response.status_code == 422
    assert "reset the connection from its page" in response.json()["detail"]
    assert not AuditEvent.objects.filter(action="connection.reset").exists()


def test_a_runner_may_not_reset_a_connection(api_client, runner, workspace, connection):
    """A reset empties the destination's tables: an editor's call, not a runner's."""
    Workspace.objects.filter(pk=workspace.pk).update(engine="airbyte")
    for job_type in ("reset", "clear"):
        response = _start(api_client(runner), connection, job_type)
        assert response.status_code == 403
        assert "editor" in response.json()["detail"]
    assert not SyncJob.objects.exists()
    assert not AuditEvent.objects.filter(action="connection.reset").exists()


def test_reset_on_an_engine_with_reset_jobs_answers_the_job(
    api_client,
    editor,
    workspace,
    connection,
    enqueued,
    django_capture_on_commit_callbacks,
):
    Workspace.objects.filter(pk=workspace.pk).update(engine="airbyte")
    with django_capture_on_commit_callbacks(execute=True):
        response = _start(api_client(editor), connection, "clear")

    assert response.status_code == 200, response.content
    job = SyncJob.objects.get()
    assert job.trigger == SyncJob.Trigger.RESET
    assert job.reset_streams == [{"name": "users", "namespace": ""}]
    assert enqueued == [job.pk]
    assert response.json()["jobType"] == "reset"
    assert AuditEvent.objects.filter(action="connection.reset", actor=editor).exists()

    # A reset while a job runs is refused, like a second sync.
    again = _start(api_client(editor), connection, "reset")
    assert again.status_code == 409
    assert again.json()["title"] == "try-again-later"


# --- read ----------------------------------------------------------------------------


def test_get_a_finished_job_with_its_counts_and_duration(
    api_client, viewer, connection
):
    job = _job(
        connection,
        started_at=NOON,
        finished_at=NOON + timedelta(hours=1, minutes=2, seconds=3),
        records_committed=1200,
        bytes_committed=45_000,
    )
    body = api_client(viewer).get(f"{URL}/{job.pk}").json()
    assert body["status"] == "succeeded"
    assert body["duration"] == "PT1H2M3S"
    assert (body["rowsSynced"], body["bytesSynced"]) == (1200, 45_000)
    assert body["lastUpdatedAt"] == "2026-03-02T13:02:03Z"


def test_a_running_job_counts_what_its_attempt_committed_so_far(
    api_client, viewer, connection
):
    job = _job(connection, status=SyncJob.Status.RUNNING, started_at=NOON)
    SyncAttempt.objects.create(job=job, number=1, records_committed=300)
    body = api_client(viewer).get(f"{URL}/{job.pk}").json()
    assert body["status"] == "running"
    assert body["rowsSynced"] == 300
    assert "lastUpdatedAt" not in body


def test_unknown_job_is_a_404(api_client, viewer):
    response = api_client(viewer).get(f"{URL}/987654")
    assert response.status_code == 404
    assert response.json()["title"] == "resource-not-found"


def test_list_filters_and_pages(api_client, viewer, editor, workspace, connection):
    other = connection_create(
        actor=editor,
        workspace=workspace,
        name="Other",
        source=SourceFactory(workspace=workspace),
        destination=DestinationFactory(workspace=workspace),
        streams=[{"name": "users"}],
    )
    made = []
    for day, (conn, status, trigger) in enumerate(
        [
            (connection, "succeeded", "manual"),
            (connection, "failed", "api"),
            (other, "succeeded", "scheduled"),
            (connection, "succeeded", "reset"),
            (connection, "cancelling", "api"),
        ]
    ):
        with time_machine.travel(NOON + timedelta(days=day), tick=False):
            made.append(
                SyncJob.objects.create(connection=conn, trigger=trigger, status=status)
            )
    client = api_client(viewer)

    def ids(valid: bool = True, **query):
        response = client.get(URL, query=query, valid_request=valid)
        assert response.status_code == 200, response.content
        return [item["jobId"] for item in response.json()["data"]]

    pks = [job.pk for job in made]
    # Oldest first by default, as Airbyte.
    assert ids() == pks
    assert ids(orderBy="createdAt|DESC") == pks[::-1]
    assert ids(connectionId=str(other.public_id)) == [pks[2]]
    assert ids(workspaceIds=str(workspace.public_id)) == pks
    assert ids(status="succeeded") == [pks[0], pks[2], pks[3]]
    # A cancelling job is still running for Airbyte's clients.
    assert ids(status="running") == [pks[4]]
    assert ids(jobType="reset") == [pks[3]]
    assert ids(jobType="sync") == [pks[0], pks[1], pks[2], pks[4]]
    assert ids(
        createdAtStart="2026-03-04T00:00:00Z", createdAtEnd="2026-03-05T23:00:00Z"
    ) == [
        pks[2],
        pks[3],
    ]
    # Epoch milliseconds, as in the spec's examples (not a date-time, so the spec
    # check of the request is off).
    millis = int((NOON + timedelta(days=4)).timestamp() * 1000)
    assert ids(False, createdAtStart=str(millis)) == [pks[4]]

    first = client.get(URL, query={"limit": 2, "orderBy": "createdAt|DESC"}).json()
    assert [j["jobId"] for j in first["data"]] == pks[4:2:-1]
    assert "offset=2" in first["next"]
    assert "orderBy=createdAt%7CDESC" in first["next"]
    assert first["previous"] == ""


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ({"orderBy": "name|DESC"}, "orderBy"),
        ({"createdAtStart": "yesterday"}, "createdAtStart"),
    ],
)
def test_bad_list_filters_are_400(api_client, viewer, query, path):
    response = api_client(viewer).get(URL, query=query, valid_request=False)
    assert response.status_code == 400
    assert response.json()["data"]["errors"][0]["path"] == path


def test_list_is_bounded_in_queries(
    api_client, viewer, connection, django_assert_max_num_queries
):
    for _ in range(8):
        _job(connection)
    client = api_client(viewer)
    with django_assert_max_num_queries(8):
        page = client.get(URL, query={"limit": 8}).json()
    assert len(page["data"]) == 8


# --- cancel --------------------------------------------------------------------------


def test_cancel_a_pending_job_ends_it_at_once(api_client, runner, connection, enqueued):
    job = sync_request(connection=connection, trigger="manual", actor=runner)
    response = api_client(runner).delete(f"{URL}/{job.pk}")

    assert response.status_code == 200, response.content
    job.refresh_from_db()
    assert job.status == SyncJob.Status.CANCELLED
    assert response.json()["status"] == "cancelled"
    assert AuditEvent.objects.filter(
        action="sync.cancel_requested", actor=runner
    ).exists()


def test_cancel_a_running_job_reads_as_running_until_the_worker_stops(
    api_client, runner, connection, django_capture_on_commit_callbacks, monkeypatch
):
    from apps.engines.embedded.engine import EmbeddedEngine

    asked: list[int] = []
    monkeypatch.setattr(
        EmbeddedEngine, "request_cancel", lambda self, job_id: asked.append(job_id)
    )
    job = _job(connection, status=SyncJob.Status.RUNNING, started_at=NOON)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client(runner).delete(f"{URL}/{job.pk}")

    assert response.json()["status"] == "running"
    job.refresh_from_db()
    assert job.status == SyncJob.Status.CANCELLING
    assert asked == [job.pk]


def test_cancel_an_ended_job_is_a_409(api_client, runner, connection):
    job = _job(connection)
    response = api_client(runner).delete(f"{URL}/{job.pk}")
    assert response.status_code == 409
    assert response.json()["title"] == "state-conflict"
    assert "not currently running" in response.json()["detail"]


# --- roles ---------------------------------------------------------------------------


def test_roles(api_client, viewer, runner, outsider, connection, enqueued):
    job = _job(connection, status=SyncJob.Status.PENDING)
    path = f"{URL}/{job.pk}"
    watcher = api_client(viewer)
    assert watcher.get(path).status_code == 200
    assert watcher.get(URL).json()["data"][0]["jobId"] == job.pk
    assert watcher.delete(path).status_code == 403
    job.status = SyncJob.Status.SUCCEEDED
    job.save()
    assert _start(watcher, connection).status_code == 403
    assert SyncJob.objects.count() == 1

    stranger = api_client(outsider)
    for response in (
        stranger.get(path),
        stranger.delete(path),
        _start(stranger, connection),
        stranger.get(URL, query={"connectionId": str(connection.public_id)}),
    ):
        assert response.status_code == 404
    assert stranger.get(URL).json()["data"] == []
    assert SyncJob.objects.count() == 1

    assert _start(api_client(runner), connection).status_code == 200


# --- a real sync ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_sync_started_through_the_api_runs_on_a_real_worker(
    api_client,
    editor,
    runner,
    workspace,
    worker,
    real_connectors,
    faker_installed,
    settings,
    tmp_path,
):
    from tests.engines.fixtures import DUCKDB_ID, FAKER_ID, definition

    settings.DUCKDB_DIR = tmp_path
    source = SourceFactory(
        workspace=workspace,
        name="Faker",
        definition=definition(FAKER_ID),
        config={"count": 150, "seed": 1, "records_per_slice": 50, "parallelism": 1},
        catalog=None,
    )
    destination = DestinationFactory(
        workspace=workspace,
        name="Duck",
        definition=definition(DUCKDB_ID),
        config={"destination_path": "warehouse.duckdb"},
    )
    worker()
    # Never discovered: creating the connection discovers it on the worker first.
    created = api_client(editor).post(
        "/api/public/v1/connections",
        json={
            "sourceId": str(source.public_id),
            "destinationId": str(destination.public_id),
            "configurations": {
                "streams": [{"name": "users", "syncMode": "full_refresh_overwrite"}]
            },
            "namespaceDefinition": "custom_format",
            "namespaceFormat": "faker",
        },
    )
    assert created.status_code == 200, created.content
    connection_id = created.json()["connectionId"]

    client = api_client(runner)
    started = client.post(URL, json={"connectionId": connection_id, "jobType": "sync"})
    assert started.status_code == 200, started.content
    job_id = started.json()["jobId"]

    deadline = time.monotonic() + 180
    body = started.json()
    while body["status"] not in {"succeeded", "failed", "cancelled"}:
        assert time.monotonic() < deadline, f"job still {body['status']}"
        time.sleep(0.5)
        body = client.get(f"{URL}/{job_id}").json()
    job = SyncJob.objects.get(pk=job_id)
    assert body["status"] == "succeeded", job.failure_message
    assert body["rowsSynced"] == 150 == job.records_committed
    assert body["duration"].startswith("PT")
    listed = client.get(
        URL, query={"connectionId": connection_id, "orderBy": "createdAt|DESC"}
    ).json()
    assert listed["data"][0]["jobId"] == job_id
