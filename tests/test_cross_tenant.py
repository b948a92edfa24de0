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
