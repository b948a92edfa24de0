"""A connection's queue pins its syncs to the worker hosts that consume it (#17).

The end-to-end test needs PostgreSQL (the workers are other processes); the broker is
whatever the suite uses (Redis in CI, else the filesystem). Queue names are unique
per test, so a worker of another test session never takes these messages.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils import timezone

from airbyte_console.celery import app as celery_app
from apps.audit.models import AuditEvent
from apps.connections import execution, services
from apps.connections.models import Connection, SyncJob
from apps.connections.tasks import sync_reaper_task
from apps.ops import processes
from tests.connections.test_worker import wait_for
from tests.factories import DestinationFactory, SourceFactory

USERS = [
    {"name": "users", "sync_mode": "full_refresh", "destination_sync_mode": "append"}
]


def unique_queue() -> str:
    return f"heavy-{uuid.uuid4().hex[:8]}"


def waiting_messages(queue: str) -> int:
    """How many messages the broker holds in ``queue`` (none consumed)."""
    with celery_app.connection_for_write() as conn:
        return conn.default_channel.queue_declare(queue=queue).message_count


def purge(*queues: str) -> None:
    with celery_app.connection_for_write() as conn:
        for queue in queues:
            conn.default_channel.queue_purge(queue)


@pytest.fixture
def queue_worker(worker):
    """``queue_worker(name, queues)`` starts a Celery worker consuming ``queues``.

    Solo: the sync runs in this very process, so the attempt's worker (host:pid)
    names which of the two ran it.
    """
    return lambda name, queues: worker(name, queues=queues, solo=True)


@pytest.mark.django_db(transaction=True)
def test_a_pinned_connection_runs_only_on_a_worker_that_consumes_its_queue(
    admin, queue_worker, faker_source, duckdb_destination, make_connection
):
    queue = unique_queue()
    pinned = make_connection(
        faker_source(count=30), duckdb_destination, USERS, namespace="pinned"
    )
    pinned = services.connection_update(actor=admin, connection=pinned, queue=queue)
    shared = make_connection(
        faker_source(count=30), duckdb_destination, USERS, namespace="shared"
    )
    light = queue_worker("light", "default,syncs")
    # The pinned job is asked for first: a worker that took it from the shared queue
    # would have claimed it before the shared one.
    pinned_job = services.sync_request(connection=pinned, trigger="manual", actor=admin)
    shared_job = services.sync_request(connection=shared, trigger="manual", actor=admin)
    wait_for(
        lambda: SyncJob.objects.get(pk=shared_job.pk).status == "succeeded",
        timeout=180,
        what="the light worker to run the shared connection",
    )
    pinned_job.refresh_from_db()
    assert pinned_job.status == SyncJob.Status.PENDING
    assert pinned_job.attempt_count == 0
    assert shared_job.attempts.get().worker.endswith(f":{light.pid}")

    big = queue_worker("big", f"default,syncs,{queue}")
    wait_for(
        lambda: SyncJob.objects.get(pk=pinned_job.pk).status == "succeeded",
        timeout=180,
        what="the worker that consumes the pinned queue to run it",
    )
    pinned_job.refresh_from_db()
    assert pinned_job.records_committed == 30
    assert pinned_job.attempts.get().worker.endswith(f":{big.pid}")


@pytest.mark.django_db
def test_retries_and_the_reaper_enqueue_on_the_connections_queue(
    admin, workspace, django_capture_on_commit_callbacks
):
    queue = unique_queue()
    source = SourceFactory(workspace=workspace)
    connection = services.connection_create(
        actor=admin,
        workspace=workspace,
        name="Heavy",
        source=source,
        destination=DestinationFactory(workspace=workspace),
        streams=USERS,
        queue=queue,
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            job = services.sync_request(
                connection=connection, trigger="manual", actor=admin
            )
        assert waiting_messages(queue) == 1

        # A message lost in a broker outage: the reaper sends it again, same queue.
        purge(queue)
        SyncJob.objects.filter(pk=job.pk).update(enqueued_at=None)
        sync_reaper_task()
        assert waiting_messages(queue) == 1

        # A failed attempt's short retry wait goes to the same queue too.
        purge(queue)
        SyncJob.objects.filter(pk=job.pk).update(
            status=SyncJob.Status.INCOMPLETE,
            next_attempt_at=timezone.now() + timedelta(seconds=2),
        )
        execution._schedule_retry(SyncJob.objects.get(pk=job.pk))
        assert waiting_messages(queue) == 1
        assert SyncJob.objects.get(pk=job.pk).enqueued_at is not None
    finally:
        purge(queue)


def settings_post(**extra: str) -> dict[str, str]:
    return {
        "name": "Heavy one",
        "namespace": "faker",
        "table_prefix": "",
        "schema_change_policy": "ignore",
        "stream-0-selected": "on",
        "stream-0-mode": "full_refresh:append",
        **extra,
    }


@pytest.fixture
def saved_connection(admin, workspace) -> Connection:
    return services.connection_create(
        actor=admin,
        workspace=workspace,
        name="Heavy one",
        source=SourceFactory(workspace=workspace),
        destination=DestinationFactory(workspace=workspace),
        streams=USERS,
        namespace="faker",
    )


def settings_url(workspace, connection: Connection) -> str:
    return reverse(
        "connections:settings", args=[workspace.public_id, connection.public_id]
    )


def test_editor_pins_a_connection_to_a_queue_in_its_settings(
    editor, workspace, login, saved_connection
):
    client = login(editor)
    page = client.get(settings_url(workspace, saved_connection))
    assert "Advanced: worker queue" in page.text
    assert 'name="queue"' in page.text
    response = client.post(
        settings_url(workspace, saved_connection), settings_post(queue="heavy")
    )
    assert response.status_code == 302
    saved_connection.refresh_from_db()
    assert saved_connection.queue == "heavy"
    event = AuditEvent.objects.filter(action="connection.updated").latest("pk")
    assert event.changes["queue"] == ["", "heavy"]
    # Shown again on the next visit, where it can be cleared back to the shared queue.
    assert 'value="heavy"' in client.get(settings_url(workspace, saved_connection)).text
    client.post(settings_url(workspace, saved_connection), settings_post(queue=""))
    saved_connection.refresh_from_db()
    assert saved_connection.queue == ""


def test_a_bad_queue_name_says_what_is_allowed_and_keeps_what_was_typed(
    editor, workspace, login, saved_connection, htmx_headers
):
    response = login(editor).post(
        settings_url(workspace, saved_connection),
        settings_post(queue="Heavy Jobs!"),
        headers=htmx_headers,
    )
    assert response.status_code == 400
    assert "<html" not in response.text
    assert "lowercase letters, digits, _ and - (at most 60)" in response.text
    assert 'value="Heavy Jobs!"' in response.text
    too_long = login(editor).post(
        settings_url(workspace, saved_connection), settings_post(queue="q" * 61)
    )
    assert too_long.status_code == 400
    assert "(at most 60)" in too_long.text
    saved_connection.refresh_from_db()
    assert saved_connection.queue == ""


def test_viewer_cannot_change_the_queue(viewer, workspace, login, saved_connection):
    response = login(viewer).post(
        settings_url(workspace, saved_connection), settings_post(queue="heavy")
    )
    assert response.status_code == 403
    saved_connection.refresh_from_db()
    assert saved_connection.queue == ""


def test_the_service_refuses_a_bad_queue_from_any_caller(admin, saved_connection):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="lowercase letters"):
        services.connection_update(
            actor=admin, connection=saved_connection, queue="no spaces"
        )


def test_the_managed_worker_consumes_worker_queues(settings):
    settings.WORKER_QUEUES = "default, syncs,heavy,syncs"
    argv = processes.command("worker")
    assert argv[argv.index("--queues") + 1] == "default,syncs,heavy"
    settings.WORKER_QUEUES = "default,bad queue"
    with pytest.raises(ImproperlyConfigured, match="WORKER_QUEUES"):
        processes.command("worker")
