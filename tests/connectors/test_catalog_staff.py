"""#13 item 3: the catalog is console staff's; a source pins the version it runs.

Workspace B's admin and editor try to install, upgrade and uninstall a connector
the whole console shares, and are refused with a message while A's sources keep
their version; a staff upgrade moves only the default for new sources; syncs,
checks and discovers run each source's own pinned version; every catalog change
is audited console-wide; counts shown to a user cover only their workspaces.
"""

from __future__ import annotations

import json
import uuid
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

import apps.connectors.catalog.cli  # noqa: F401  (registers the connectors group)
from apps.audit.models import AuditEvent
from apps.connections.execution import build_request
from apps.connections.models import SyncAttempt, SyncJob
from apps.connectors import services as connector_services
from apps.connectors.catalog import services as catalog_services
from apps.connectors.models import (
    ConnectorDefinition,
    ConnectorInstall,
    ConnectorSpecCache,
    Source,
)
from apps.connectors.tasks import connector_install_task
from apps.core.roles import Role
from apps.engines.base import CheckResult, DiscoveredCatalog
from tests.engines import fakes, fixtures
from tests.engines.fixtures import FAKER_ID, definition
from tests.factories import (
    ConnectionFactory,
    MembershipFactory,
    SourceFactory,
    UserFactory,
    WorkspaceFactory,
)

offline_connectors = fixtures.offline_connectors
tiny_definition = fixtures.tiny_definition
tiny_wheels = fixtures.tiny_wheels

pytestmark = pytest.mark.django_db

STAFF_ONLY = "Only console staff can install, upgrade, uninstall or refresh"


# -- fixtures ------------------------------------------------------------------------


@pytest.fixture
def other(db):
    """Workspace B with its own admin and editor (neither is console staff)."""
    workspace_b = WorkspaceFactory(name="Bravo")
    b_admin = UserFactory(email="admin@bravo.test")
    b_editor = UserFactory(email="editor@bravo.test")
    MembershipFactory(user=b_admin, workspace=workspace_b, role=Role.ADMIN)
    MembershipFactory(user=b_editor, workspace=workspace_b, role=Role.EDITOR)
    return workspace_b, b_admin, b_editor


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    queued: list[int] = []
    monkeypatch.setattr(connector_install_task, "delay", queued.append)
    return queued


@pytest.fixture
def no_tasks():
    with (
        mock.patch("apps.connectors.tasks.connector_check_task.delay_on_commit"),
        mock.patch("apps.connectors.tasks.source_discover_task.delay_on_commit"),
    ):
        yield


@pytest.fixture
def tiny(db) -> ConnectorDefinition:
    """A connector with 1.0.0 and 1.1.0 installed (as the install rows say) and
    their specs cached, so forms build without running anything."""
    tiny = ConnectorDefinition.objects.create(
        kind=ConnectorDefinition.Kind.SOURCE,
        definition_id=uuid.uuid4(),
        name="Tiny",
        pypi_package=fakes.PACKAGE,
        pypi_version="1.1.0",
        engines=["embedded"],
    )
    spec = {
        "connectionSpecification": {
            "type": "object",
            "properties": {"mode": {"type": "string"}},
        }
    }
    for version in ("1.0.0", "1.1.0"):
        ConnectorInstall.objects.create(
            definition=tiny, version=version, status="succeeded"
        )
        ConnectorSpecCache.objects.create(definition=tiny, version=version, spec=spec)
    return tiny


def catalog_url(name: str, workspace, definition=None) -> str:
    args = [workspace.public_id] + ([definition.public_id] if definition else [])
    return reverse(f"connectors:{name}", args=args)


def _faker_sources(workspace, count: int, version: str) -> list[Source]:
    faker = definition(FAKER_ID)
    return [
        SourceFactory(
            workspace=workspace,
            definition=faker,
            connector_version=version,
            name=f"Faker {workspace.name} {n}",
        )
        for n in range(count)
    ]


# -- staff only ----------------------------------------------------------------------


def test_admin_and_editor_of_b_cannot_install_upgrade_or_uninstall(
    workspace, other, login, sent
):
    workspace_b, b_admin, b_editor = other
    faker = definition(FAKER_ID)
    pinned = faker.pypi_version
    (a_source,) = _faker_sources(workspace, 1, pinned)
    ConnectorInstall.objects.create(
        definition=faker, version=pinned, status="succeeded"
    )
    installs_before = ConnectorInstall.objects.count()

    for user in (b_admin, b_editor):
        client = login(user)
        install = client.post(catalog_url("catalog_install", workspace_b, faker))
        upgrade = client.post(
            catalog_url("catalog_install", workspace_b, faker), {"version": "9.9.9"}
        )
        uninstall = client.post(catalog_url("catalog_uninstall", workspace_b, faker))
        for response in (install, upgrade, uninstall):
            assert response.status_code == 403
            assert STAFF_ONLY in response.text

    faker.refresh_from_db()
    a_source.refresh_from_db()
    assert faker.pypi_version == pinned
    assert a_source.connector_version == pinned
    assert a_source.connector_ref.version == pinned
    assert ConnectorInstall.objects.count() == installs_before
    assert sent == []
    assert not AuditEvent.objects.filter(action__startswith="connector.").exists()


def test_workspace_admin_sees_installed_versions_but_no_buttons(
    admin, workspace, tiny, login
):
    response = login(admin).get(catalog_url("catalog", workspace), {"q": "Tiny"})

    assert response.status_code == 200
    assert "Installed versions: 1.0.0, 1.1.0" in response.text
    assert ">Install<" not in response.text
    assert ">Uninstall<" not in response.text
    assert "Change version" not in response.text


def test_the_services_refuse_anyone_but_staff(admin, tiny):
    with pytest.raises(PermissionDenied, match=STAFF_ONLY):
        catalog_services.connector_install_request(
            actor=admin, definition=tiny, version="1.0.0", enqueue=False
        )
    with pytest.raises(PermissionDenied, match=STAFF_ONLY):
        catalog_services.connector_uninstall_request(
            actor=admin, definition=tiny, enqueue=False
        )
    with pytest.raises(PermissionDenied, match=STAFF_ONLY):
        catalog_services.catalog_refresh(actor=admin, registry={"sources": []})
    assert not ConnectorInstall.objects.filter(status="pending").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("install", "Tiny"),
        ("install", "Tiny", "--version", "1.0.0"),
        ("uninstall", "Tiny"),
        ("refresh", "--from", "/nonexistent.json"),
    ],
)
def test_cli_refuses_a_non_staff_user(admin, tiny, args):
    with pytest.raises(CommandError, match=r"admin@acme\.test is not console staff"):
        call_command("airbyte", "connectors", *args, "--as", "admin@acme.test")
    tiny.refresh_from_db()
    assert tiny.pypi_version == "1.1.0"
    assert not ConnectorInstall.objects.filter(status="pending").exists()


# -- audited console-wide ------------------------------------------------------------


def test_staff_install_is_audited_console_wide_and_shown_in_the_admin(
    staff, workspace, login, sent
):
    faker = definition(FAKER_ID)

    login(staff).post(catalog_url("catalog_install", workspace, faker))

    event = AuditEvent.objects.get(action="connector.install")
    assert event.workspace is None
    assert event.workspace_label == ""
    assert event.actor == staff
    superuser = UserFactory(email="root@console.test", is_staff=True, is_superuser=True)
    changelist = login(superuser).get(
        reverse("admin:audit_auditevent_changelist"), {"action": "connector.install"}
    )
    assert changelist.status_code == 200
    assert "connector.install" in changelist.text
    assert "staff@acme.test" in changelist.text


def test_refresh_and_uninstall_are_audited_without_a_workspace(staff, tiny, sent):
    catalog_services.catalog_refresh(actor=staff, registry={"sources": []})
    ConnectorInstall.objects.create(
        definition=tiny, version="1.1.0", status="succeeded"
    )
    catalog_services.connector_uninstall_request(actor=staff, definition=tiny)

    for action in ("catalog.refresh", "connector.uninstall"):
        assert AuditEvent.objects.get(action=action).workspace is None


# -- a source pins its version -------------------------------------------------------


def test_a_new_source_is_pinned_to_the_catalogs_version(editor, workspace, tiny):
    source = connector_services.connector_create(
        actor=editor,
        workspace=workspace,
        kind="source",
        name="Tiny one",
        definition=tiny,
        config={},
    )

    assert source.connector_version == "1.1.0"


def test_staff_upgrade_leaves_existing_sources_on_their_version(
    staff, workspace, other, tiny_definition, offline_connectors
):
    workspace_b, *_ = other
    tiny = tiny_definition
    first = catalog_services.connector_install_request(
        actor=staff, definition=tiny, enqueue=False
    )
    catalog_services.connector_install_run(install_id=first.pk)
    pinned = connector_services.connector_create(
        actor=staff,
        workspace=workspace,
        kind="source",
        name="Pinned",
        definition=tiny,
        config={"api_key": "k"},
    )
    # A row made outside the services follows the catalog until an upgrade.
    legacy = SourceFactory(workspace=workspace_b, definition=tiny)

    upgrade = catalog_services.connector_install_request(
        actor=staff, definition=tiny, version="1.1.0", enqueue=False
    )
    catalog_services.connector_install_run(install_id=upgrade.pk)

    tiny.refresh_from_db()
    pinned.refresh_from_db()
    legacy.refresh_from_db()
    assert tiny.pypi_version == "1.1.0"
    assert pinned.connector_ref.version == "1.0.0"
    assert legacy.connector_ref.version == "1.0.0"
    event = AuditEvent.objects.get(action="connector.change_version")
    assert event.workspace is None
    assert event.changes["version"] == ["1.0.0", "1.1.0"]
    newer = connector_services.connector_create(
        actor=staff,
        workspace=workspace,
        kind="source",
        name="Newer",
        definition=tiny,
        config={"api_key": "k"},
    )
    assert newer.connector_ref.version == "1.1.0"


def test_staff_upgrade_on_the_page_says_which_sources_stay(
    staff, workspace, login, htmx_headers, sent
):
    faker = definition(FAKER_ID)
    old = faker.pypi_version
    _faker_sources(workspace, 2, old)

    response = login(staff).post(
        catalog_url("catalog_install", workspace, faker),
        {"version": "9.0.0"},
        headers=htmx_headers,
    )

    toast = json.loads(response.headers["HX-Trigger"])["toast"][0]["message"]
    assert f"2 sources stay on {old}; their admins can move them" in toast
    faker.refresh_from_db()
    assert faker.pypi_version == old  # Moves only once the install succeeds.


def test_sync_request_carries_the_sources_pinned_version(workspace, tiny):
    connection = ConnectionFactory(
        workspace=workspace,
        source=SourceFactory(
            workspace=workspace, definition=tiny, connector_version="1.0.0"
        ),
    )
    job = SyncJob.objects.create(
        public_id=uuid.uuid4(), connection=connection, trigger="manual"
    )
    attempt = SyncAttempt.objects.create(job=job, number=1)

    request = build_request(attempt)

    assert request.source_definition.package == fakes.PACKAGE
    assert request.source_definition.version == "1.0.0"
    assert tiny.pypi_version == "1.1.0"


class _RecordingEngine:
    """Stands in for the engine: records the connector refs it was asked to run."""

    def __init__(self) -> None:
        self.refs: list = []

    def __call__(self, workspace=None) -> _RecordingEngine:
        return self

    def check(self, ref, config, *, actor=None) -> CheckResult:
        self.refs.append(("check", ref))
        return CheckResult(ok=True, message="fine")

    def discover(self, ref, config, *, actor=None) -> DiscoveredCatalog:
        self.refs.append(("discover", ref))
        return DiscoveredCatalog(streams=())


def test_check_and_discover_run_the_sources_pinned_version(
    workspace, tiny, monkeypatch
):
    engine = _RecordingEngine()
    monkeypatch.setattr(connector_services, "get_engine", engine)
    source = SourceFactory(
        workspace=workspace, definition=tiny, connector_version="1.0.0"
    )

    connector_services.connector_check_run(kind="source", pk=source.pk)
    connector_services.source_discover_run(pk=source.pk)

    assert [(verb, ref.version) for verb, ref in engine.refs] == [
        ("check", "1.0.0"),
        ("discover", "1.0.0"),
    ]


def test_editor_moves_a_source_among_installed_versions(
    editor, workspace, tiny, login, no_tasks
):
    source = SourceFactory(
        workspace=workspace, definition=tiny, connector_version="1.1.0", config={}
    )
    url = reverse(
        "connectors:source_edit", args=[workspace.public_id, source.public_id]
    )
    client = login(editor)

    form = client.get(url)
    moved = client.post(url, {"name": source.name, "connector_version": "1.0.0"})

    assert 'name="connector_version"' in form.text
    assert '<option value="1.0.0">1.0.0</option>' in form.text
    assert "1.1.0 (default for new sources)" in form.text
    assert "Only versions installed on this console are listed" in form.text
    assert moved.status_code == 302
    source.refresh_from_db()
    assert source.connector_ref.version == "1.0.0"
    event = AuditEvent.objects.get(action="source.updated")
    assert event.workspace == workspace
    assert event.changes["connector_version"] == ["1.1.0", "1.0.0"]


def test_a_version_that_is_not_installed_is_refused(
    editor, workspace, tiny, login, no_tasks
):
    source = SourceFactory(
        workspace=workspace, definition=tiny, connector_version="1.1.0", config={}
    )
    url = reverse(
        "connectors:source_edit", args=[workspace.public_id, source.public_id]
    )

    response = login(editor).post(
        url, {"name": source.name, "connector_version": "0.9.0"}
    )

    assert response.status_code == 400
    assert "Select a valid choice" in response.text
    with pytest.raises(
        ValidationError, match=r"0\.9\.0 is not installed on this console"
    ):
        connector_services.connector_update(
            actor=editor, obj=source, connector_version="0.9.0"
        )
    source.refresh_from_db()
    assert source.connector_version == "1.1.0"


# -- counts cover only the caller's workspaces ---------------------------------------


def test_catalog_counts_only_the_users_own_sources(
    admin, staff, workspace, other, login
):
    workspace_b, b_admin, _ = other
    faker = definition(FAKER_ID)
    _faker_sources(workspace, 2, faker.pypi_version)
    _faker_sources(workspace_b, 3, "7.0.0")

    def usage(user) -> str:
        page = login(user).get(catalog_url("catalog", workspace), {"q": "faker"})
        return page.text.split('data-testid="source-usage">')[1].split("</td>")[0]

    a_view, staff_view = usage(admin), usage(staff)
    b_view = login(b_admin).get(catalog_url("catalog", workspace_b), {"q": "faker"})
    b_usage = b_view.text.split('data-testid="source-usage">')[1].split("</td>")[0]

    assert "2 sources" in a_view and "7.0.0" not in a_view
    assert "3 sources" in b_usage and faker.pypi_version not in b_usage
    assert "5 sources" in staff_view
    assert "3 on 7.0.0" in staff_view


def test_uninstall_counts_only_the_callers_sources(admin, staff, workspace, other):
    workspace_b, *_ = other
    faker = definition(FAKER_ID)
    _faker_sources(workspace, 2, faker.pypi_version)
    _faker_sources(workspace_b, 3, faker.pypi_version)

    said_to_a = catalog_services.sources_in_use_message(definition=faker, actor=admin)
    said_to_staff = catalog_services.sources_in_use_message(
        definition=faker, actor=staff
    )
    only_b = definition(FAKER_ID)
    Source.objects.filter(workspace=workspace).delete()
    said_to_a_now = catalog_services.sources_in_use_message(
        definition=only_b, actor=admin
    )

    assert said_to_a.startswith("2 sources in your workspaces use")
    assert said_to_staff.startswith("5 sources use")
    assert "3" not in said_to_a_now
    assert "used by sources in other workspaces" in said_to_a_now


def test_cli_uninstall_refuses_while_sources_use_it(staff, workspace, other, capsys):
    workspace_b, *_ = other
    faker = definition(FAKER_ID)
    ConnectorInstall.objects.create(
        definition=faker, version=faker.pypi_version, status="succeeded"
    )
    _faker_sources(workspace, 1, faker.pypi_version)
    _faker_sources(workspace_b, 2, faker.pypi_version)

    with pytest.raises(CommandError, match="3 sources use Sample Data"):
        call_command(
            "airbyte", "connectors", "uninstall", "airbyte-source-faker",
            "--as", "staff@acme.test",
        )  # fmt: skip
    assert not ConnectorInstall.objects.filter(operation="uninstall").exists()


def test_cli_list_counts_only_the_as_users_sources(admin, workspace, other, capsys):
    workspace_b, *_ = other
    faker = definition(FAKER_ID)
    _faker_sources(workspace, 1, faker.pypi_version)
    _faker_sources(workspace_b, 4, faker.pypi_version)

    call_command(
        "airbyte", "connectors", "list", "--search", "faker",
        "--as", "admin@acme.test", "--json",
    )  # fmt: skip
    (row,) = json.loads(capsys.readouterr().out)

    assert row["sources"] == 1


def test_cli_upgrade_by_staff_says_which_sources_stay(
    staff, workspace, tiny_definition, offline_connectors, capsys
):
    SourceFactory(
        workspace=workspace, definition=tiny_definition, connector_version="1.0.0"
    )

    call_command(
        "airbyte", "connectors", "install", "Tiny", "--version", "1.1.0",
        "--as", "staff@acme.test", "--quiet",
    )  # fmt: skip

    out = capsys.readouterr().out
    assert "Installed airbyte-source-tiny 1.1.0." in out
    assert "1 source stays on 1.0.0; their admins can move it to 1.1.0" in out
    assert Source.objects.get().connector_ref.version == "1.0.0"


def test_cli_uninstall_by_staff_removes_an_unused_connector(
    staff, tiny_definition, offline_connectors, capsys
):
    install = catalog_services.connector_install_request(
        actor=staff, definition=tiny_definition, enqueue=False
    )
    catalog_services.connector_install_run(install_id=install.pk)

    call_command(
        "airbyte", "connectors", "uninstall", "Tiny", "--as", "staff@acme.test"
    )

    assert "Uninstalled airbyte-source-tiny." in capsys.readouterr().out
    removal = ConnectorInstall.objects.get(operation="uninstall")
    assert removal.status == "succeeded"
    assert AuditEvent.objects.get(action="connector.uninstall").workspace is None


def test_cli_names_a_connector_without_a_package_by_its_name(staff, settings):
    """A Docker-only (or manifest-only) connector has no package to print."""
    from tests.factories import DefinitionFactory

    settings.CONNECTOR_DOCKER = "off"
    DefinitionFactory(
        name="Only Image",
        kind="source",
        docker_repository="airbyte/source-only-image",
        pypi_version="1.0.0",
        engines=["embedded", "airbyte"],
    )

    with pytest.raises(CommandError) as failed:
        call_command(
            "airbyte", "connectors", "install", "Only Image",
            "--as", "staff@acme.test", "--quiet",
        )  # fmt: skip

    assert str(failed.value).startswith("Installing Only Image 1.0.0 failed: ")
    assert "CONNECTOR_DOCKER=off" in str(failed.value)
