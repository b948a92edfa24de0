"""Deleting a workspace (#18 item 12): typed name, refused while work runs, audited."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.connections.models import Connection, SyncJob
from apps.connectors.models import Destination, Source
from apps.schedules.services import schedule_create
from apps.workspaces.models import Membership, Workspace
from apps.workspaces.signals import workspace_deleting
from tests.factories import ConnectionFactory, WorkspaceFactory


@pytest.fixture
def filled(workspace, settings, tmp_path):
    """The workspace with a connection, a schedule, a DuckDB and a files folder."""
    settings.DUCKDB_DIR = tmp_path / "duckdb"
    settings.FILES_DIR = tmp_path / "files"
    connection = ConnectionFactory(workspace=workspace, name="Faker to DuckDB")
    schedule_create(
        actor=None,
        workspace=workspace,
        connection=connection,
        name="Nightly",
        kind="cron",
        cron_expression="0 3 * * *",
    )
    folder = settings.DUCKDB_DIR / str(workspace.public_id)
    folder.mkdir(parents=True)
    (folder / "warehouse.duckdb").write_bytes(b"x")
    other = settings.DUCKDB_DIR / str(uuid.uuid4())
    other.mkdir()
    (other / "theirs.duckdb").write_bytes(b"y")
    files = settings.FILES_DIR / str(workspace.public_id)
    (files / "public" / "users").mkdir(parents=True)
    (files / "public" / "users" / "part-0.parquet").write_bytes(b"p")
    return {
        "connection": connection,
        "folder": folder,
        "other": other,
        "files": files,
    }


def _url(workspace):
    return reverse("workspace_delete", args=[workspace.public_id])


def test_admin_sees_what_goes_and_the_settings_page_links_it(
    admin, workspace, filled, login
):
    client = login(admin)
    settings_page = client.get(
        reverse("workspaces:settings", args=[workspace.public_id])
    )
    assert _url(workspace) in settings_page.text
    page = client.get(_url(workspace))
    assert "1 connection, with jobs" in page.text
    assert "1 schedule" in page.text
    assert "DuckDB files" in page.text
    assert "files destinations" in page.text
    assert "On the Airbyte server" not in page.text  # embedded engine


def test_admin_deletes_the_workspace_with_its_objects_and_files(
    admin, workspace, filled, login, django_capture_on_commit_callbacks
):
    public_id = workspace.public_id
    with django_capture_on_commit_callbacks(execute=True):
        response = login(admin).post(_url(workspace), {"confirm_name": "Acme Data"})
    assert response.status_code == 302
    assert response["Location"] == reverse("workspaces:home")
    assert not Workspace.objects.filter(public_id=public_id).exists()
    assert not Connection.objects.exists()
    assert not Source.objects.exists() and not Destination.objects.exists()
    assert not Membership.objects.filter(user=admin).exists()
    assert not filled["folder"].exists()
    assert not filled["files"].exists()
    assert (filled["other"] / "theirs.duckdb").exists()  # another workspace's
    event = AuditEvent.objects.get(action="workspace.deleted")
    assert event.workspace is None
    assert event.target_label == "Acme Data"
    assert event.actor == admin
    assert event.changes["removed"]["connections"] == 1
    assert event.changes["removed"]["schedules"] == 1


def test_wrong_name_keeps_everything_and_says_why(
    admin, workspace, filled, login, htmx_headers
):
    response = login(admin).post(
        _url(workspace), {"confirm_name": "Acme"}, headers=htmx_headers
    )
    assert response.status_code == 400
    assert "<html" not in response.text
    assert "exactly" in response.text
    assert Workspace.objects.filter(pk=workspace.pk).exists()
    assert filled["folder"].exists()
    assert not AuditEvent.objects.filter(action="workspace.deleted").exists()


@pytest.mark.parametrize("status", ["pending", "running", "incomplete", "cancelling"])
def test_delete_is_refused_while_a_sync_runs(
    admin, workspace, filled, login, status, django_capture_on_commit_callbacks
):
    SyncJob.objects.create(
        public_id=uuid.uuid4(),
        connection=filled["connection"],
        trigger="manual",
        status=status,
    )
    client = login(admin)
    assert "still running" in client.get(_url(workspace)).text
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url(workspace), {"confirm_name": "Acme Data"})
    assert response.status_code == 400
    assert "1 sync still running" in response.text
    assert Connection.objects.filter(workspace=workspace).exists()
    assert filled["folder"].exists()


def test_airbyte_workspace_asks_about_the_server_and_tells_the_airbyte_app(
    admin, workspace, login
):
    workspace.engine = Workspace.Engine.AIRBYTE
    workspace.save()
    heard = []

    def receiver(sender, workspace, delete_on_server, **kwargs):
        heard.append((workspace.name, delete_on_server))

    workspace_deleting.connect(receiver, dispatch_uid="test.heard")
    try:
        client = login(admin)
        assert "Delete them on the server too" in client.get(_url(workspace)).text
        client.post(
            _url(workspace), {"confirm_name": "Acme Data", "delete_on_server": "1"}
        )
    finally:
        workspace_deleting.disconnect(dispatch_uid="test.heard")
    assert heard == [("Acme Data", True)]
    assert AuditEvent.objects.get(action="workspace.deleted").changes[
        "delete_on_server"
    ]


def test_editor_cannot_delete(editor, workspace, login):
    assert login(editor).get(_url(workspace)).status_code == 403
    response = login(editor).post(_url(workspace), {"confirm_name": "Acme Data"})
    assert response.status_code == 403
    assert Workspace.objects.filter(pk=workspace.pk).exists()


def test_viewer_cannot_delete(viewer, workspace, login):
    response = login(viewer).post(_url(workspace), {"confirm_name": "Acme Data"})
    assert response.status_code == 403
    assert Workspace.objects.filter(pk=workspace.pk).exists()


def test_outsider_gets_404(outsider, workspace, login):
    response = login(outsider).post(_url(workspace), {"confirm_name": "Acme Data"})
    assert response.status_code == 404
    assert Workspace.objects.filter(pk=workspace.pk).exists()


def test_deleting_one_workspace_leaves_the_others(admin, workspace, login):
    other = WorkspaceFactory(name="Other")
    ConnectionFactory(workspace=other)
    login(admin).post(_url(workspace), {"confirm_name": "Acme Data"})
    assert Connection.objects.filter(workspace=other).count() == 1


def test_delete_is_refused_while_a_transform_runs(admin, workspace, filled, login):
    from apps.transforms.models import DbtProject, TransformRun
    from tests.factories import DestinationFactory

    project = DbtProject.objects.create(
        workspace=workspace,
        name="Marts",
        kind=DbtProject.Kind.UPLOAD,
        destination=DestinationFactory(workspace=workspace),
    )
    TransformRun.objects.create(
        workspace=workspace,
        project=project,
        number=1,
        command="build",
        trigger="manual",
        status="running",
    )
    response = login(admin).post(_url(workspace), {"confirm_name": "Acme Data"})
    assert response.status_code == 400
    assert "1 transform run still running" in response.text
    assert DbtProject.objects.filter(pk=project.pk).exists()


def test_connectors_its_builder_published_go_with_the_workspace(
    admin, workspace, login
):
    from apps.connectors.builder.models import BuilderProject
    from apps.connectors.models import ConnectorDefinition, ConnectorManifest

    def published(owner, name):
        definition = ConnectorDefinition.objects.create(
            kind="source",
            definition_id=uuid.uuid4(),
            name=name,
            manifest_only=True,
            release_stage="custom",
            pypi_version="0.1.0",
        )
        ConnectorManifest.objects.create(
            definition=definition,
            version="0.1.0",
            manifest={"streams": []},
            digest="d",
            origin="builder",
        )
        BuilderProject.objects.create(workspace=owner, name=name, definition=definition)
        return definition

    ours = published(workspace, "Our API")
    theirs = published(WorkspaceFactory(name="Other"), "Their API")

    login(admin).post(_url(workspace), {"confirm_name": "Acme Data"})

    assert not ConnectorDefinition.objects.filter(pk=ours.pk).exists()
    assert not ConnectorManifest.objects.filter(definition_id=ours.pk).exists()
    assert ConnectorDefinition.objects.filter(pk=theirs.pk).exists()
    event = AuditEvent.objects.get(action="workspace.deleted")
    assert event.changes["removed"]["custom_connectors"] == 1
