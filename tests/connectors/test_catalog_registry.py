"""The shipped catalog, the registry merge and `airbyte connectors refresh`."""

from __future__ import annotations

import json
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import apps.connectors.catalog.cli  # noqa: F401  (registers the connectors group)
from apps.audit.models import AuditEvent
from apps.connectors.catalog.registry import (
    SHIPPED_REGISTRY,
    RegistryError,
    load_registry_file,
    parse_registry,
)
from apps.connectors.models import ConnectorDefinition, ConnectorInstall, Source
from tests.engines.fixtures import FAKER_ID, definition

pytestmark = pytest.mark.django_db

AS = ("--as", "staff@acme.test")
NEW_ID = "11111111-2222-4333-8444-555555555555"


def test_shipped_catalog_is_loaded_by_the_migration():
    by_package = {
        d.pypi_package or d.builtin: d for d in ConnectorDefinition.objects.all()
    }

    assert {
        "airbyte-source-faker",
        "airbyte-source-hardcoded-records",
        "airbyte-source-file",
        "airbyte-cdk",
        "postgres",
        "duckdb",
    } <= set(by_package)
    faker = by_package["airbyte-source-faker"]
    assert faker.definition_id == FAKER_ID
    assert faker.pypi_version == "7.2.1"
    assert faker.engines == ["embedded", "airbyte"]
    assert by_package["airbyte-source-file"].definition_id == uuid.UUID(
        "778daa7c-feaf-4db6-96f3-70fd645acc77"
    )
    manifest = by_package["airbyte-cdk"]
    assert manifest.entrypoint == "source-declarative-manifest"
    assert manifest.is_declarative_manifest
    assert by_package["postgres"].kind == "destination"
    assert not by_package["postgres"].is_installable


def test_every_shipped_source_pins_a_package_version():
    entries = parse_registry(load_registry_file(SHIPPED_REGISTRY))

    sources = [e for e in entries if e.kind == "source"]
    assert len(sources) >= 7
    assert all(e.pypi_package and e.pypi_version for e in sources)


def _registry(tmp_path, **changes) -> str:
    data = json.loads(SHIPPED_REGISTRY.read_text())
    faker = next(s for s in data["sources"] if s["sourceDefinitionId"] == str(FAKER_ID))
    faker["name"] = changes.get("faker_name", faker["name"])
    faker["remoteRegistries"]["pypi"]["packageVersion"] = changes.get(
        "faker_version", "7.2.1"
    )
    data["sources"].append(
        {
            "sourceDefinitionId": NEW_ID,
            "name": "Brand New",
            "dockerRepository": "airbyte/source-brand-new",
            "dockerImageTag": "1.2.3",
            "releaseStage": "beta",
            "remoteRegistries": {"pypi": {"packageName": "airbyte-source-brand-new"}},
        }
    )
    if changes.get("drop_hardcoded"):
        data["sources"] = [s for s in data["sources"] if "Hardcoded" not in s["name"]]
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_refresh_updates_by_id_and_adds_new_ones(staff, tmp_path, capsys):
    path = _registry(tmp_path, faker_name="Faker (renamed)", faker_version="7.3.0")

    call_command("airbyte", "connectors", "refresh", *AS, "--from", path, "--json")

    report = json.loads(capsys.readouterr().out)
    assert report["added"] == ["Brand New"]
    assert report["updated"] == ["Faker (renamed)"]
    faker = definition(FAKER_ID)
    assert faker.name == "Faker (renamed)"
    assert faker.pypi_version == "7.3.0"
    new = ConnectorDefinition.objects.get(definition_id=NEW_ID)
    # Airbyte's registry has no PyPI version: the image tag stands in for it.
    assert (new.pypi_package, new.pypi_version) == ("airbyte-source-brand-new", "1.2.3")
    event = AuditEvent.objects.get(action="catalog.refresh")
    assert event.changes == {
        "added": 1,
        "updated": 1,
        # Every other shipped entry and registered built-in destination.
        "unchanged": ConnectorDefinition.objects.count() - 2,
        "from": path,
    }


def test_refresh_keeps_the_pinned_version_of_an_installed_connector(staff, tmp_path):
    faker = definition(FAKER_ID)
    ConnectorInstall.objects.create(
        definition=faker, version="7.2.1", status=ConnectorInstall.Status.SUCCEEDED
    )

    call_command(
        "airbyte",
        "connectors",
        "refresh",
        *AS,
        "--from",
        _registry(tmp_path, faker_version="8.0.0"),
    )

    faker.refresh_from_db()
    assert faker.pypi_version == "7.2.1"
    assert faker.latest_version == "8.0.0"


def test_refresh_twice_changes_nothing_the_second_time(staff, tmp_path, capsys):
    path = _registry(tmp_path)
    call_command("airbyte", "connectors", "refresh", *AS, "--from", path)
    capsys.readouterr()

    call_command("airbyte", "connectors", "refresh", *AS, "--from", path, "--json")

    report = json.loads(capsys.readouterr().out)
    assert report["added"] == report["updated"] == []


def _withdrawn(name: str) -> ConnectorDefinition:
    """A connector an earlier registry listed and the shipped file does not."""
    return ConnectorDefinition.objects.create(
        kind="source",
        definition_id=uuid.uuid4(),
        name=name,
        pypi_package=f"airbyte-source-{name.lower().replace(' ', '-')}",
        pypi_version="1.0.0",
        engines=["embedded"],
    )


def test_prune_never_deletes_a_connector_in_use(staff, workspace, tmp_path, capsys):
    used = _withdrawn("Still Used")
    Source.objects.create(workspace=workspace, name="In use", definition=used)
    gone = _withdrawn("Gone Upstream")
    hardcoded = ConnectorDefinition.objects.get(
        pypi_package="airbyte-source-hardcoded-records"
    )
    path = _registry(tmp_path, drop_hardcoded=True)

    call_command(
        "airbyte", "connectors", "refresh", *AS, "--from", path, "--prune", "--json"
    )

    report = json.loads(capsys.readouterr().out)
    assert report["kept_in_use"] == ["Still Used"]
    assert report["removed"] == ["Gone Upstream"]
    assert ConnectorDefinition.objects.filter(pk=used.pk).exists()
    assert not ConnectorDefinition.objects.filter(pk=gone.pk).exists()
    # The shipped file is the offline fallback: what it lists is never pruned,
    # even when a registry leaves it out.
    assert ConnectorDefinition.objects.filter(pk=hardcoded.pk).exists()
    assert "Hardcoded Records" not in report["removed"]


def test_without_prune_nothing_is_removed(staff, tmp_path, capsys):
    call_command(
        "airbyte",
        "connectors",
        "refresh",
        *AS,
        "--from",
        _registry(tmp_path, drop_hardcoded=True),
    )

    assert ConnectorDefinition.objects.filter(
        pypi_package="airbyte-source-hardcoded-records"
    ).exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not JSON at line 1"),
        (
            '{"sources": [{"name": "x"}]}',
            "sources[0]: `sourceDefinitionId` must be a UUID",
        ),
        (
            json.dumps(
                {
                    "sources": [
                        {
                            "sourceDefinitionId": NEW_ID,
                            "name": "X",
                            "remoteRegistries": {"pypi": {"packageName": "--evil"}},
                        }
                    ]
                }
            ),
            "is not a valid package name",
        ),
    ],
)
def test_a_bad_registry_file_is_refused_with_where(staff, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)

    with pytest.raises(
        CommandError, match=message.replace("[", r"\[").replace("]", r"\]")
    ):
        call_command("airbyte", "connectors", "refresh", *AS, "--from", str(path))

    assert not AuditEvent.objects.filter(action="catalog.refresh").exists()


def test_registry_errors_name_duplicate_ids():
    entry = {"sourceDefinitionId": NEW_ID, "name": "A"}

    with pytest.raises(RegistryError, match="appears twice"):
        parse_registry({"sources": [entry, {**entry, "name": "B"}]})
