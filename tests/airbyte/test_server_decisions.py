"""What the Airbyte server decided on its own is respected, never overwritten (#12
points 5 and 6).

Deleted on the server is not a 404 there: a source or destination answers 200 with
its configuration emptied, a connection reads back ``deprecated`` (and a PATCH with
``active`` would revive it), an unknown job answers 409. A connection Airbyte
turned off reads back ``inactive`` (and a PATCH with ``active`` would re-enable it).
An imported connection's namespace setting is the server's, not the console's.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.airbyte import jobs
from apps.airbyte.importer import airbyte_import
from apps.airbyte.models import RemoteMark
from apps.connections import execution
from apps.connections import services as connection_services
from apps.connections.execution import sync_run
from apps.connections.models import Connection, SyncJob
from apps.connectors import services as connector_services
from apps.connectors.models import Source
from tests.airbyte_fake import DEFAULT_WORKSPACE_ID, POSTGRES_DESTINATION_ID


@pytest.fixture(autouse=True)
def _keep_the_test_transaction(monkeypatch):
    monkeypatch.setattr(execution, "close_old_connections", lambda: None)


def _sync(connection, admin) -> SyncJob:
    job = connection_services.sync_request(
        connection=connection, trigger="manual", actor=admin
    )
    sync_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def _patches(fake, remote_id):
    return [r for r in fake.calls("PATCH", f"/api/public/v1/connections/{remote_id}")]


def test_a_source_deleted_in_airbyte_is_shown_and_never_written_to(
    airbyte_fake, make_connection, admin, login, django_capture_on_commit_callbacks
):
    connection = make_connection()
    source = connection.source
    old_id = source.remote_id
    airbyte_fake.delete_on_server("source", old_id)
    puts = len(airbyte_fake.calls("PUT", f"/api/public/v1/sources/{old_id}"))

    with django_capture_on_commit_callbacks(execute=True):
        connector_services.connector_update(
            actor=admin, obj=source, name="Renamed faker"
        )
    # The tombstone answers 200; the console noticed and did not write to it.
    assert len(airbyte_fake.calls("PUT", f"/api/public/v1/sources/{old_id}")) == puts
    assert airbyte_fake.sources[old_id].configuration == {}
    mark = RemoteMark.objects.get(kind="source", object_id=source.pk)
    assert mark.state == RemoteMark.State.DELETED

    client = login(admin)
    ws = connection.workspace.public_id
    page = client.get(f"/w/{ws}/sources/{source.public_id}/").content.decode()
    assert "Deleted in Airbyte" in page and "Re-create in Airbyte" in page
    conn_page = client.get(f"/w/{ws}/connections/{connection.public_id}/")
    assert "Deleted in Airbyte" in conn_page.content.decode()

    # A sync says why it cannot run, instead of syncing a dead source.
    job = _sync(connection, admin)
    assert job.status == SyncJob.Status.FAILED
    assert "deleted in Airbyte" in job.failure_message
    assert airbyte_fake.calls("POST", "/api/public/v1/jobs") == []


def test_re_create_makes_new_objects_on_the_server_and_syncs_again(
    airbyte_fake, make_connection, admin, login, django_capture_on_commit_callbacks
):
    connection = make_connection()
    old_source, old_connection = connection.source.remote_id, connection.remote_id
    airbyte_fake.delete_on_server("source", old_source)
    assert _sync(connection, admin).status == SyncJob.Status.FAILED

    ws = connection.workspace.public_id
    with django_capture_on_commit_callbacks(execute=True):
        answer = login(admin).post(
            f"/w/{ws}/engine/recreate/connection/{connection.public_id}/"
        )
    assert answer.status_code == 302
    connection.refresh_from_db()
    source = Source.objects.get(pk=connection.source_id)
    assert source.remote_id and source.remote_id != old_source
    assert connection.remote_id and connection.remote_id != old_connection
    assert airbyte_fake.sources[source.remote_id].configuration["count"] == 100
    # The deleted ones stay deleted.
    assert airbyte_fake.connections[old_connection].status == "deprecated"
    assert not RemoteMark.objects.filter(kind__in=["source", "connection"]).exists()
    assert _sync(connection, admin).status == SyncJob.Status.RUNNING


def test_a_connection_deleted_in_airbyte_is_not_revived_by_a_sync(
    airbyte_fake, make_connection, admin, login
):
    connection = make_connection()
    airbyte_fake.delete_on_server("connection", connection.remote_id)
    patches = len(_patches(airbyte_fake, connection.remote_id))

    job = _sync(connection, admin)
    assert job.status == SyncJob.Status.FAILED
    assert "was deleted in Airbyte" in job.failure_message
    assert airbyte_fake.connections[connection.remote_id].status == "deprecated"
    assert len(_patches(airbyte_fake, connection.remote_id)) == patches
    page = login(admin).get(
        f"/w/{connection.workspace.public_id}/connections/{connection.public_id}/"
    )
    assert "Deleted in Airbyte" in page.content.decode()
    assert "Re-create in Airbyte" in page.content.decode()


def test_a_connection_airbyte_disabled_is_not_re_enabled_and_the_sync_is_refused(
    airbyte_fake, make_connection, admin, login
):
    connection = make_connection()
    airbyte_fake.disable_on_server(connection.remote_id)

    job = _sync(connection, admin)
    assert job.status == SyncJob.Status.FAILED
    assert "The connection is disabled on the Airbyte server" in job.failure_message
    assert airbyte_fake.connections[connection.remote_id].status == "inactive"
    assert all(
        r.json.get("status") != "active"
        for r in _patches(airbyte_fake, connection.remote_id)
    )
    assert airbyte_fake.calls("POST", "/api/public/v1/jobs") == []
    page = (
        login(admin)
        .get(f"/w/{connection.workspace.public_id}/connections/{connection.public_id}/")
        .content.decode()
    )
    assert "Disabled on the Airbyte server" in page
    # The note says it once, then why and what to do.
    assert "</strong>: The connection is disabled" not in page
    assert "Review it in Airbyte and enable it there" in page

    # Enabled again in Airbyte: the next sync runs and the note goes away.
    airbyte_fake.connections[connection.remote_id].status = "active"
    assert _sync(connection, admin).status == SyncJob.Status.RUNNING
    assert not RemoteMark.objects.filter(kind="connection").exists()


def test_a_job_the_server_no_longer_knows_is_failed_after_a_bounded_time(
    airbyte_fake, make_connection, admin, polls
):
    connection = make_connection()
    job = _sync(connection, admin)
    assert job.status == SyncJob.Status.RUNNING
    airbyte_fake.jobs.pop(int(job.remote_id))  # the server answers 409 for it now

    jobs.job_poll(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == SyncJob.Status.RUNNING  # not yet: it may come back
    assert "does not know this job" in job.failure_message
    assert polls.count(job.pk) == 2  # still followed

    RemoteMark.objects.filter(kind="job", object_id=job.pk).update(
        noticed_at=timezone.now() - timedelta(seconds=jobs.UNKNOWN_JOB_SECONDS + 1)
    )
    jobs.job_poll(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == SyncJob.Status.FAILED
    assert f"no longer knows job {job.remote_id}" in job.failure_message
    assert polls.count(job.pk) == 2  # and no longer polled


@pytest.mark.parametrize(
    ("definition", "namespace_format"),
    [
        ("destination", None),
        ("source", None),
        ("custom_format", "${SOURCE_NAMESPACE}_raw_" + "x" * 60),
    ],
)
def test_import_keeps_the_servers_namespace_when_pushed_back(
    airbyte_fake,
    airbyte_workspace,
    admin,
    definition,
    namespace_format,
    django_capture_on_commit_callbacks,
):
    source = airbyte_fake.seed_faker_source(name="Their faker")
    destination = airbyte_fake.seed_actor(
        "destination",
        name="Their warehouse",
        definition_id=POSTGRES_DESTINATION_ID,
        configuration={
            "host": "db",
            "port": 5432,
            "database": "dw",
            "schema": "analytics",
            "username": "loader",
            "password": "only-the-server-knows",
        },
        workspace_id=DEFAULT_WORKSPACE_ID,
    )
    remote = airbyte_fake.seed_connection(source, destination, name="Their pipeline")
    remote.namespace_definition = definition
    remote.namespace_format = namespace_format
    airbyte_import(actor=admin, workspace=airbyte_workspace)
    connection = Connection.objects.get(workspace=airbyte_workspace)

    with django_capture_on_commit_callbacks(execute=True):
        connection_services.connection_update(
            actor=admin, connection=connection, name="Their pipeline (renamed)"
        )
    assert remote.name == "Their pipeline (renamed)"  # the push went through
    assert remote.namespace_definition == definition  # the data stays where it is
    assert remote.namespace_format == namespace_format

    # A schema chosen in the console afterwards is the console's to send.
    with django_capture_on_commit_callbacks(execute=True):
        connection_services.connection_update(
            actor=admin, connection=connection, namespace="reporting"
        )
    assert remote.namespace_definition == "custom_format"
    assert remote.namespace_format == "reporting"
