"""Done when: a connector made with the builder is one a connection can use.

Published from a project (the `cdk init` scaffold pointed at a local API), it
becomes a source whose form comes from the manifest's spec, is discovered, and
syncs its two pages of items into DuckDB through the embedded engine's
manifest-only runtime. A later publish does not move the existing source.
"""

from __future__ import annotations

import pytest
import yaml

from apps.connections import services as connection_services
from apps.connectors import services as connector_services
from apps.connectors.builder import services
from apps.connectors.models import Destination, Source
from apps.connectors.services import source_discover_run
from tests.connections.test_sync_embedded import duck_rows, run_now
from tests.connectors.builder_api import API_KEY, PAGES, ItemsApi
from tests.engines.fixtures import DUCKDB_ID, definition

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def duck(workspace, settings, tmp_path) -> Destination:
    settings.DUCKDB_DIR = tmp_path
    return Destination.objects.create(
        workspace=workspace,
        name="Duck",
        definition=definition(DUCKDB_ID),
        config={"destination_path": "warehouse.duckdb"},
    )


def test_a_published_builder_connector_syncs_into_duckdb(
    admin, workspace, real_connectors, cdk_installed, duck
):
    project = services.builder_project_create(
        actor=admin, workspace=workspace, name="Items API"
    )
    manifest = yaml.safe_load(project.manifest_text)
    published = services.connector_publish(
        actor=admin, project=project, manifest=manifest
    )
    with ItemsApi() as api:
        source = connector_services.connector_create(
            actor=admin,
            workspace=workspace,
            kind="source",
            name="Items",
            definition=published.definition,
            config={"base_url": api.url},
            secrets={"/api_key": API_KEY},
        )
        catalog = source_discover_run(pk=source.pk)
        assert catalog is not None, Source.objects.get(pk=source.pk).discover_message
        assert [s.name for s in catalog.streams] == ["items"]
        connection = connection_services.connection_create(
            actor=admin,
            workspace=workspace,
            name="Items to Duck",
            source=Source.objects.get(pk=source.pk),
            destination=duck,
            streams=[
                {
                    "name": "items",
                    "sync_mode": "full_refresh",
                    "destination_sync_mode": "overwrite",
                }
            ],
            namespace="builder",
        )
        manifest["spec"]["documentation_url"] = "https://example.com/v2"
        services.connector_publish(actor=admin, project=project, manifest=manifest)

        job = run_now(connection, admin)

    assert job.status == "succeeded", job.failure_message
    expected = [(r["id"], r["name"]) for page in PAGES.values() for r in page]
    assert duck_rows(duck, "select id, name from builder.items order by id") == expected
    source.refresh_from_db()
    assert source.pinned_version == "0.1.0"
    assert API_KEY not in job.attempts.get().log
