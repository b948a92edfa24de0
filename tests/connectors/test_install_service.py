"""Installs through the service, the task and the CLI (offline, with tiny wheels)."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

import apps.connectors.catalog.cli  # noqa: F401  (registers the connectors group)
from apps.audit.models import AuditEvent
from apps.connectors.catalog import selectors as catalog_selectors
from apps.connectors.catalog import services as catalog_services
from apps.connectors.models import ConnectorInstall, ConnectorSpecCache, Source
from apps.connectors.tasks import connector_install_task
from apps.engines.embedded import installer
from tests.engines import fixtures
from tests.engines.fixtures import POSTGRES_ID, definition

# Shared fixtures, bound here so pytest finds them for this module.
offline_connectors = fixtures.offline_connectors
tiny_definition = fixtures.tiny_definition
tiny_wheels = fixtures.tiny_wheels

pytestmark = pytest.mark.django_db
AS = ("--as", "staff@acme.test")


def test_install_request_records_audit_and_enqueues_after_commit(
    staff, workspace, tiny_definition, django_capture_on_commit_callbacks, monkeypatch
):
    sent: list[int] = []
    monkeypatch.setattr(connector_install_task, "delay", sent.append)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        install = catalog_services.connector_install_request(
            actor=staff, definition=tiny_definition
        )

    assert len(callbacks) == 1
    assert sent == [install.pk]
    assert (install.status, install.version) == ("pending", "1.0.0")
    event = AuditEvent.objects.get(action="connector.install")
    assert event.workspace is None  # Console-wide: no workspace owns the catalog.
    assert event.changes["version"] == ["1.0.0", "1.0.0"]


def test_a_second_install_while_one_is_active_is_refused(staff, tiny_definition):
    catalog_services.connector_install_request(
        actor=staff, definition=tiny_definition, enqueue=False
    )

    with pytest.raises(ValidationError, match="already being installed"):
        catalog_services.connector_install_request(
            actor=staff, definition=tiny_definition, enqueue=False
        )


def test_builtin_destinations_cannot_be_installed(staff):
    with pytest.raises(ValidationError, match="built into the console"):
        catalog_services.connector_install_request(
            actor=staff, definition=definition(POSTGRES_ID), enqueue=False
        )


def test_task_installs_records_log_and_caches_spec_and_is_safe_to_rerun(
    staff, tiny_definition, offline_connectors
):
    install = catalog_services.connector_install_request(
        actor=staff, definition=tiny_definition, enqueue=False
    )

    connector_install_task(install.pk)
    connector_install_task(install.pk)  # A redelivery finds nothing to claim.

    install.refresh_from_db()
    assert install.status == "succeeded", install.error
    assert "Successfully installed airbyte-source-tiny-1.0.0" in install.log
    assert install.phase == "Done."
    assert install.started_at and install.finished_at
    assert ConnectorSpecCache.objects.filter(
        definition=tiny_definition, version="1.0.0"
    ).exists()
    state = catalog_selectors.connector_definition_with_state(
        definition=tiny_definition
    )
    assert state.installed_version == "1.0.0"
    assert installer.installed("airbyte-source-tiny", "1.0.0") is not None


def test_change_version_moves_the_pin_only_when_it_succeeds(
    staff, tiny_definition, offline_connectors
):
    good = catalog_services.connector_install_request(
        actor=staff, definition=tiny_definition, version="1.1.0", enqueue=False
    )
    catalog_services.connector_install_run(install_id=good.pk)
    bad = catalog_services.connector_install_request(
        actor=staff, definition=tiny_definition, version="9.9.9", enqueue=False
    )
    catalog_services.connector_install_run(install_id=bad.pk)

    tiny_definition.refresh_from_db()
    bad.refresh_from_db()
    assert tiny_definition.pypi_version == "1.1.0"
    assert bad.status == "failed"
    assert bad.error.startswith("Version 9.9.9 of airbyte-source-tiny does not exist")
    assert AuditEvent.objects.get(action="connector.change_version").changes == {
        "version": ["1.0.0", "1.1.0"]
    }
    state = catalog_selectors.connector_definition_with_state(
        definition=tiny_definition
    )
    assert state.installed_version == "1.1.0"
    assert state.latest_install.status == "failed"


def test_a_version_that_installs_but_does_not_start_marks_the_catalog(
    staff, workspace, tiny_definition, offline_connectors, login
):
    """3.0.0's ``spec`` crashes: the catalog keeps it, with the reason, until a
    version that starts is installed."""
    crash = catalog_services.connector_install_request(
        actor=staff, definition=tiny_definition, version="3.0.0", enqueue=False
    )
    catalog_services.connector_install_run(install_id=crash.pk)

    tiny_definition.refresh_from_db()
    assert tiny_definition.pypi_version == "1.0.0"  # the pin stays
    assert "`source-tiny spec` failed" in tiny_definition.spec_error
    catalog = reverse("connectors:catalog", args=[workspace.public_id])
    page = login(staff).get(catalog, {"q": tiny_definition.name})
    assert "Installs, but does not start on this host" in page.text

    good = catalog_services.connector_install_request(
        actor=staff, definition=tiny_definition, version="1.1.0", enqueue=False
    )
    catalog_services.connector_install_run(install_id=good.pk)
    tiny_definition.refresh_from_db()
    assert tiny_definition.spec_error == ""


def test_uninstall_removes_the_venv_and_is_refused_while_in_use(
    staff, workspace, tiny_definition, offline_connectors
):
    install = catalog_services.connector_install_request(
        actor=staff, definition=tiny_definition, enqueue=False
    )
    catalog_services.connector_install_run(install_id=install.pk)
    source = Source.objects.create(
        workspace=workspace, name="Tiny one", definition=tiny_definition
    )

    with pytest.raises(ValidationError, match="1 source uses Tiny"):
        catalog_services.connector_uninstall_request(
            actor=staff, definition=tiny_definition, enqueue=False
        )
    source.delete()
    removal = catalog_services.connector_uninstall_request(
        actor=staff, definition=tiny_definition, enqueue=False
    )
    catalog_services.connector_install_run(install_id=removal.pk)

    removal.refresh_from_db()
    assert removal.status == "succeeded"
    assert installer.installed("airbyte-source-tiny", "1.0.0") is None
    state = catalog_selectors.connector_definition_with_state(
        definition=tiny_definition
    )
    assert state.installed_version == ""


def test_cli_install_runs_here_and_exits_zero(
    staff, tiny_definition, offline_connectors, capsys
):
    call_command(
        "airbyte", "connectors", "install", "airbyte-source-tiny", *AS, "--json"
    )

    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "succeeded"
    assert data["version"] == "1.0.0"


def test_cli_install_failure_goes_to_stderr_with_a_nonzero_exit(
    staff, tiny_definition, offline_connectors, capsys
):
    with pytest.raises(SystemExit) as exit_info:
        call_command(
            "airbyte",
            "connectors",
            "install",
            "Tiny",
            "--version",
            "4.0.0",
            *AS,
            "--json",
        )

    captured = capsys.readouterr()
    assert exit_info.value.code == 1
    assert captured.out == ""
    assert "needs Python >=3.99" in json.loads(captured.err)["error"]


def test_cli_install_of_an_unknown_connector(staff):
    with pytest.raises(CommandError, match="No connector named 'nope-nothing'"):
        call_command("airbyte", "connectors", "install", "nope-nothing", *AS)


def test_cli_list_shows_installed_state(staff, tiny_definition, capsys):
    ConnectorInstall.objects.create(
        definition=tiny_definition, version="1.0.0", status="succeeded"
    )

    call_command("airbyte", "connectors", "list", "--json")
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    call_command("airbyte", "connectors", "list", "--kind", "destination")
    text = capsys.readouterr().out

    assert rows["Tiny"]["installed"] is True
    assert rows["Tiny"]["package"] == "airbyte-source-tiny"
    assert rows["PostgreSQL"]["installed"] is True
    assert rows["Sample Data (Faker)"]["installed"] is False
    assert text.splitlines()[0].split() == [
        "NAME",
        "KIND",
        "STAGE",
        "RUNS",
        "PACKAGE",
        "VERSION",
        "INSTALLED",
    ]
    assert rows["Tiny"]["runs"] == "PyPI"
    assert "DuckDB" in text and "Faker" not in text
