"""`airbyte connectors refresh --prune` never deletes what the console itself made.

A connector published from the connector builder has a definition id no registry
knows and no install row, so to a prune it looked unused: it was deleted with
every published version, its project lost its connector and the next publish
started over at 0.1.0 under a new id.
"""

from __future__ import annotations

import json

import pytest
import yaml
from django.core.management import call_command

import apps.connectors.catalog.cli  # noqa: F401  (registers the connectors group)
from apps.connectors.builder import services
from apps.connectors.builder.models import BuilderProject
from apps.connectors.catalog.registry import SHIPPED_REGISTRY
from apps.connectors.models import ConnectorDefinition, ConnectorManifest

pytestmark = pytest.mark.django_db

AS = ("--as", "staff@acme.test")


def _registry_without_one(tmp_path) -> str:
    """The shipped registry less one unused connector, which a prune removes.

    The shipped file's own entries are never pruned (it is the offline
    fallback), so the one that goes is one an earlier registry added.
    """
    ConnectorDefinition.objects.get_or_create(
        definition_id="0b1c2d3e-4f50-4617-8283-000000000001",
        defaults={
            "kind": "source",
            "name": "Withdrawn API",
            "pypi_package": "airbyte-source-withdrawn-api",
            "pypi_version": "0.1.0",
            "engines": ["embedded"],
        },
    )
    data = json.loads(SHIPPED_REGISTRY.read_text())
    path = tmp_path / "registry.json"
    path.write_text(json.dumps(data))
    return str(path)


def _prune(tmp_path, capsys) -> dict:
    capsys.readouterr()
    call_command(
        "airbyte",
        "connectors",
        "refresh",
        *AS,
        "--from",
        _registry_without_one(tmp_path),
        "--prune",
        "--json",
    )
    return json.loads(capsys.readouterr().out)


def _publish(project: BuilderProject, actor, **spec_changes):
    manifest = yaml.safe_load(project.manifest_text)
    manifest["spec"].update(spec_changes)
    return services.connector_publish(actor=actor, project=project, manifest=manifest)


def test_prune_keeps_a_builder_published_connector_and_its_versions(
    staff, editor, workspace, tmp_path, capsys
):
    project = services.builder_project_create(
        actor=editor, workspace=workspace, name="Items API"
    )
    first = _publish(project, editor)
    built = first.definition

    report = _prune(tmp_path, capsys)

    # The prune itself still works: the unused registry connector went.
    assert report["removed"] == ["Withdrawn API"]
    assert built.name in report["kept_in_use"]
    assert ConnectorDefinition.objects.filter(pk=built.pk).exists()
    assert list(
        ConnectorManifest.objects.filter(definition=built).values_list(
            "version", "origin"
        )
    ) == [("0.1.0", "builder")]
    project.refresh_from_db()
    assert project.definition_id == built.pk

    # The next publish continues the same connector: same id, next version.
    second = _publish(project, editor, documentation_url="https://example.com/v2")

    assert second.definition.pk == built.pk
    assert second.definition.definition_id == built.definition_id
    assert second.manifest.version == "0.1.1"


def test_prune_keeps_a_builder_connector_whose_project_is_gone(
    staff, editor, workspace, tmp_path, capsys
):
    project = services.builder_project_create(
        actor=editor, workspace=workspace, name="Orphan API"
    )
    built = _publish(project, editor).definition
    # Its published versions are the record of what ran: they outlive the draft.
    BuilderProject.objects.filter(pk=project.pk).delete()

    report = _prune(tmp_path, capsys)

    assert built.name in report["kept_in_use"]
    assert built.name not in report["removed"]
    assert ConnectorManifest.objects.filter(definition=built).count() == 1


def test_prune_keeps_a_custom_connector_with_no_version_yet(staff, tmp_path, capsys):
    custom = ConnectorDefinition.objects.create(
        kind="source",
        definition_id="0b1c2d3e-4f50-4617-8283-94a5b6c7d8e9",
        name="Our Own API",
        manifest_only=True,
        release_stage=ConnectorDefinition.ReleaseStage.CUSTOM,
        engines=["embedded"],
    )

    report = _prune(tmp_path, capsys)

    assert report["kept_in_use"] == ["Our Own API"]
    assert ConnectorDefinition.objects.filter(pk=custom.pk).exists()
