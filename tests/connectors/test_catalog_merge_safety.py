"""What a registry refresh must never do to the catalog (#16 review).

A registry is a document from the network: it may be wrong, stale, broken or
hostile. Whatever it says, a refresh does not change what an installed or in-use
connector runs, never turns a source into a destination, never offers a
destination the workspace's engine cannot write, keeps its report small, shows no
``javascript:`` link, and prunes nothing that is merely malformed today or that the
shipped catalog lists. And another workspace's builder-made connector stays its own.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.core.management import call_command
from django.urls import reverse

import apps.connectors.catalog.cli  # noqa: F401  (registers the connectors group)
from apps.connectors.builder.models import BuilderProject
from apps.connectors.catalog import services
from apps.connectors.catalog.registry import (
    MAX_ENTRIES,
    SKIPPED_SHOWN,
    Skipped,
    engines_for,
    parse_registry,
)
from apps.connectors.models import (
    ConnectorDefinition,
    ConnectorInstall,
    ConnectorManifest,
    RegistryFetch,
)
from apps.connectors.selectors import definition_choices
from apps.engines.embedded.sync import make_writer
from tests.connectors.registry_fixtures import (
    DEST_ID,
    DOCKER_ID,
    MANIFEST_ID,
    PYPI_ID,
    airbyte_registry,
)
from tests.engines.fixtures import FAKER_ID
from tests.factories import DefinitionFactory, SourceFactory, WorkspaceFactory
from tests.http_files import FileServer

pytestmark = pytest.mark.django_db

AS = ("--as", "staff@acme.test")


@pytest.fixture(autouse=True)
def _icons_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path


@pytest.fixture
def registry(tmp_path):
    """``(document, write)``: the Airbyte-shaped registry and a function that
    writes it to a file and returns the path, to fetch it as it is now."""
    with FileServer() as server:
        document = airbyte_registry(server)
    path = tmp_path / "oss_registry.json"

    def write() -> str:
        path.write_text(json.dumps(document))
        return str(path)

    return document, write


def _entry(document: dict, definition_id: str) -> dict:
    for key, id_key in (
        ("sources", "sourceDefinitionId"),
        ("destinations", "destinationDefinitionId"),
    ):
        for item in document[key]:
            if item.get(id_key) == definition_id:
                return item
    raise LookupError(definition_id)


def _fetch(location: str, *, prune: bool = False) -> RegistryFetch:
    fetch = services.catalog_fetch(actor=None, location=location, prune=prune)
    assert fetch.status == RegistryFetch.Status.SUCCEEDED, fetch.error
    return fetch


# -- 1. what runs an installed or in-use connector ------------------------------


def test_a_refresh_cannot_swap_the_image_an_installed_docker_connector_runs(
    registry, staff, capsys
):
    document, write = registry
    _fetch(write())
    gamma = ConnectorDefinition.objects.get(definition_id=DOCKER_ID)
    ConnectorInstall.objects.create(
        definition=gamma, version="2.0.0", status=ConnectorInstall.Status.SUCCEEDED
    )
    _entry(document, DOCKER_ID).update(
        dockerRepository="evil/miner", dockerImageTag="9.9.9"
    )

    call_command("airbyte", "connectors", "refresh", *AS, "--from", write())

    gamma.refresh_from_db()
    # The next sync pulls and runs exactly what was installed.
    assert gamma.ref.docker_image == "airbyte/source-gamma:2.0.0"
    assert gamma.docker_image_tag == "2.0.0"
    # Another image is not a newer version of this one: no "upgrade available".
    assert gamma.latest_version != "9.9.9"
    out = capsys.readouterr().out
    assert "1 kept as they run" in out
    assert (
        "kept as it runs: Gamma Docker: kept image 'airbyte/source-gamma' "
        "(the registry now says 'evil/miner')" in out
    )
    fetch = RegistryFetch.objects.latest("created_at")
    assert fetch.report["kept_runtime"] == [
        "Gamma Docker: kept image 'airbyte/source-gamma' (the registry now says "
        "'evil/miner')"
    ]


def test_a_docker_connector_in_use_without_an_install_row_keeps_its_image(
    registry, workspace
):
    """A sync pulls a Docker connector's image on demand: no ConnectorInstall row,
    yet sources run it, so being in use protects it just as an install does."""
    document, write = registry
    _fetch(write())
    gamma = ConnectorDefinition.objects.get(definition_id=DOCKER_ID)
    assert not ConnectorInstall.objects.filter(definition=gamma).exists()
    SourceFactory(workspace=workspace, definition=gamma, connector_version="")
    _entry(document, DOCKER_ID).update(
        dockerRepository="evil/miner", dockerImageTag="9.9.9"
    )

    fetch = _fetch(write())

    gamma.refresh_from_db()
    assert gamma.ref.docker_image == "airbyte/source-gamma:2.0.0"
    assert fetch.report["kept_runtime"] == [
        "Gamma Docker: kept image 'airbyte/source-gamma' (the registry now says "
        "'evil/miner')"
    ]


def test_an_in_use_connector_keeps_its_package_and_pin_and_is_offered_the_upgrade(
    registry, workspace
):
    document, write = registry
    _fetch(write())
    alpha = ConnectorDefinition.objects.get(definition_id=PYPI_ID)
    SourceFactory(workspace=workspace, definition=alpha, connector_version="")
    _entry(document, PYPI_ID)["dockerImageTag"] = "1.5.0"

    fetch = _fetch(write())

    alpha.refresh_from_db()
    # The same package, newer: pinned where it was, offered as an upgrade.
    assert (alpha.pypi_package, alpha.pypi_version) == ("airbyte-source-alpha", "1.0.0")
    assert alpha.latest_version == "1.5.0"
    assert fetch.report["kept_runtime"] == []

    _entry(document, PYPI_ID)["remoteRegistries"]["pypi"]["packageName"] = (
        "airbyte-source-evil"
    )
    _entry(document, PYPI_ID)["dockerImageTag"] = "2.0.0"
    fetch = _fetch(write())

    alpha.refresh_from_db()
    assert (alpha.pypi_package, alpha.pypi_version) == ("airbyte-source-alpha", "1.0.0")
    # Another package is not an upgrade of this one.
    assert alpha.latest_version == "1.5.0"
    assert fetch.report["kept_runtime"] == [
        "Alpha Pypi: kept package 'airbyte-source-alpha' (the registry now says "
        "'airbyte-source-evil')"
    ]


def test_an_unused_connector_follows_the_registry(registry):
    document, write = registry
    _fetch(write())
    _entry(document, DOCKER_ID).update(
        dockerRepository="airbyte/source-gamma-v2", dockerImageTag="3.0.0"
    )

    _fetch(write())

    gamma = ConnectorDefinition.objects.get(definition_id=DOCKER_ID)
    assert gamma.ref.docker_image == "airbyte/source-gamma-v2:3.0.0"


# -- 2. kind ------------------------------------------------------------------------


def test_a_refresh_never_turns_a_source_in_use_into_a_destination(
    registry, admin, workspace, login
):
    document, write = registry
    _fetch(write())
    alpha = ConnectorDefinition.objects.get(definition_id=PYPI_ID)
    source = SourceFactory(workspace=workspace, definition=alpha, connector_version="")
    moved = _entry(document, PYPI_ID)
    document["sources"].remove(moved)
    moved["destinationDefinitionId"] = moved.pop("sourceDefinitionId")
    moved["dockerImageTag"] = "9.9.9"
    document["destinations"].append(moved)

    fetch = _fetch(write(), prune=True)

    alpha.refresh_from_db()
    assert (alpha.kind, alpha.pypi_version) == ("source", "1.0.0")
    assert (
        f"destinations (Alpha Pypi): definition id {PYPI_ID} is a source here "
        "(Alpha Pypi); its kind never changes."
    ) in fetch.report["skipped"]
    assert "Alpha Pypi" not in fetch.report["removed"]
    client = login(admin)
    page = client.get(
        reverse(
            "connectors:source_detail", args=[workspace.public_id, source.public_id]
        )
    )
    assert page.status_code == 200
    new = client.get(
        reverse("connectors:destination_create", args=[workspace.public_id])
    )
    assert "Alpha Pypi" not in new.content.decode()


def test_an_unused_definition_named_with_another_kind_is_skipped_not_pruned(
    registry,
):
    document, write = registry
    _fetch(write())
    moved = _entry(document, DOCKER_ID)
    document["sources"].remove(moved)
    moved["destinationDefinitionId"] = moved.pop("sourceDefinitionId")
    document["destinations"].append(moved)

    fetch = _fetch(write(), prune=True)

    gamma = ConnectorDefinition.objects.get(definition_id=DOCKER_ID)
    assert gamma.kind == "source"
    assert any(f"{DOCKER_ID} is a source here" in s for s in fetch.report["skipped"])
    assert "Gamma Docker" not in fetch.report["removed"]


# -- 3. destinations the embedded engine cannot write --------------------------------


def test_the_embedded_engine_runs_only_its_own_destinations():
    assert engines_for(
        kind="destination", docker_repository="airbyte/destination-delta"
    ) == ["airbyte"]
    assert engines_for(kind="destination", package="airbyte-destination-x") == []
    assert "embedded" in engines_for(kind="destination", builtin="postgres")
    # Sources run here from a package, a manifest or an image, as before.
    assert "embedded" in engines_for(
        kind="source", docker_repository="airbyte/source-gamma"
    )


def test_a_docker_destination_is_not_offered_in_an_embedded_workspace(
    registry, admin, workspace, login
):
    _document, write = registry
    _fetch(write())
    delta = ConnectorDefinition.objects.get(definition_id=DEST_ID)
    # Offered, its first sync would fail: the embedded engine writes only its own.
    with pytest.raises(Exception, match="not a destination the embedded engine"):
        make_writer(delta, {}, workspace_id=str(workspace.public_id))
    assert delta.engines == ["airbyte"]

    page = login(admin).get(
        reverse("connectors:destination_create", args=[workspace.public_id])
    )

    html = page.content.decode()
    assert "Delta Destination" not in html
    assert "PostgreSQL" in html


def test_the_catalog_says_a_docker_destination_runs_on_an_airbyte_server_only(
    registry, viewer, workspace, login
):
    _document, write = registry
    _fetch(write())
    # Even a row whose ``engines`` an older release computed.
    ConnectorDefinition.objects.filter(definition_id=DEST_ID).update(
        engines=["embedded", "airbyte"]
    )
    delta = ConnectorDefinition.objects.get(definition_id=DEST_ID)

    html = (
        login(viewer)
        .get(
            reverse("connectors:catalog", args=[workspace.public_id]),
            {"kind": "destination"},
        )
        .content.decode()
    )

    row = re.search(rf'<tr id="connector-{delta.public_id}".*?</tr>', html, re.S)
    cell = re.search(r'data-testid="how-it-runs">(.*?)</td>', row.group(0), re.S)
    assert re.sub(r"<[^>]+>", " ", cell.group(1)).split() == [
        "Runs",
        "on",
        "an",
        "Airbyte",
        "server",
        "only",
    ]


def test_a_row_merged_before_the_fix_is_not_offered_either(registry, workspace):
    """A row whose ``engines`` still says embedded (merged by an older release) is
    not offered until the next refresh recomputes it: the picker asks the engine."""
    _document, write = registry
    _fetch(write())
    ConnectorDefinition.objects.filter(definition_id=DEST_ID).update(
        engines=["embedded", "airbyte"]
    )

    names = set(
        definition_choices(kind="destination", workspace=workspace).values_list(
            "name", flat=True
        )
    )

    assert "Delta Destination" not in names
    assert {"PostgreSQL", "DuckDB"} <= names


# -- 6. a flood of malformed entries -------------------------------------------------


def test_thousands_of_malformed_entries_keep_a_short_report(registry, staff, capsys):
    document, write = registry
    broken = 3000
    document["sources"].extend({} for _ in range(broken))

    call_command("airbyte", "connectors", "refresh", *AS, "--from", write())

    out = capsys.readouterr().out
    fetch = RegistryFetch.objects.get()
    skipped = fetch.report["skipped"]
    # The fixture's own broken entry and the 3,000 empty ones, counted in full...
    assert fetch.report["skipped_count"] == broken + 1
    assert f", {broken + 1} skipped" in fetch.report["summary"]
    # ...but only the first few kept and printed, and a count of the rest.
    assert len(skipped) == SKIPPED_SHOWN + 1
    assert skipped[-1] == f"and {broken + 1 - SKIPPED_SHOWN} more"
    assert out.count("  skipped ") == SKIPPED_SHOWN + 1
    assert f"  skipped and {broken + 1 - SKIPPED_SHOWN} more" in out
    # The good entries were merged all the same.
    assert ConnectorDefinition.objects.filter(definition_id=PYPI_ID).exists()


def test_a_document_listing_an_absurd_number_of_entries_is_refused(registry):
    document, write = registry
    before = set(ConnectorDefinition.objects.values_list("definition_id", flat=True))
    document["sources"].extend({} for _ in range(MAX_ENTRIES))

    fetch = services.catalog_fetch(actor=None, location=write())

    assert fetch.status == RegistryFetch.Status.FAILED
    assert f"lists {len(document['sources']):,} sources" in fetch.error
    assert f"more than the {MAX_ENTRIES:,}" in fetch.error
    after = set(ConnectorDefinition.objects.values_list("definition_id", flat=True))
    assert after == before


def test_a_document_of_millions_of_objects_is_refused_before_it_is_parsed(
    registry, monkeypatch
):
    """Memory goes by the object: a small file of `{}` must not reach json.loads."""
    from apps.connectors.catalog import fetch

    _, write = registry
    path = write()
    monkeypatch.setattr(fetch, "MAX_OBJECTS", 1000)
    with open(path, "a") as extra:  # objects after the JSON's end: never parsed
        extra.write("{}" * 1001)
    parsed: list[bytes] = []
    monkeypatch.setattr(fetch.json, "loads", lambda body: parsed.append(body))

    result = services.catalog_fetch(actor=None, location=path)

    assert result.status == RegistryFetch.Status.FAILED
    assert "JSON objects, more than the 1,000 any registry needs" in result.error
    assert parsed == []


def test_skipped_keeps_a_count_and_the_ids_it_could_read():
    skipped = Skipped()
    good = {"sourceDefinitionId": PYPI_ID, "name": "A", "dockerImageTag": "1.0.0"}
    bad = [
        {"sourceDefinitionId": str(uuid.UUID(int=n)), "dockerImageTag": "1 0"}
        for n in range(1, 31)
    ]

    entries = parse_registry(
        {"sources": [good, *bad, {"name": "no id"}]}, skipped=skipped
    )

    assert [str(e.definition_id) for e in entries if e.kind == "source"] == [PYPI_ID]
    assert skipped.count == 31
    assert len(skipped.lines()) == SKIPPED_SHOWN + 1
    assert skipped.ids == {uuid.UUID(int=n) for n in range(1, 31)}


# -- 8. documentation links ----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "JavaScript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        " javascript:alert(1)",
    ],
)
def test_a_docs_url_that_is_not_http_is_dropped(url):
    entry = {
        "sourceDefinitionId": PYPI_ID,
        "name": "A",
        "dockerImageTag": "1.0.0",
        "documentationUrl": url,
        "remoteRegistries": {"pypi": {"packageName": "airbyte-source-a"}},
    }

    (parsed,) = [e for e in parse_registry({"sources": [entry]}) if e.kind == "source"]

    assert parsed.documentation_url == ""


def test_the_catalog_page_renders_no_javascript_docs_link(
    registry, viewer, workspace, login
):
    document, write = registry
    _entry(document, DOCKER_ID)["documentationUrl"] = "javascript:alert(1)"
    _fetch(write())
    # A row an older release stored is not rendered as a link either.
    ConnectorDefinition.objects.filter(definition_id=MANIFEST_ID).update(
        documentation_url="javascript:alert(2)"
    )

    html = (
        login(viewer)
        .get(reverse("connectors:catalog", args=[workspace.public_id]))
        .content.decode()
    )

    assert "javascript:" not in html
    assert 'href="https://docs.airbyte.com/integrations/sources/alpha"' in html


# -- 9. another workspace's builder-made connector ------------------------------------


def _builder_connector(workspace, name: str) -> ConnectorDefinition:
    definition = DefinitionFactory(
        name=name, release_stage="custom", pypi_version="0.1.0", manifest_only=True
    )
    ConnectorManifest.objects.create(
        definition=definition,
        version="0.1.0",
        manifest={"version": "6.0.0"},
        digest="x" * 64,
        origin=ConnectorManifest.Origin.BUILDER,
    )
    BuilderProject.objects.create(
        workspace=workspace, name=name.lower(), definition=definition
    )
    return definition


def test_another_workspaces_builder_connector_is_not_found_in_the_catalog(
    viewer, staff, workspace, login
):
    theirs = _builder_connector(WorkspaceFactory(), "Acme Internal Billing API")
    args = [workspace.public_id, theirs.public_id]
    client = login(viewer)

    row = client.get(
        reverse("connectors:catalog_row", args=args), HTTP_HX_REQUEST="true"
    )
    icon = client.get(reverse("connectors:catalog_icon", args=args))
    install = login(staff).post(
        reverse("connectors:catalog_install", args=args), HTTP_HX_REQUEST="true"
    )

    assert (row.status_code, icon.status_code, install.status_code) == (404, 404, 404)
    assert "Acme Internal Billing API" not in row.content.decode()
    assert not ConnectorInstall.objects.filter(definition=theirs).exists()


def test_a_workspaces_own_builder_connector_has_its_row_and_icon(
    viewer, workspace, login
):
    mine = _builder_connector(workspace, "Our Items API")
    args = [workspace.public_id, mine.public_id]
    client = login(viewer)

    row = client.get(
        reverse("connectors:catalog_row", args=args), HTTP_HX_REQUEST="true"
    )
    icon = client.get(reverse("connectors:catalog_icon", args=args))

    assert row.status_code == 200
    assert "Our Items API" in row.content.decode()
    assert icon.status_code == 200


# -- 10. prune -----------------------------------------------------------------------


def test_prune_keeps_an_entry_that_is_only_malformed_today(registry):
    document, write = registry
    _fetch(write())
    _entry(document, MANIFEST_ID)["dockerImageTag"] = "0.3.0-rc.1+build 7"

    fetch = _fetch(write(), prune=True)

    assert any("Beta Manifest" in s for s in fetch.report["skipped"])
    assert "Beta Manifest" not in fetch.report["removed"]
    beta = ConnectorDefinition.objects.get(definition_id=MANIFEST_ID)
    # Kept as it was yesterday, not changed by today's broken entry.
    assert beta.pypi_version == "0.2.0"


def test_prune_never_removes_what_the_shipped_catalog_lists(registry):
    """The shipped file is the offline fallback: a registry without Faker (or a
    wrong URL serving some other registry) does not take it from the catalog."""
    _document, write = registry
    _fetch(write())
    unused = DefinitionFactory(name="Withdrawn Upstream")

    fetch = _fetch(write(), prune=True)

    assert ConnectorDefinition.objects.filter(definition_id=FAKER_ID).exists()
    # Pruning itself still works for what no one uses and nothing lists.
    assert fetch.report["removed"] == ["Withdrawn Upstream"]
    assert not ConnectorDefinition.objects.filter(pk=unused.pk).exists()


def test_a_registry_that_does_not_list_a_builtin_destination_keeps_its_image(
    tmp_path,
):
    """PostgreSQL's row knows Airbyte's image from the shipped list, so the airbyte
    engine runs it; a partial registry must not forget that."""
    before = ConnectorDefinition.objects.get(builtin="postgres")
    assert before.docker_repository == "airbyte/destination-postgres"
    assert "airbyte" in before.engines
    path = tmp_path / "partial.json"
    path.write_text(json.dumps({"sources": [], "destinations": []}))

    fetch = services.catalog_fetch(actor=None, location=str(path))

    assert fetch.status == RegistryFetch.Status.SUCCEEDED, fetch.error
    after = ConnectorDefinition.objects.get(builtin="postgres")
    assert after.docker_repository == "airbyte/destination-postgres"
    assert after.docker_image_tag == before.docker_image_tag
    assert after.engines == before.engines
    assert after.release_stage == before.release_stage
