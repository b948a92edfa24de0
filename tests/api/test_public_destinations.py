"""Public API destinations: the console's own PostgreSQL and DuckDB writers, created
as Airbyte's SDK creates them (``destinationType``), secrets masked, credential-backed
secrets masked and kept, roles."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.connectors import services
from apps.connectors.models import Destination
from apps.connectors.selectors import connector_secrets, stored_secrets
from apps.core.masking import MASK
from apps.credentials.services import credential_create
from tests.engines.fixtures import POSTGRES_ID, definition
from tests.factories import ConnectionFactory

URL = "/api/public/v1/destinations"
PASSWORD = "pg-Canary-5d2e"
CREDENTIAL_PASSWORD = "vault-Canary-81c0"


def postgres_config(**extra) -> dict:
    return {
        "destinationType": "postgres",
        "host": "db.acme.test",
        "port": 5432,
        "database": "warehouse",
        "schema": "raw",
        "username": "loader",
        "password": PASSWORD,
        **extra,
    }


def create(client, workspace, name="Warehouse", **configuration):
    return client.post(
        URL,
        json={
            "name": name,
            "workspaceId": str(workspace.public_id),
            "configuration": postgres_config(**configuration),
        },
    )


@pytest.fixture
def with_credential(admin, workspace) -> Destination:
    """A PostgreSQL destination whose password comes from a stored credential."""
    login = credential_create(
        actor=admin,
        workspace=workspace,
        name="Warehouse login",
        type="database",
        fields={
            "host": "db.acme.test",
            "port": 5432,
            "database": "warehouse",
            "username": "loader",
            "password": CREDENTIAL_PASSWORD,
        },
        allowed_hosts="db.acme.test",
    )
    config = postgres_config()
    del config["password"], config["destinationType"]
    return services.connector_create(
        actor=admin,
        workspace=workspace,
        kind="destination",
        name="Vaulted",
        definition=definition(POSTGRES_ID),
        config=config,
        credential_refs={"/password": str(login.public_id)},
    )


def test_editor_creates_a_postgres_destination_by_type(api_client, editor, workspace):
    response = create(api_client(editor), workspace)

    assert response.status_code == 200
    body = response.json()
    assert PASSWORD not in response.content.decode()
    assert body["destinationType"] == "postgres"
    assert body["definitionId"] == str(POSTGRES_ID)
    assert body["configuration"]["password"] == MASK
    assert body["configuration"]["host"] == "db.acme.test"
    destination = Destination.objects.get(public_id=body["destinationId"])
    assert stored_secrets(destination) == {"/password": PASSWORD}
    assert "destinationType" not in destination.config
    assert AuditEvent.objects.filter(
        action="destination.created", actor=editor
    ).exists()


def test_spec_failures_are_listed_by_path(api_client, editor, workspace):
    response = create(
        api_client(editor), workspace, port=70000, schema="no spaces", surprise=1
    )

    assert response.status_code == 400
    paths = {e["path"] for e in response.json()["data"]["errors"]}
    assert {"/port", "/schema"} <= paths
    assert any("surprise" in e["message"] for e in response.json()["data"]["errors"])
    assert not Destination.objects.exists()


def test_credential_backed_secret_is_masked_and_kept_by_the_mask(
    api_client, editor, workspace, with_credential
):
    client = api_client(editor)
    url = f"{URL}/{with_credential.public_id}"

    shown = client.get(url)
    renamed = client.patch(url, json={"name": "Vaulted 2"})
    replaced = client.put(
        url, json={"name": "Vaulted 2", "configuration": shown.json()["configuration"]}
    )

    assert shown.json()["configuration"]["password"] == MASK
    for response in (shown, renamed, replaced):
        assert response.status_code == 200
        assert CREDENTIAL_PASSWORD not in response.content.decode()
    with_credential.refresh_from_db()
    assert with_credential.name == "Vaulted 2"
    assert list(with_credential.credential_refs) == ["/password"]
    assert stored_secrets(with_credential) == {}
    assert connector_secrets(with_credential) == {"/password": CREDENTIAL_PASSWORD}


def test_a_typed_password_replaces_the_credential(
    api_client, editor, workspace, with_credential
):
    response = api_client(editor).patch(
        f"{URL}/{with_credential.public_id}",
        json={"configuration": {"password": "typed-Canary"}},
    )

    assert response.status_code == 200
    with_credential.refresh_from_db()
    assert with_credential.credential_refs == {}
    assert stored_secrets(with_credential) == {"/password": "typed-Canary"}


def test_delete_refused_while_used_then_allowed(api_client, editor, workspace):
    client = api_client(editor)
    used = ConnectionFactory(workspace=workspace, name="Into the lake").destination

    refused = client.delete(f"{URL}/{used.public_id}")
    used.connections.all().delete()
    deleted = client.delete(f"{URL}/{used.public_id}")

    assert refused.status_code == 409
    assert "Into the lake" in refused.json()["detail"]
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert not Destination.objects.filter(pk=used.pk).exists()


def test_roles(api_client, viewer, outsider, workspace, with_credential):
    url = f"{URL}/{with_credential.public_id}"

    assert api_client(viewer).get(url).status_code == 200
    assert api_client(viewer).patch(url, json={"name": "x"}).status_code == 403
    assert create(api_client(viewer), workspace).status_code == 403
    assert api_client(outsider).get(url).status_code == 404
    assert api_client(outsider).delete(url).status_code == 404
    assert create(api_client(outsider), workspace).status_code == 404
    assert api_client(outsider).get(URL).json()["data"] == []
    assert Destination.objects.get().name == "Vaulted"


def test_list_has_each_destination_once_in_few_queries(
    api_client, viewer, workspace, with_credential, django_assert_max_num_queries
):
    # Twenty more, each with a credential of its own: a per-row query would show.
    for n in range(20):
        services.connector_create(
            actor=None,
            workspace=workspace,
            kind="destination",
            name=f"Copy {n:02}",
            definition=with_credential.definition,
            config=with_credential.config,
            credential_refs=with_credential.credential_refs,
        )
    client = api_client(viewer)

    with django_assert_max_num_queries(8):
        response = client.get(URL, query={"limit": 100})

    names = [d["name"] for d in response.json()["data"]]
    assert names[0] == "Vaulted"
    assert len(names) == 21
    assert CREDENTIAL_PASSWORD not in response.content.decode()
