"""Connection and sync services: stream checks, one active job, cancel, reset."""

from __future__ import annotations

import threading
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.db import connection as db_connection

from apps.audit.models import AuditEvent
from apps.connections import services
from apps.connections.models import Connection, ConnectionState, SyncJob
from tests.factories import ConnectionFactory, DestinationFactory, SourceFactory

USERS_DEDUP = {
    "name": "users",
    "sync_mode": "incremental",
    "destination_sync_mode": "append_dedup",
}


@pytest.fixture
def source(workspace):
    return SourceFactory(workspace=workspace, name="Faker")


@pytest.fixture
def destination(workspace):
    return DestinationFactory(workspace=workspace, name="Warehouse")


def create(admin, workspace, source, destination, streams, **extra):
    return services.connection_create(
        actor=admin,
        workspace=workspace,
        name=extra.pop("name", "Faker to warehouse"),
        source=source,
        destination=destination,
        streams=streams,
        **extra,
    )


def test_create_takes_cursor_and_key_from_the_source(
    admin, workspace, source, destination
):
    connection = create(admin, workspace, source, destination, [USERS_DEDUP])
    stream = connection.streams.get()
    assert stream.cursor_field == ["updated_at"]
    assert stream.primary_key == [["id"]]
    assert stream.json_schema["properties"]["id"] == {"type": "integer"}
    event = AuditEvent.objects.get(action="connection.created")
    assert event.changes["source"] == [None, "Faker"]


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        ({"name": "nope"}, "Stream nope: the source does not have it"),
        (
            {
                "name": "products",
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
            },
            "does not support incremental",
        ),
        (
            {
                "name": "products",
                "sync_mode": "full_refresh",
                "destination_sync_mode": "append_dedup",
            },
            "cannot be combined",
        ),
    ],
)
def test_bad_stream_choices_are_refused_naming_the_stream(
    admin, workspace, source, destination, stream, message
):
    with pytest.raises(ValidationError) as caught:
        create(admin, workspace, source, destination, [stream])
    assert any(message in m for m in caught.value.messages)
    assert not Connection.objects.exists()


def test_user_cursor_must_exist_in_schema(admin, workspace, destination):
    catalog = {
        "streams": [
            {
                "name": "events",
                "json_schema": {"properties": {"id": {"type": "integer"}}},
                "supported_sync_modes": ["full_refresh", "incremental"],
            }
        ]
    }
    source = SourceFactory(workspace=workspace, catalog=catalog)
    with pytest.raises(ValidationError, match="cursor field ts is not in"):
        create(
            admin,
            workspace,
            source,
            destination,
            [
                {
                    "name": "events",
                    "sync_mode": "incremental",
                    "destination_sync_mode": "append",
                    "cursor_field": ["ts"],
                }
            ],
        )
    with pytest.raises(ValidationError, match="needs a primary key"):
        create(
            admin,
            workspace,
            source,
            destination,
            [
                {
                    "name": "events",
                    "sync_mode": "incremental",
                    "destination_sync_mode": "append_dedup",
                    "cursor_field": ["id"],
                }
            ],
        )


def test_at_least_one_stream_selected(admin, workspace, source, destination):
    with pytest.raises(ValidationError, match="Select at least one stream"):
        create(
            admin,
            workspace,
            source,
            destination,
            [{"name": "users", "selected": False}],
        )


def test_sources_from_another_workspace_are_refused(admin, workspace, destination):
    foreign = SourceFactory()
    with pytest.raises(ValidationError, match="must be in this workspace"):
        create(admin, workspace, foreign, destination, [{"name": "users"}])


def test_sync_request_queues_after_commit(
    admin, workspace, django_capture_on_commit_callbacks
):
    connection = ConnectionFactory(workspace=workspace)
    with mock.patch("apps.connections.tasks.sync_job_task.apply_async") as send:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            job = services.sync_request(
                connection=connection, trigger="manual", actor=admin
            )
        send.assert_not_called()
        for callback in callbacks:
            callback()
    send.assert_called_once_with(args=[job.pk], queue="syncs", retry=False)
    job.refresh_from_db()
    assert job.status == SyncJob.Status.PENDING
    assert job.enqueued_at is not None
    assert AuditEvent.objects.filter(action="sync.requested").count() == 1


def test_rolled_back_request_publishes_nothing(
    admin, workspace, django_capture_on_commit_callbacks
):
    from django.db import transaction

    connection = ConnectionFactory(workspace=workspace)
    with (
        mock.patch("apps.connections.tasks.sync_job_task.apply_async") as send,
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.sync_request(connection=connection, trigger="manual", actor=admin)
        raise RuntimeError("roll back")
    send.assert_not_called()
    assert not SyncJob.objects.exists()


def test_second_request_finds_the_running_job(admin, workspace):
    connection = ConnectionFactory(workspace=workspace)
    with mock.patch("apps.connections.tasks.sync_job_task.apply_async"):
        first = services.sync_request(
            connection=connection, trigger="manual", actor=admin
        )
        with pytest.raises(services.SyncAlreadyRunning) as caught:
            services.sync_request(connection=connection, trigger="manual", actor=admin)
    assert caught.value.job == first
    assert SyncJob.objects.count() == 1


def test_paused_connection_does_not_sync(admin, workspace):
    connection = ConnectionFactory(workspace=workspace, status="paused")
    with pytest.raises(services.ConnectionNotActive, match="resume it"):
        services.sync_request(connection=connection, trigger="manual", actor=admin)


def test_broker_down_leaves_a_pending_job_and_no_error(
    admin, workspace, django_capture_on_commit_callbacks
):
    connection = ConnectionFactory(workspace=workspace)
    with (
        mock.patch(
            "apps.connections.tasks.sync_job_task.apply_async",
            side_effect=ConnectionRefusedError("broker down"),
        ),
        django_capture_on_commit_callbacks(execute=True),
    ):
        job = services.sync_request(
            connection=connection, trigger="manual", actor=admin
        )
    job.refresh_from_db()
    assert job.status == SyncJob.Status.PENDING
    assert job.enqueued_at is None


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_sync_requests_make_one_job(require_postgres):
    connection = ConnectionFactory()
    barrier = threading.Barrier(10)
    outcomes: list[str] = []

    def press_sync_now() -> None:
        try:
            barrier.wait(timeout=10)
            services.sync_request(connection=connection, trigger="manual", actor=None)
            outcomes.append("queued")
        except services.SyncAlreadyRunning:
            outcomes.append("already running")
        finally:
            db_connection.close()

    with mock.patch("apps.connections.tasks.sync_job_task.apply_async"):
        threads = [threading.Thread(target=press_sync_now) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(outcomes) == ["already running"] * 9 + ["queued"]
    assert SyncJob.objects.filter(connection=connection).count() == 1


def test_cancel_pending_job_ends_it_at_once(admin, workspace):
    connection = ConnectionFactory(workspace=workspace)
    job = SyncJob.objects.create(
        public_id=__import__("uuid").uuid4(), connection=connection, trigger="manual"
    )
    services.sync_cancel(actor=admin, job=job)
    job.refresh_from_db()
    assert job.status == SyncJob.Status.CANCELLED
    assert job.finished_at is not None


def test_cancel_running_job_asks_the_worker(admin, workspace):
    connection = ConnectionFactory(workspace=workspace)
    job = SyncJob.objects.create(
        public_id=__import__("uuid").uuid4(),
        connection=connection,
        trigger="manual",
        status="running",
    )
    services.sync_cancel(actor=admin, job=job)
    job.refresh_from_db()
    assert job.status == SyncJob.Status.CANCELLING
    job.status = "cancelled"
    job.save()
    with pytest.raises(ValidationError, match="already ended"):
        services.sync_cancel(actor=admin, job=job)


def test_reset_forgets_state_of_chosen_streams(admin, workspace, source, destination):
    connection = create(
        admin, workspace, source, destination, [USERS_DEDUP, {"name": "products"}]
    )
    ConnectionState.objects.create(
        connection=connection, kind="stream", stream_name="users", state={"cursor": 5}
    )
    ConnectionState.objects.create(
        connection=connection,
        kind="stream",
        stream_name="products",
        state={"cursor": 7},
    )
    with mock.patch(
        "apps.connections.tasks.connection_clear_tables_task.delay_on_commit"
    ) as clear:
        names = services.connection_reset(
            actor=admin, connection=connection, streams=["users"], drop_tables=True
        )
    assert names == ["users"]
    assert list(ConnectionState.objects.values_list("stream_name", flat=True)) == [
        "products"
    ]
    assert connection.streams.get(name="users").generation_id == 1
    clear.assert_called_once_with(connection.pk, ["users"], True)
