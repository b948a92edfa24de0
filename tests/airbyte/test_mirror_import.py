"""Objects pushed to the server once, checks and discover there, import run twice."""

from __future__ import annotations

from apps.airbyte import hooks
from apps.airbyte.importer import airbyte_import
from apps.connections.models import Connection
from apps.connectors import services as connector_services
from apps.connectors.models import ConnectorDefinition, Destination, Source
from apps.core.masking import MASK
from apps.engines.registry import get_engine
from tests.airbyte_fake import (
    DEFAULT_WORKSPACE_ID,
    FAKER_SOURCE_ID,
    POSTGRES_DESTINATION_ID,
)


def test_a_source_is_created_once_on_the_server_whatever_the_redeliveries(
    airbyte_fake, make_connection
):
    connection = make_connection()
    source = connection.source
    assert source.remote_id in airbyte_fake.sources
    hooks.push_now(kind="source", pk=source.pk)  # a redelivered push: an update
    # A push that died after the server's answer, before the id was saved:
    Source.objects.filter(pk=source.pk).update(remote_id="")
    hooks.push_now(kind="source", pk=source.pk)
    source.refresh_from_db()
    named = [s for s in airbyte_fake.sources.values() if s.name == source.name]
    assert len(named) == 1 and source.remote_id == named[0].id
    assert len(airbyte_fake.calls("POST", "/api/public/v1/sources")) == 1


def test_secrets_are_sent_and_the_servers_masks_never_overwrite_them(
    airbyte_fake, airbyte_workspace, admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        destination = connector_services.connector_create(
            actor=admin,
            workspace=airbyte_workspace,
            kind="destination",
            name="Warehouse",
            definition=ConnectorDefinition.objects.get(
                definition_id=POSTGRES_DESTINATION_ID
            ),
            config={
                "host": "db.internal",
                "port": 5432,
                "database": "dw",
                "schema": "public",
                "username": "loader",
            },
            secrets={"/password": "s3cret-pw"},
        )
    destination.refresh_from_db()
    remote = airbyte_fake.destinations[destination.remote_id]
    assert remote.configuration["password"] == "s3cret-pw"
    # Reads of it answer with the mask; the console keeps its own copy.
    with django_capture_on_commit_callbacks(execute=True):
        connector_services.connector_update(
            actor=admin, obj=destination, name="Warehouse (prod)"
        )
    assert airbyte_fake.destinations[destination.remote_id].name == "Warehouse (prod)"
    assert remote.configuration["password"] == "s3cret-pw"


def test_a_refused_push_is_shown_where_the_user_looks(
    airbyte_fake, airbyte_workspace, admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        source = connector_services.connector_create(
            actor=admin,
            workspace=airbyte_workspace,
            kind="source",
            name="Broken faker",
            definition=ConnectorDefinition.objects.get(definition_id=FAKER_SOURCE_ID),
            config={"count": "many"},  # the server's spec wants an integer
        )
    source.refresh_from_db()
    assert source.remote_id == ""
    assert source.last_check_status == "failed"
    assert source.last_check_message.startswith(
        "The Airbyte server refused this change"
    )


def test_check_and_discover_run_on_the_server(
    airbyte_fake, airbyte_workspace, admin, django_capture_on_commit_callbacks
):
    engine = get_engine(airbyte_workspace)
    assert engine.name == "airbyte"
    faker = ConnectorDefinition.objects.get(definition_id=FAKER_SOURCE_ID)
    spec = engine.spec(faker)
    assert "count" in spec.connection_specification["properties"]
    postgres = ConnectorDefinition.objects.get(definition_id=POSTGRES_DESTINATION_ID)
    bad = engine.check(
        postgres,
        {
            "host": "db",
            "port": 5432,
            "database": "dw",
            "schema": "public",
            "username": "u",
            "password": airbyte_fake.bad_password,
        },
    )
    assert not bad.ok and "password authentication failed" in bad.message
    with django_capture_on_commit_callbacks(execute=True):
        source = connector_services.connector_create(
            actor=admin,
            workspace=airbyte_workspace,
            kind="source",
            name="Faker",
            definition=faker,
            config={"count": 10, "seed": 1},
        )
    catalog = connector_services.source_discover_run(pk=source.pk)
    assert {s.name for s in catalog.streams} >= {"users", "products"}
    users = catalog.stream("users")
    assert "incremental" in users.supported_sync_modes
    assert users.source_defined_primary_key == (("id",),)


def test_import_twice_creates_nothing_twice_and_keeps_secrets_on_the_server(
    airbyte_fake, airbyte_workspace, admin, login
):
    source = airbyte_fake.seed_faker_source(name="Their faker", count=500)
    destination = airbyte_fake.seed_actor(
        "destination",
        name="Their warehouse",
        definition_id=POSTGRES_DESTINATION_ID,
        configuration={
            "host": "db",
            "port": 5432,
            "database": "dw",
            "schema": "public",
            "username": "loader",
            "password": "only-the-server-knows",
        },
        workspace_id=DEFAULT_WORKSPACE_ID,
    )
    airbyte_fake.seed_connection(source, destination, name="Their pipeline")

    first = airbyte_import(actor=admin, workspace=airbyte_workspace)
    assert (first.sources_created, first.destinations_created) == (1, 1)
    assert first.connections_created == 1
    second = airbyte_import(actor=admin, workspace=airbyte_workspace)
    assert (second.sources_created, second.destinations_created) == (0, 0)
    assert (second.sources_updated, second.connections_updated) == (1, 1)
    assert Source.objects.filter(workspace=airbyte_workspace).count() == 1
    assert Connection.objects.filter(workspace=airbyte_workspace).count() == 1

    warehouse = Destination.objects.get(workspace=airbyte_workspace)
    assert warehouse.config["password"] == MASK and not warehouse.secrets
    connection = Connection.objects.get(workspace=airbyte_workspace)
    assert connection.remote_id in airbyte_fake.connections
    assert connection.streams.filter(selected=True).exists()
    page = login(admin).get(
        f"/w/{airbyte_workspace.public_id}/destinations/{warehouse.public_id}/"
    )
    body = page.content.decode()
    assert "its secrets stay on the server" in body
    assert "only-the-server-knows" not in body


def test_editing_an_imported_destination_keeps_the_secret_on_the_server(
    airbyte_fake, airbyte_workspace, admin, login, django_capture_on_commit_callbacks
):
    remote = airbyte_fake.seed_actor(
        "destination",
        name="Their warehouse",
        definition_id=POSTGRES_DESTINATION_ID,
        configuration={
            "host": "db",
            "port": 5432,
            "database": "dw",
            "schema": "public",
            "username": "loader",
            "password": "only-the-server-knows",
        },
        workspace_id=DEFAULT_WORKSPACE_ID,
    )
    airbyte_import(actor=admin, workspace=airbyte_workspace)
    warehouse = Destination.objects.get(workspace=airbyte_workspace)
    url = f"/w/{airbyte_workspace.public_id}/destinations/{warehouse.public_id}/edit/"
    client = login(admin)
    form = client.get(url).content.decode()
    assert "only-the-server-knows" not in form
    fields = {
        "name": "Warehouse",
        "cfg__host": "db",
        "cfg__port": "5432",
        "cfg__database": "dw",
        "cfg__schema": "analytics",
        "cfg__username": "loader",
        "cfg__password": MASK,
        "cfg__ssl_mode__mode": "disable",
    }
    # The user renames it and changes the schema, leaving the password as shown.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, fields)
    assert response.status_code in (200, 302), response.content.decode()
    warehouse.refresh_from_db()
    assert warehouse.name == "Warehouse"
    assert remote.configuration["schema"] == "analytics"
    assert remote.configuration["password"] == "only-the-server-knows"
    # A new host with the password left masked would send it elsewhere (#13).
    with django_capture_on_commit_callbacks(execute=True):
        refused = client.post(url, {**fields, "cfg__host": "db2"})
    assert "Enter the password again" in refused.content.decode()
    assert remote.configuration["host"] == "db"
