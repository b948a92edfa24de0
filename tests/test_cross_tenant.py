"""Workspace B's admin against workspace A, through the web and the CLI (#13).

Anyone signed in may create a workspace and be its admin, so each attack here is
open to every user. Each test plays B's admin, tries one thing against A, and
asserts that A is untouched and that B was refused with a message that says why.
The deeper cases of each item live beside their code: the connector sandbox in
``tests/engines/test_sandbox.py``, DuckDB folders in
``tests/engines/test_duckdb_isolation.py`` and
``tests/connections/test_duckdb_isolation.py``, the catalog in
``tests/connectors/test_catalog_staff.py``, re-targeted secrets in
``tests/connectors/test_secret_retargeting.py`` and
``tests/credentials/test_allowed_hosts.py``, the Engine page in
``tests/airbyte/test_engine_page_ssrf.py``, webhooks in ``tests/webhooks/test_ssrf.py``,
oracles in ``tests/workspaces/test_oracles.py``, dead workers in
``tests/connections/test_dead_worker.py``.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from apps.airbyte.models import AirbyteServer
from apps.connectors.models import ConnectorInstall, Source
from apps.core.roles import Role
from apps.engines import registry
from apps.webhooks.models import WebhookEndpoint
from apps.workspaces.models import Workspace
from tests.engines.fixtures import FAKER_ID, definition
from tests.factories import MembershipFactory, UserFactory

HX = {"HX-Request": "true"}


@pytest.fixture
def b_admin(db):
    """The admin of workspace B, who has no membership in A."""
    user = UserFactory(email="mallory@bravo.test")
    MembershipFactory(
        user=user, workspace=Workspace.objects.create(name="Bravo"), role=Role.ADMIN
    )
    return user


@pytest.fixture
def b_workspace(b_admin):
    return Workspace.objects.get(memberships__user=b_admin)


@pytest.fixture
def a_source(workspace):
    faker = definition(FAKER_ID)
    return Source.objects.create(
        workspace=workspace,
        name="A's faker",
        definition=faker,
        config={"count": 10},
        connector_version=faker.pypi_version,
    )


def test_b_cannot_reach_a_s_pages(workspace, a_source, b_admin, login):
    client = login(b_admin)
    pages = [
        reverse("workspaces:detail", args=[workspace.public_id]),
        reverse("connections:list", args=[workspace.public_id]),
        reverse(
            "connectors:source_detail", args=[workspace.public_id, a_source.public_id]
        ),
        reverse("audit:list", args=[workspace.public_id]),
    ]
    for page in pages:
        assert client.get(page).status_code == 404, page


def test_b_cannot_change_the_connector_versions_a_runs(
    workspace, a_source, b_admin, b_workspace, login
):
    faker = a_source.definition
    pinned = faker.pypi_version
    install = reverse(
        "connectors:catalog_install", args=[b_workspace.public_id, faker.public_id]
    )

    web = login(b_admin).post(install, {"version": "9.9.9"})
    with pytest.raises(CommandError) as cli:
        call_command(
            "airbyte",
            "connectors",
            "install",
            faker.pypi_package,
            "--version",
            "9.9.9",
            "--as",
            b_admin.email,
        )

    assert web.status_code == 403
    assert "Only console staff" in web.text
    assert "not console staff" in str(cli.value)
    faker.refresh_from_db()
    a_source.refresh_from_db()
    assert faker.pypi_version == pinned
    assert a_source.connector_version == pinned
    assert not ConnectorInstall.objects.filter(definition=faker).exists()


def test_b_cannot_open_a_s_duckdb_file(workspace, b_workspace):
    duckdb = registry.destination("duckdb")

    result = duckdb.check(
        {"destination_path": f"../{workspace.public_id}/warehouse.duckdb"},
        workspace_id=str(b_workspace.public_id),
    )

    assert not result.ok
    assert "another workspace" in result.message


def test_b_cannot_aim_the_engine_page_at_the_metadata_service(
    b_admin, b_workspace, login, settings
):
    # Even the way `make run` runs, with private addresses allowed.
    settings.AIRBYTE_ALLOW_PRIVATE = True
    response = login(b_admin).post(
        reverse("engine:server", args=[b_workspace.public_id]),
        {"url": "http://169.254.169.254/", "auth": "none"},
        headers=HX,
    )

    assert response.status_code == 400
    assert "link-local" in response.text or "metadata" in response.text
    assert not AirbyteServer.objects.filter(workspace=b_workspace).exists()


def test_b_cannot_aim_a_webhook_at_the_metadata_service(
    b_admin, b_workspace, login, settings
):
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    response = login(b_admin).post(
        reverse("webhooks:create", args=[b_workspace.public_id]),
        {
            "name": "Exfiltrate",
            "url": "http://[::ffff:169.254.169.254]/latest/meta-data/",
            "events": ["sync.failed"],
            "format": "console",
        },
    )

    assert "not a public address" in response.text
    assert not WebhookEndpoint.objects.filter(workspace=b_workspace).exists()


def test_b_learns_nothing_about_a_s_names_or_people(
    workspace, admin, b_admin, b_workspace, login
):
    client = login(b_admin)

    created = client.post(reverse("workspaces:create"), {"name": workspace.name})
    member_url = reverse("workspaces:member_add", args=[b_workspace.public_id])
    known = client.post(member_url, {"email": admin.email, "role": Role.VIEWER})
    unknown = client.post(
        member_url, {"email": "nobody@nowhere.test", "role": Role.VIEWER}
    )

    assert created.status_code == 302
    assert Workspace.objects.filter(name=workspace.name).count() == 2
    assert (known.status_code, known["Location"]) == (
        unknown.status_code,
        unknown["Location"],
    )
    # A's workspace and its members are as they were.
    assert list(workspace.memberships.values_list("user__email", flat=True)) == [
        admin.email
    ]


@pytest.fixture
def a_project(workspace):
    """A's dbt project with a run, an after-sync trigger and docs."""
    from apps.transforms.models import (
        DbtProject,
        ProjectArtifact,
        TransformRun,
        TransformTrigger,
    )
    from tests.factories import ConnectionFactory

    connection = ConnectionFactory(workspace=workspace, name="A's sync")
    project = DbtProject.objects.create(
        workspace=workspace,
        name="A's models",
        kind=DbtProject.Kind.GENERATED,
        destination=connection.destination,
        connection=connection,
        graph={
            "nodes": [
                {
                    "unique_id": "model.a.revenue",
                    "name": "revenue",
                    "resource_type": "model",
                    "raw_code": "select 'A secret formula'",
                }
            ]
        },
    )
    TransformRun.objects.create(
        workspace=workspace,
        project=project,
        number=1,
        command="build",
        trigger="manual",
        status="running",
        log="A's log",
    )
    TransformTrigger.objects.create(
        workspace=workspace, connection=connection, project=project
    )
    ProjectArtifact.objects.create(
        project=project, name="docs.html", content="<html>A's docs</html>"
    )
    return project


def test_b_cannot_read_or_run_a_s_transforms(
    workspace, a_project, b_admin, b_workspace, login
):
    client = login(b_admin)
    run = a_project.runs.get()
    trigger = a_project.triggers.get()
    a, b = workspace.public_id, b_workspace.public_id
    for ws in (a, b):  # A's URLs, and A's ids under B's workspace
        pages = [
            reverse("transforms:detail", args=[ws, a_project.public_id]),
            reverse("transforms:run", args=[ws, run.public_id]),
            reverse(
                "transforms:node", args=[ws, a_project.public_id, "model.a.revenue"]
            ),
            reverse("transforms:docs_site", args=[ws, a_project.public_id]),
        ]
        for page in pages:
            response = client.get(page)
            assert response.status_code == 404, page
            assert b"A's" not in response.content
        actions = [
            reverse("transforms:run_request", args=[ws, a_project.public_id]),
            reverse("transforms:run_cancel", args=[ws, run.public_id]),
            reverse("transforms:delete", args=[ws, a_project.public_id]),
            reverse("transforms:trigger_delete", args=[ws, trigger.public_id]),
            reverse("transforms:docs_generate", args=[ws, a_project.public_id]),
        ]
        for action in actions:
            assert client.post(action, {"command": "build"}).status_code == 404, action

    run.refresh_from_db()
    assert run.status == "running"
    assert a_project.runs.count() == 1 and a_project.triggers.count() == 1


def test_b_cannot_hook_a_s_connection_or_project_into_its_own_workspace(
    workspace, a_project, b_admin, b_workspace, login
):
    from apps.transforms.models import DbtProject, TransformTrigger
    from tests.factories import ConnectionFactory

    client = login(b_admin)
    b_connection = ConnectionFactory(workspace=b_workspace, name="B's sync")
    b_project = DbtProject.objects.create(
        workspace=b_workspace, name="B's models", kind=DbtProject.Kind.UPLOAD
    )
    add = reverse("transforms:trigger_add", args=[b_workspace.public_id])

    client.post(
        add,
        {"connection": a_project.connection.public_id, "project": b_project.public_id},
    )
    client.post(
        add, {"connection": b_connection.public_id, "project": a_project.public_id}
    )
    generated = client.post(
        reverse("transforms:create", args=[b_workspace.public_id]),
        {"kind": "generated", "connection": a_project.connection.public_id},
    )

    assert not TransformTrigger.objects.filter(workspace=b_workspace).exists()
    assert a_project.triggers.count() == 1
    assert generated.status_code == 400
    assert "Select a valid choice" in generated.text
    assert not DbtProject.objects.filter(
        workspace=b_workspace, kind=DbtProject.Kind.GENERATED
    ).exists()
