"""Reliability item 20: a secret stored anywhere never comes back in any page.

Every GET URL of the role matrix is fetched as the workspace admin, as a page and as
an htmx fragment, after secrets were stored in a credential, a source and a
destination, and a job failed with the secret in its connector's output (masked on
the way in). None of the responses, and no audit row, holds the canary.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.connections.models import SyncAttempt, SyncJob
from apps.connectors.models import Destination, Source
from apps.credentials.services import credential_create
from tests.engines.fixtures import FAKER_ID, POSTGRES_ID, definition
from tests.factories import ConnectionFactory
from tests.test_url_matrix import MATRIX
from tests.transforms.conftest import dbt_ready, dbt_settings  # noqa: F401 - fixtures

CANARY = "Canary-Secret-8d41f0"


@pytest.fixture
def secrets_everywhere(admin, workspace, settings):
    from apps.airbyte.models import AirbyteServer

    # An Airbyte server nobody answers at: the engine page probes it quickly.
    settings.AIRBYTE_HTTP_RETRIES = 0
    AirbyteServer.objects.create(
        workspace=workspace,
        url="http://127.0.0.1:9",
        client_id="console",
        client_secret=CANARY,
        password=CANARY,
    )
    credential = credential_create(
        actor=admin,
        workspace=workspace,
        name="Warehouse login",
        type="api_key",
        fields={"api_key": CANARY},
    )
    source = Source.objects.create(
        workspace=workspace,
        name="Faker",
        definition=definition(FAKER_ID),
        config={"count": 10},
        secrets=json.dumps({"/api_key": CANARY}),
    )
    destination = Destination.objects.create(
        workspace=workspace,
        name="PG",
        definition=definition(POSTGRES_ID),
        config={
            "host": "127.0.0.1",
            "port": 5432,
            "database": "x",
            "schema": "s",
            "username": "u",
        },
        secrets=json.dumps({"/password": CANARY}),
    )
    destination.credentials.add(credential)
    connection = ConnectionFactory(
        workspace=workspace, source=source, destination=destination
    )
    job = SyncJob.objects.create(
        public_id=uuid.uuid4(),
        connection=connection,
        trigger="manual",
        status="failed",
        failure_message="Auth failed for key **********",
    )
    SyncAttempt.objects.create(
        job=job,
        number=1,
        status="failed",
        log="2026-01-01 00:00:00 ERROR using api key **********",
    )
    project = _transforms_project(workspace, destination, connection, job)
    from apps.api.services import application_create, token_create

    application, application_secret = application_create(actor=admin, name="Canary")
    token, raw_token = token_create(actor=admin, name="Canary")
    from apps.connectors.builder.services import builder_project_create

    # A connector builder draft whose test config holds the canary as its key.
    builder = builder_project_create(actor=admin, workspace=workspace, name="Built")
    builder.test_config = json.dumps({"base_url": "http://x.test", "api_key": CANARY})
    builder.save()
    return {
        "builder": builder,
        "application": application,
        "token": token,
        "api_secrets": (application_secret, raw_token),
        "credential": credential,
        "source": source,
        "destination": destination,
        "connection": connection,
        "job": job,
        "project": project,
    }


def _transforms_project(workspace, destination, connection, job):
    """A dbt project on the PG destination holding the canary, as a worker left it."""
    from apps.transforms.models import (
        DbtProject,
        ProjectArtifact,
        ProjectFile,
        RunNode,
        TransformRun,
        TransformTrigger,
    )

    project = DbtProject.objects.create(
        workspace=workspace,
        name="Warehouse models",
        kind=DbtProject.Kind.GENERATED,
        destination=destination,
        connection=connection,
        graph={
            "nodes": [
                {
                    "unique_id": "model.w.stg_users",
                    "name": "stg_users",
                    "resource_type": "model",
                    "original_file_path": "models/stg_users.sql",
                    "depends_on": [],
                }
            ]
        },
    )
    ProjectFile.objects.create(
        project=project, path="models/stg_users.sql", content="select 1 as id"
    )
    run = TransformRun.objects.create(
        workspace=workspace,
        project=project,
        number=1,
        command="build",
        trigger="sync",
        sync_job=job,
        status="failed",
        failure_message="connection to server failed: password **********",
        log="12:00:00  Encountered an error: password **********",
    )
    RunNode.objects.create(
        run=run,
        unique_id="model.w.stg_users",
        name="stg_users",
        resource_type="model",
        status="error",
        message="password authentication failed (**********)",
    )
    TransformTrigger.objects.create(
        workspace=workspace, connection=connection, project=project
    )
    ProjectArtifact.objects.create(
        project=project, name="docs.html", content="<html>docs</html>", run=run
    )
    return project


def _kwargs(name: str, workspace, objects) -> dict:
    from tests.test_url_matrix import ALL_URLS

    route = ALL_URLS[name]
    kwargs = {}
    if ":workspace_id>" in route:
        kwargs["workspace_id"] = workspace.public_id
    if ":membership_id>" in route:
        kwargs["membership_id"] = workspace.memberships.first().public_id
    if ":credential_id>" in route:
        kwargs["credential_id"] = objects["credential"].public_id
    if ":definition_id>" in route:
        kwargs["definition_id"] = objects["source"].definition.public_id
    if ":public_id>" in route:
        kind = "source" if name.startswith("connectors:source") else "destination"
        kwargs["public_id"] = objects[kind].public_id
    if ":connection_id>" in route:
        kwargs["connection_id"] = objects["connection"].public_id
    if ":application_id>" in route:
        kwargs["application_id"] = objects["application"].public_id
    if ":token_id>" in route:
        kwargs["token_id"] = objects["token"].public_id
    if ":job_id>" in route:
        kwargs["job_id"] = objects["job"].public_id
    if ":probe_id>" in route:
        from apps.airbyte.models import AirbyteProbe

        # A finished probe of the workspace's server (the one holding the canary).
        kwargs["probe_id"] = AirbyteProbe.objects.create(
            workspace=workspace,
            server=workspace.airbyte_server,
            kind="test",
            status="failed",
        ).public_id
    if name.startswith("connector_builder:") and ":project_id>" in route:
        kwargs["project_id"] = objects["builder"].public_id
    if name.startswith("transforms:"):
        project = objects["project"]
        transforms = {
            "project_id": project.public_id,
            "run_id": project.runs.get().public_id,
            "trigger_id": project.triggers.get().public_id,
            "unique_id": "model.w.stg_users",
            "adapter": "postgres",
        }
        kwargs.update(
            {key: value for key, value in transforms.items() if f":{key}>" in route}
        )
    if "uidb64>" in route:
        # A link of an invitation or reset (its token need not be valid: the page
        # then says the link no longer works, and must still show no secret).
        kwargs.update(uidb64="MQ", token="set-password")
    others = ("endpoint_id", "delivery_id", "schedule_id")
    if any(f":{key}>" in route for key in others):
        from tests.test_url_matrix import _kwargs as matrix_kwargs

        members = {"viewer": None}
        kwargs = {**matrix_kwargs(name, workspace, members), **kwargs}
    return kwargs


def test_no_page_or_fragment_shows_a_stored_secret(
    admin, workspace, login, secrets_everywhere
):
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client = login(admin)
    fetched = 0
    for name, (method, _) in sorted(MATRIX.items()):
        if method != "GET" or name in ("metrics",):
            continue
        url = reverse(name, kwargs=_kwargs(name, workspace, secrets_everywhere))
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(url, headers=headers)
            assert response.status_code < 500, (name, response.status_code)
            assert CANARY not in response.content.decode(), name
            for api_secret in secrets_everywhere["api_secrets"]:
                assert api_secret not in response.content.decode(), name
            fetched += 1
    for extra in ("?download=1",):
        job = secrets_everywhere["job"]
        response = client.get(
            reverse("connections:job_log", args=[workspace.public_id, job.public_id])
            + extra
        )
        assert CANARY not in response.content.decode()
    project = secrets_everywhere["project"]
    for url in (
        reverse(
            "transforms:run", args=[workspace.public_id, project.runs.get().public_id]
        )
        + "?download=1",
        reverse("transforms:file", args=[workspace.public_id, project.public_id])
        + "?path=models/stg_users.sql",
    ):
        assert CANARY not in client.get(url).content.decode(), url
    admin_pages = [reverse("admin:audit_auditevent_changelist")]
    for url in admin_pages:
        assert CANARY not in client.get(url).content.decode()
    assert fetched > 60
    for event in AuditEvent.objects.all():
        assert CANARY not in json.dumps(event.changes)


@pytest.mark.usefixtures("dbt_settings")
def test_a_real_dbt_run_on_the_destination_stores_and_shows_no_secret(
    admin, workspace, login, settings, tmp_path
):
    """dbt gets the destination's password in a profile; nothing keeps or shows it.

    The local PostgreSQL trusts 127.0.0.1, so the canary is accepted as the
    password and dbt really builds (and fails one model) with it in its profile.
    """
    import psycopg

    from apps.transforms.models import (
        DbtProject,
        ProjectArtifact,
        ProjectFile,
        RunNode,
        TransformRun,
    )
    from tests.services_plugin import port_open, skip_or_fail
    from tests.transforms.runs_helpers import dbt_project_yml, make_project, run_now

    if not port_open("postgres://127.0.0.1:5432", 5432):
        skip_or_fail("needs PostgreSQL at 127.0.0.1:5432")
    settings.TRANSFORMS_DIR = tmp_path / "transforms"
    schema = f"canary_{uuid.uuid4().hex[:8]}"
    destination = Destination.objects.create(
        workspace=workspace,
        name="PG with a password",
        definition=definition(POSTGRES_ID),
        config={
            "host": "127.0.0.1",
            "port": 5432,
            "database": "postgres",
            "schema": schema,
            "username": "postgres",
            "ssl_mode": "disable",
        },
        secrets=json.dumps({"/password": CANARY}),
    )
    project = make_project(
        workspace,
        destination,
        {
            "dbt_project.yml": dbt_project_yml("canary"),
            "models/users.sql": "select 1 as id",
            "models/broken.sql": "select * from no_such_table_anywhere",
        },
    )
    try:
        build = run_now(project, admin, command="build")
        docs = run_now(project, admin, command="docs generate")
    finally:
        with psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    assert (
        build.status == "failed" and "no_such_table_anywhere" in build.failure_message
    )
    assert docs.status == "succeeded", docs.failure_message
    stored = [
        *TransformRun.objects.values_list("log", "failure_message", "output"),
        *RunNode.objects.values_list("message", flat=True),
        *ProjectFile.objects.values_list("content", flat=True),
        *ProjectArtifact.objects.values_list("content", flat=True),
        *DbtProject.objects.values_list("graph", flat=True),
    ]
    assert stored and CANARY not in json.dumps(stored, default=str)
    client = login(admin)
    ws = workspace.public_id
    pages = [
        reverse("transforms:detail", args=[ws, project.public_id]),
        reverse("transforms:run", args=[ws, build.public_id]),
        reverse("transforms:run", args=[ws, build.public_id]) + "?download=1",
        reverse("transforms:node", args=[ws, project.public_id, "model.canary.broken"]),
        reverse("transforms:docs_site", args=[ws, project.public_id]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert CANARY not in response.content.decode(), url
    for event in AuditEvent.objects.all():
        assert CANARY not in json.dumps(event.changes)
