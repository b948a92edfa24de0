"""A manifest-only connector installed from the catalog syncs into DuckDB.

End to end, as a user meets it: the catalog fetches a registry file that lists
the connector, staff install it (the manifest and its components.py come from
the same FileServer, playing the registry's CDN), an admin
creates a source whose form comes from the manifest's spec, discovers it, and a
sync through the embedded engine writes the API's records into DuckDB, with the
field the custom component adds. A source pinned to 1.0.0 keeps running 1.0.0
once 2.0.0 is installed beside it.
"""

from __future__ import annotations

import uuid

import pytest

from apps.connections import services as connection_services
from apps.connectors import services
from apps.connectors.catalog.services import (
    catalog_fetch,
    connector_install_request,
    connector_install_run,
)
from apps.connectors.models import (
    ConnectorDefinition,
    ConnectorInstall,
    Destination,
    RegistryFetch,
    Source,
)
from apps.connectors.services import source_discover_run
from tests.connections.test_sync_embedded import duck_rows, run_now
from tests.engines.fixtures import DUCKDB_ID, definition
from tests.engines.manifest_only_cdn import (
    ACCOUNT,
    API_KEY,
    DEFINITION_ID,
    ITEMS,
    cdn_fixture,  # noqa: F401 (the cdn fixture)
    tiny_api_fixture,  # noqa: F401 (the tiny_api fixture)
)

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


def _install(staff, definition_, version: str = "") -> None:
    install = connector_install_request(
        actor=staff, definition=definition_, version=version, enqueue=False
    )
    done = connector_install_run(install_id=install.pk)
    assert done.status == ConnectorInstall.Status.SUCCEEDED, done.error


def _source(admin, workspace, definition_, *, account: str = ACCOUNT) -> Source:
    source = services.connector_create(
        actor=admin,
        workspace=workspace,
        kind="source",
        name=f"Tiny {uuid.uuid4().hex[:6]}",
        definition=definition_,
        config={"account": account},
        secrets={"/api_key": API_KEY},
    )
    return source


def _connection(admin, workspace, source, destination, namespace: str):
    catalog = source_discover_run(pk=source.pk)
    assert catalog is not None, Source.objects.get(pk=source.pk).discover_message
    source.refresh_from_db()
    return connection_services.connection_create(
        actor=admin,
        workspace=workspace,
        name=f"C {uuid.uuid4().hex[:6]}",
        source=source,
        destination=destination,
        streams=[
            {
                "name": stream.name,
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
            for stream in catalog.streams
        ],
        namespace=namespace,
    )


def test_a_manifest_only_connector_installs_and_syncs_into_duckdb(
    staff, admin, workspace, real_connectors, cdk_installed, cdn, duck
):
    cdn.publish_manifest("1.0.0")
    cdn.publish_manifest("2.0.0")
    fetch = catalog_fetch(actor=staff, location=cdn.publish_registry("1.0.0"))
    assert fetch.status == RegistryFetch.Status.SUCCEEDED, fetch.error
    tiny_api = ConnectorDefinition.objects.get(definition_id=DEFINITION_ID)
    assert tiny_api.manifest_only
    assert tiny_api.pypi_version == "1.0.0"
    _install(staff, tiny_api)
    old = _source(admin, workspace, tiny_api)
    # The registry moves on to 2.0.0 (a second stream, and components.py stamping
    # every item): staff install it beside 1.0.0, and the source that existed
    # stays pinned where it was.
    catalog_fetch(actor=staff, location=cdn.publish_registry("2.0.0"))
    tiny_api.refresh_from_db()
    assert (tiny_api.pypi_version, tiny_api.latest_version) == ("1.0.0", "2.0.0")
    _install(staff, tiny_api, version="2.0.0")
    old.refresh_from_db()
    tiny_api.refresh_from_db()
    assert old.pinned_version == "1.0.0"
    new = _source(admin, workspace, tiny_api)
    assert new.pinned_version == "2.0.0"

    old_run = run_now(_connection(admin, workspace, old, duck, "v1"), admin)
    new_run = run_now(_connection(admin, workspace, new, duck, "v2"), admin)

    assert old_run.status == "succeeded", old_run.failure_message
    assert new_run.status == "succeeded", new_run.failure_message
    assert duck_rows(duck, "select id, name, price from v1.items order by id") == [
        (item["id"], item["name"], item["price"]) for item in ITEMS
    ]
    # 1.0.0 has no components: nothing stamped its items.
    assert duck_rows(duck, "select count(stamped_by) from v1.items") == [(0,)]
    assert duck_rows(
        duck, "select id, stamped_by, name_length from v2.items order by id"
    ) == [(item["id"], "components.py", len(item["name"])) for item in ITEMS]
    assert duck_rows(duck, "select count(*) from v2.users") == [(3,)]
    assert API_KEY not in old_run.attempts.get().log + new_run.attempts.get().log


def test_a_failing_manifest_sync_says_why_and_never_shows_the_key(
    staff, admin, workspace, real_connectors, cdk_installed, cdn, tiny_api, duck
):
    cdn.publish_manifest("1.0.0")
    _install(staff, tiny_api)
    source = _source(admin, workspace, tiny_api)
    connection = _connection(admin, workspace, source, duck, "gone")
    # The account disappears from the API after the connection was set up.
    for name in ("items", "users"):
        cdn.server.files.pop(f"/api/{ACCOUNT}/{name}.json")

    job = run_now(connection, admin)

    assert job.status != "succeeded"
    assert "404" in job.failure_message
    log = "\n".join(attempt.log for attempt in job.attempts.all())
    assert API_KEY not in job.failure_message + log
