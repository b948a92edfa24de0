"""Connection pages: build, sync now, cancel, pause, settings, reset, jobs, logs."""

from __future__ import annotations

import uuid
from unittest import mock

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.connections.models import Connection, ConnectionState, SyncAttempt, SyncJob
from tests.factories import ConnectionFactory, DestinationFactory, SourceFactory


@pytest.fixture
def no_enqueue():
    with mock.patch("apps.connections.tasks.sync_job_task.apply_async") as send:
        yield send


def url(name, workspace, *args):
    return reverse(f"connections:{name}", args=[workspace.public_id, *args])


def stream_post(**extra):
    return {
        "stream-0-selected": "on",
        "stream-0-mode": "incremental:append_dedup",
        "stream-0-cursor": "updated_at",
        "stream-0-pk": "id",
        "stream-1-mode": "full_refresh:overwrite",
        **extra,
    }


def test_editor_builds_a_connection(editor, workspace, login, htmx_headers):
    source = SourceFactory(workspace=workspace, name="Faker")
    destination = DestinationFactory(workspace=workspace, name="Duck")
    client = login(editor)
    streams = client.get(
        url("streams", workspace), {"source": source.pk}, headers=htmx_headers
    )
    assert "<html" not in streams.text
    assert "users" in streams.text and "products" in streams.text
    assert "Incremental | Append + Deduped" in streams.text
    response = client.post(
        url("create", workspace),
        {
            "name": "Faker to Duck",
            "source": source.pk,
            "destination": destination.pk,
            "namespace": "faker",
            "table_prefix": "",
            "schema_change_policy": "ignore",
            **stream_post(),
        },
    )
    assert response.status_code == 302
    connection = Connection.objects.get(name="Faker to Duck")
    assert [s.name for s in connection.streams.filter(selected=True)] == ["users"]
    assert connection.streams.get(name="users").destination_sync_mode == "append_dedup"
    assert AuditEvent.objects.filter(action="connection.created").count() == 1


def test_a_bad_stream_choice_is_shown_and_keeps_every_choice(
    editor, workspace, login, htmx_headers
):
    source = SourceFactory(workspace=workspace)
    destination = DestinationFactory(workspace=workspace)
    response = login(editor).post(
        url("create", workspace),
        {
            "name": "Broken",
            "source": source.pk,
            "destination": destination.pk,
            "namespace": "bad name!",
            "schema_change_policy": "ignore",
            **stream_post(
                **{"stream-1-selected": "on", "stream-1-mode": "incremental:append"}
            ),
        },
        headers=htmx_headers,
    )
    assert response.status_code == 400
    assert "<html" not in response.text
    assert "Use letters, digits and underscores" in response.text
    assert 'value="Broken"' in response.text
    # The user's stream choices survive the error.
    checkbox = 'id="stream-1-selected" aria-label="Sync products" checked'
    assert checkbox in response.text
    assert not Connection.objects.filter(name="Broken").exists()


def test_stream_errors_name_the_stream(editor, workspace, login):
    source = SourceFactory(workspace=workspace)
    destination = DestinationFactory(workspace=workspace)
    response = login(editor).post(
        url("create", workspace),
        {
            "name": "Broken",
            "source": source.pk,
            "destination": destination.pk,
            "namespace": "faker",
            "schema_change_policy": "ignore",
            **stream_post(
                **{"stream-1-selected": "on", "stream-1-mode": "incremental:append"}
            ),
        },
    )
    assert response.status_code == 400
    assert "Stream products: the source does not support incremental" in response.text


def test_runner_syncs_now_over_htmx(
    runner,
    workspace,
    login,
    htmx_headers,
    no_enqueue,
    django_capture_on_commit_callbacks,
):
    connection = ConnectionFactory(workspace=workspace)
    with django_capture_on_commit_callbacks(execute=True):
        response = login(runner).post(
            url("sync", workspace, connection.public_id), headers=htmx_headers
        )
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "Cancel sync" in response.text
    assert 'hx-trigger="every 1500ms"' in response.text
    job = SyncJob.objects.get(connection=connection)
    assert job.trigger == "manual" and job.requested_by == runner
    no_enqueue.assert_called_once()
    assert AuditEvent.objects.filter(action="sync.requested").exists()
    again = login(runner).post(
        url("sync", workspace, connection.public_id), headers=htmx_headers
    )
    assert again.status_code == 409
    assert "already running" in again.headers["HX-Trigger"]
    assert SyncJob.objects.count() == 1


def test_viewer_cannot_sync(viewer, workspace, login, no_enqueue):
    connection = ConnectionFactory(workspace=workspace)
    assert (
        login(viewer).post(url("sync", workspace, connection.public_id)).status_code
        == 403
    )
    assert not SyncJob.objects.exists()


def test_runner_cancels_a_running_job(runner, workspace, login, htmx_headers):
    connection = ConnectionFactory(workspace=workspace)
    job = SyncJob.objects.create(
        public_id=uuid.uuid4(),
        connection=connection,
        trigger="manual",
        status="running",
    )
    response = login(runner).post(
        url("cancel", workspace, connection.public_id), headers=htmx_headers
    )
    assert response.status_code == 200
    assert "Cancelling" in response.text
    job.refresh_from_db()
    assert job.status == "cancelling"


def test_progress_fragment_stops_polling_when_the_job_ends(
    viewer, workspace, login, htmx_headers
):
    connection = ConnectionFactory(workspace=workspace)
    job = SyncJob.objects.create(
        public_id=uuid.uuid4(),
        connection=connection,
        trigger="manual",
        status="running",
    )
    SyncAttempt.objects.create(
        job=job,
        number=1,
        records_emitted=1500,
        records_committed=1000,
        progress={
            "users": {
                "records_emitted": 1500,
                "records_committed": 1000,
                "status": "RUNNING",
                "row_estimate": 3000,
            }
        },
    )
    client = login(viewer)
    live = client.get(
        url("detail", workspace, connection.public_id), headers=htmx_headers
    )
    assert "every 1500ms" in live.text
    assert "1,500" in live.text and "50%" in live.text
    SyncJob.objects.filter(pk=job.pk).update(status="succeeded", records_committed=1000)
    done = client.get(
        url("detail", workspace, connection.public_id), headers=htmx_headers
    )
    assert "every 1500ms" not in done.text
    assert "Sync in progress" not in done.text
    assert "Succeeded" in done.text
    # A viewer sees no buttons that would be refused.
    assert "Sync now" not in done.text and "Pause" not in done.text


def test_editor_pauses_and_resumes(editor, workspace, login):
    connection = ConnectionFactory(workspace=workspace)
    client = login(editor)
    client.post(url("toggle", workspace, connection.public_id))
    connection.refresh_from_db()
    assert connection.status == "paused"
    client.post(url("toggle", workspace, connection.public_id))
    connection.refresh_from_db()
    assert connection.status == "active"
    assert AuditEvent.objects.filter(action="connection.paused").exists()
    assert AuditEvent.objects.filter(action="connection.resumed").exists()


def test_reset_needs_the_name_typed(editor, workspace, login):
    connection = ConnectionFactory(workspace=workspace, name="Nightly")
    connection.streams.create(name="users", selected=True)
    ConnectionState.objects.create(
        connection=connection, kind="stream", stream_name="users", state={"x": 1}
    )
    client = login(editor)
    wrong = client.post(
        url("reset", workspace, connection.public_id), {"confirm": "nightly"}
    )
    assert wrong.status_code == 400
    assert "Type “Nightly” exactly" in wrong.text
    assert ConnectionState.objects.exists()
    ok = client.post(
        url("reset", workspace, connection.public_id), {"confirm": "Nightly"}
    )
    assert ok.status_code == 302
    assert not ConnectionState.objects.exists()


def test_job_history_filters_and_paginates_with_bounded_queries(
    viewer, workspace, login, django_assert_max_num_queries, htmx_headers
):
    connection = ConnectionFactory(workspace=workspace)
    SyncJob.objects.bulk_create(
        [
            SyncJob(
                public_id=uuid.uuid4(),
                connection=connection,
                trigger="manual",
                status="failed" if n % 3 == 0 else "succeeded",
                failure_message="Boom" if n % 3 == 0 else "",
            )
            for n in range(60)
        ]
    )
    client = login(viewer)
    with django_assert_max_num_queries(12):
        page = client.get(url("jobs", workspace, connection.public_id))
    assert "Page 1 of 3" in page.text
    failed = client.get(
        url("jobs", workspace, connection.public_id),
        {"status": "failed"},
        headers=htmx_headers,
    )
    assert "<html" not in failed.text
    assert failed.text.count("Boom") == 20


def test_connection_list_query_count_is_bounded(
    viewer, workspace, login, django_assert_max_num_queries
):
    for _ in range(30):
        connection = ConnectionFactory(workspace=workspace)
        SyncJob.objects.create(
            public_id=uuid.uuid4(),
            connection=connection,
            trigger="manual",
            status="succeeded",
            records_committed=7,
        )
    client = login(viewer)
    with django_assert_max_num_queries(10):
        response = client.get(url("list", workspace))
    assert response.text.count("Succeeded") >= 30


def test_log_page_filters_levels_and_downloads(viewer, workspace, login, htmx_headers):
    connection = ConnectionFactory(workspace=workspace)
    job = SyncJob.objects.create(
        public_id=uuid.uuid4(), connection=connection, trigger="manual", status="failed"
    )
    SyncAttempt.objects.create(
        job=job,
        number=1,
        status="failed",
        log="\n".join(
            [
                "2026-01-01 00:00:00 INFO Starting",
                "2026-01-01 00:00:01 WARN Slow page",
                "2026-01-01 00:00:02 ERROR source: Boom",
            ]
        ),
    )
    client = login(viewer)
    errors = client.get(
        reverse("connections:job_log", args=[workspace.public_id, job.public_id]),
        {"level": "ERROR"},
        headers=htmx_headers,
    )
    assert "Boom" in errors.text and "Slow page" not in errors.text
    assert "<html" not in errors.text
    search = client.get(
        reverse("connections:job_log", args=[workspace.public_id, job.public_id]),
        {"q": "slow"},
    )
    assert "Slow page" in search.text and "Starting" not in search.text.split("pre")[1]
    download = client.get(
        reverse("connections:job_log", args=[workspace.public_id, job.public_id]),
        {"download": "1"},
    )
    assert download["Content-Disposition"].startswith("attachment")
    assert b"Starting" in download.content


def test_outsider_cannot_see_a_job(outsider, workspace, login):
    connection = ConnectionFactory(workspace=workspace)
    job = SyncJob.objects.create(
        public_id=uuid.uuid4(), connection=connection, trigger="manual"
    )
    response = login(outsider).get(
        reverse("connections:job", args=[workspace.public_id, job.public_id])
    )
    assert response.status_code == 404


def test_a_destination_that_cannot_deduplicate_is_not_offered_it(
    editor, workspace, login, settings, tmp_path
):
    """A files destination writes files and never rewrites them: the form says so
    before the first sync would."""
    from apps.engines.embedded.destinations import files as files_destination
    from tests.engines.fixtures import definition

    settings.FILES_DIR = tmp_path
    source = SourceFactory(workspace=workspace, name="Faker")
    files = DestinationFactory(
        workspace=workspace,
        name="Exports",
        definition=definition(uuid.UUID(files_destination.DESCRIPTOR.definition_id)),
        config={
            "storage": {"storage_type": "Local", "destination_path": "exports"},
            "format": {"format_type": "JSONL"},
        },
    )
    client = login(editor)
    refused = client.post(
        url("create", workspace),
        {
            "name": "Faker to files",
            "source": source.pk,
            "destination": files.pk,
            "namespace": "faker",
            "table_prefix": "",
            "schema_change_policy": "ignore",
            **stream_post(),
        },
    )
    assert refused.status_code == 400
    assert "Exports does not support the append + deduped mode" in refused.text
    assert not Connection.objects.filter(name="Faker to files").exists()

    saved = client.post(
        url("create", workspace),
        {
            "name": "Faker to files",
            "source": source.pk,
            "destination": files.pk,
            "namespace": "faker",
            "table_prefix": "",
            "schema_change_policy": "ignore",
            **stream_post(**{"stream-0-mode": "incremental:append"}),
        },
    )
    assert saved.status_code == 302
    connection = Connection.objects.get(name="Faker to files")
    page = client.get(url("settings", workspace, connection.public_id))
    assert "Incremental | Append<" in page.text
    assert "Append + Deduped" not in page.text
