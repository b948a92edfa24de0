"""Public API sources: CRUD through the services, masked secrets, roles, bad input.

Every call goes through ``api_client``, which fails the test when a request or an
answer departs from Airbyte's spec. The connector is a catalog entry whose spec
is stored (as after its first install), so no connector process runs here; the
real connectors run in test_public_streams.py.
"""

from __future__ import annotations

import json
import uuid
from urllib.parse import parse_qsl, urlsplit

import pytest

from apps.audit.models import AuditEvent
from apps.connectors.models import (
    ConnectorDefinition,
    ConnectorInstall,
    ConnectorSpecCache,
    Source,
)
from apps.connectors.selectors import stored_secrets
from apps.core.masking import MASK
from tests.airbyte.conftest import (  # noqa: F401 - fixtures
    connect_to_fake,
    polls,
    pushes_now,
)
from tests.factories import ConnectionFactory, SourceFactory, WorkspaceFactory

URL = "/api/public/v1/sources"
API_KEY = "sk-live-Canary-4f1d"
TUNNEL_PASSWORD = "tunnel-Canary-99ab"

SPEC = {
    "connectionSpecification": {
        "type": "object",
        "required": ["api_key", "start"],
        "properties": {
            "api_key": {"type": "string", "airbyte_secret": True},
            "start": {"type": "integer", "minimum": 1},
            "tier": {"type": "string", "enum": ["free", "paid"]},
            "tunnel": {
                "type": "object",
                "properties": {
                    "host": {"type": "string"},
                    "password": {"type": "string", "airbyte_secret": True},
                },
            },
        },
    }
}


@pytest.fixture
def secretive(db) -> ConnectorDefinition:
    """A source connector with two secrets whose spec is stored, as once installed."""
    definition = ConnectorDefinition.objects.create(
        kind="source",
        definition_id=uuid.uuid4(),
        name="Secretive",
        docker_repository="airbyte/source-secretive",
        pypi_package="airbyte-source-secretive",
        pypi_version="1.0.0",
        engines=["embedded"],
    )
    ConnectorInstall.objects.create(
        definition=definition, version="1.0.0", status="succeeded"
    )
    ConnectorSpecCache.objects.create(definition=definition, version="1.0.0", spec=SPEC)
    return definition


def config(**extra) -> dict:
    return {
        "api_key": API_KEY,
        "start": 5,
        "tunnel": {"host": "bastion.acme.test", "password": TUNNEL_PASSWORD},
        **extra,
    }


def create(client, workspace, secretive, name="Billing", valid_request=True, **body):
    payload = {
        "name": name,
        "workspaceId": str(workspace.public_id),
        "definitionId": str(secretive.definition_id),
        "configuration": config(),
        **body,
    }
    return client.post(URL, json=payload, valid_request=valid_request)


def assert_no_secret(response) -> None:
    text = response.content.decode()
    assert API_KEY not in text
    assert TUNNEL_PASSWORD not in text


def test_editor_creates_a_source_with_secrets_stored_apart_and_masked(
    api_client, editor, workspace, secretive
):
    response = create(api_client(editor), workspace, secretive)

    assert response.status_code == 200
    body = response.json()
    assert_no_secret(response)
    assert body["name"] == "Billing"
    assert body["sourceType"] == "secretive"
    assert body["definitionId"] == str(secretive.definition_id)
    assert body["workspaceId"] == str(workspace.public_id)
    assert body["configuration"] == {
        "api_key": MASK,
        "start": 5,
        "tunnel": {"host": "bastion.acme.test", "password": MASK},
        "sourceType": "secretive",
    }
    source = Source.objects.get(public_id=body["sourceId"])
    assert body["createdAt"] == int(source.created_at.timestamp())
    assert source.config == {"start": 5, "tunnel": {"host": "bastion.acme.test"}}
    assert stored_secrets(source) == {
        "/api_key": API_KEY,
        "/tunnel/password": TUNNEL_PASSWORD,
    }
    event = AuditEvent.objects.get(action="source.created")
    assert event.actor == editor
    assert API_KEY not in json.dumps(event.changes)


def test_source_type_names_the_connector_when_definition_id_is_absent(
    api_client, editor, workspace, secretive
):
    client = api_client(editor)
    response = client.post(
        URL,
        json={
            "name": "By type",
            "workspaceId": str(workspace.public_id),
            "configuration": config(sourceType="secretive"),
        },
    )
    assert response.status_code == 200
    source = Source.objects.get(public_id=response.json()["sourceId"])
    assert source.definition == secretive
    # The type names the connector; it is not one of its settings.
    assert "sourceType" not in source.config

    unknown = client.post(
        URL,
        json={
            "name": "Nope",
            "workspaceId": str(workspace.public_id),
            "configuration": config(sourceType="no-such-thing"),
        },
    )
    assert unknown.status_code == 400
    assert unknown.json()["title"] == "value-not-found"
    assert unknown.json()["data"]["value"] == "no-such-thing"

    neither = client.post(
        URL,
        json={
            "name": "Nope",
            "workspaceId": str(workspace.public_id),
            "configuration": config(),
        },
    )
    assert neither.status_code == 422
    assert "definitionId" in neither.json()["detail"]
    assert not Source.objects.filter(name="Nope").exists()


def test_a_config_failing_the_spec_lists_each_json_path(
    api_client, editor, workspace, secretive
):
    response = api_client(editor).post(
        URL,
        json={
            "name": "Broken",
            "workspaceId": str(workspace.public_id),
            "definitionId": str(secretive.definition_id),
            "configuration": {"start": 0, "tier": "gold"},
        },
    )

    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "bad-request"
    paths = sorted(e["path"] for e in body["data"]["errors"])
    assert paths == ["/api_key", "/start", "/tier"]
    assert not Source.objects.filter(name="Broken").exists()


def test_get_and_list_never_show_a_secret(
    api_client, viewer, editor, workspace, secretive
):
    created = create(api_client(editor), workspace, secretive).json()
    client = api_client(viewer)

    one = client.get(f"{URL}/{created['sourceId']}")
    listed = client.get(URL)

    assert one.status_code == 200
    assert one.json()["configuration"]["api_key"] == MASK
    assert_no_secret(one)
    assert listed.status_code == 200
    assert [s["sourceId"] for s in listed.json()["data"]] == [created["sourceId"]]
    assert_no_secret(listed)


def test_patch_merges_and_a_mask_sent_back_keeps_the_stored_secret(
    api_client, editor, workspace, secretive
):
    client = api_client(editor)
    created = create(client, workspace, secretive).json()

    response = client.patch(
        f"{URL}/{created['sourceId']}",
        json={"name": "Billing EU", "configuration": {"tier": "paid"}},
    )

    assert response.status_code == 200
    assert response.json()["name"] == "Billing EU"
    assert response.json()["configuration"]["tier"] == "paid"
    assert response.json()["configuration"]["start"] == 5
    assert_no_secret(response)
    source = Source.objects.get(public_id=created["sourceId"])
    assert source.name == "Billing EU"
    assert source.config["tier"] == "paid"
    assert stored_secrets(source)["/api_key"] == API_KEY
    assert stored_secrets(source)["/tunnel/password"] == TUNNEL_PASSWORD
    assert AuditEvent.objects.filter(action="source.updated", actor=editor).count() == 1


def test_an_empty_patch_changes_nothing_and_records_nothing(
    api_client, editor, workspace, secretive
):
    client = api_client(editor)
    created = create(client, workspace, secretive).json()

    response = client.patch(f"{URL}/{created['sourceId']}", json={})

    assert response.status_code == 200
    assert response.json() == created
    assert not AuditEvent.objects.filter(action="source.updated").exists()


def test_put_replaces_the_config_and_masks_keep_secrets_new_values_replace_them(
    api_client, editor, workspace, secretive
):
    client = api_client(editor)
    created = create(client, workspace, secretive).json()
    shown = client.get(f"{URL}/{created['sourceId']}").json()["configuration"]

    response = client.put(
        f"{URL}/{created['sourceId']}",
        json={
            "name": "Billing",
            "configuration": {**shown, "start": 9, "api_key": "sk-new-Canary"},
        },
    )

    assert response.status_code == 200
    source = Source.objects.get(public_id=created["sourceId"])
    assert source.config["start"] == 9
    assert stored_secrets(source) == {
        "/api_key": "sk-new-Canary",
        "/tunnel/password": TUNNEL_PASSWORD,
    }
    assert "sk-new-Canary" not in response.content.decode()
    event = AuditEvent.objects.get(action="source.updated")
    assert "sk-new-Canary" not in json.dumps(event.changes)

    # A full replace without the optional tunnel drops it, secret included.
    dropped = client.put(
        f"{URL}/{created['sourceId']}",
        json={
            "name": "Billing",
            "configuration": {"api_key": "sk-3-Canary", "start": 9},
        },
    )
    assert dropped.status_code == 200
    source.refresh_from_db()
    assert stored_secrets(source) == {"/api_key": "sk-3-Canary"}
    assert "tunnel" not in source.config


def test_a_kept_secret_is_not_sent_to_a_new_host(
    api_client, editor, workspace, secretive
):
    client = api_client(editor)
    created = create(client, workspace, secretive).json()

    response = client.patch(
        f"{URL}/{created['sourceId']}",
        json={"configuration": {"tunnel": {"host": "evil.example"}}},
    )

    assert response.status_code == 400
    paths = {e["path"] for e in response.json()["data"]["errors"]}
    assert paths == {"/api_key", "/tunnel/password"}
    assert "host changed" in response.json()["detail"]
    source = Source.objects.get(public_id=created["sourceId"])
    assert source.config["tunnel"]["host"] == "bastion.acme.test"


def test_a_mask_where_no_secret_is_stored_is_refused(
    api_client, editor, workspace, secretive
):
    response = create(
        api_client(editor),
        workspace,
        secretive,
        configuration={"api_key": MASK, "start": 1},
    )

    assert response.status_code == 400
    assert response.json()["data"]["errors"] == [
        {"path": "/api_key", "message": "No stored secret to keep here."}
    ]
    assert not Source.objects.exists()


def test_delete_answers_204_and_is_refused_while_a_connection_uses_it(
    api_client, editor, workspace, secretive
):
    client = api_client(editor)
    free = Source.objects.get(
        public_id=create(client, workspace, secretive).json()["sourceId"]
    )
    used = ConnectionFactory(workspace=workspace, name="Nightly").source

    gone = client.delete(f"{URL}/{free.public_id}")
    refused = client.delete(f"{URL}/{used.public_id}")

    assert gone.status_code == 204
    assert not Source.objects.filter(pk=free.pk).exists()
    assert AuditEvent.objects.filter(action="source.deleted", actor=editor).exists()
    assert refused.status_code == 409
    assert refused.json()["title"] == "state-conflict"
    assert "Nightly" in refused.json()["detail"]
    assert Source.objects.filter(pk=used.pk).exists()


def test_viewer_cannot_write(api_client, viewer, workspace, secretive):
    source = SourceFactory(workspace=workspace, definition=secretive)
    client = api_client(viewer)

    responses = [
        create(client, workspace, secretive),
        client.patch(f"{URL}/{source.public_id}", json={"name": "x"}),
        client.put(
            f"{URL}/{source.public_id}", json={"name": "x", "configuration": config()}
        ),
        client.delete(f"{URL}/{source.public_id}"),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    assert all(r.json()["title"] == "forbidden" for r in responses)
    source.refresh_from_db()
    assert source.name != "x"
    assert Source.objects.count() == 1


def test_outsider_gets_404_for_everything(api_client, outsider, workspace, secretive):
    source = SourceFactory(workspace=workspace, definition=secretive)
    client = api_client(outsider)

    responses = [
        client.get(f"{URL}/{source.public_id}"),
        client.patch(f"{URL}/{source.public_id}", json={"name": "x"}),
        client.delete(f"{URL}/{source.public_id}"),
        create(client, workspace, secretive),
        client.get(URL, query={"workspaceIds": str(workspace.public_id)}),
    ]

    assert [r.status_code for r in responses] == [404] * 5
    assert all(r.json()["title"] == "resource-not-found" for r in responses)
    assert client.get(URL).json()["data"] == []
    assert Source.objects.filter(pk=source.pk, name=source.name).exists()


def test_workspace_ids_filter_repeated_or_comma_joined(
    api_client, editor, workspace, secretive
):
    other = WorkspaceFactory(name="Other")
    other.memberships.create(user=editor, role="viewer")
    mine = SourceFactory(workspace=workspace, definition=secretive)
    theirs = SourceFactory(workspace=other, definition=secretive)
    client = api_client(editor)

    def ids(query) -> set[str]:
        # Airbyte's own links join ids with commas, which its spec does not
        # describe (it says an array of UUIDs), so that form is not checked.
        response = client.get(URL, query=query, valid_request="," not in str(query))
        return {s["sourceId"] for s in response.json()["data"]}

    assert ids({}) == {str(mine.public_id), str(theirs.public_id)}
    assert ids({"workspaceIds": str(workspace.public_id)}) == {str(mine.public_id)}
    both = [str(workspace.public_id), str(other.public_id)]
    assert ids({"workspaceIds": both}) == ids({"workspaceIds": ",".join(both)})
    assert len(ids({"workspaceIds": both})) == 2
    assert ids({"workspaceIds": str(workspace.public_id), "includeDeleted": "true"})


def test_pages_follow_next_and_previous_links_to_the_end(
    api_client, viewer, workspace, secretive
):
    for n in range(5):
        SourceFactory(workspace=workspace, definition=secretive, name=f"S{n}")
    client = api_client(viewer)

    def follow(link: str) -> dict:
        parts = urlsplit(link)
        assert parts.path == URL
        return client.get(parts.path, query=dict(parse_qsl(parts.query))).json()

    first = client.get(URL, query={"limit": 2}).json()
    second = follow(first["next"])
    third = follow(second["next"])
    back = follow(second["previous"])
    past = client.get(URL, query={"limit": 2, "offset": 50}).json()

    names = [s["name"] for p in (first, second, third) for s in p["data"]]
    assert names == ["S0", "S1", "S2", "S3", "S4"]
    assert first["previous"] == ""
    assert third["next"] == ""
    assert back["data"] == first["data"]
    assert past["data"] == []


def test_a_long_list_answers_one_bounded_page_in_few_queries(
    api_client, viewer, workspace, secretive, django_assert_max_num_queries
):
    Source.objects.bulk_create(
        Source(workspace=workspace, definition=secretive, name=f"Bulk {n:05}")
        for n in range(10_000)
    )
    client = api_client(viewer)

    with django_assert_max_num_queries(8):
        response = client.get(URL, query={"limit": 100})

    assert response.status_code == 200
    assert len(response.json()["data"]) == 100
    assert response.json()["next"]
    too_big = client.get(URL, query={"limit": 10_000}, valid_request=False)
    assert too_big.status_code == 400


def test_malformed_json_and_wrong_types_are_400_problems(
    api_client, editor, workspace, secretive
):
    client = api_client(editor)

    broken = client.post(URL, raw=b'{"name": "x",', valid_request=False)
    wrong = client.post(
        URL,
        json={"name": "x", "workspaceId": "not-a-uuid", "configuration": []},
        valid_request=False,
    )

    assert broken.status_code == 400
    assert broken.json()["title"] == "bad-request"
    assert wrong.status_code == 400
    paths = {e["path"] for e in wrong.json()["data"]["errors"]}
    assert {"workspaceId", "configuration"} <= paths
    assert not Source.objects.exists()


def test_unknown_fields_are_ignored_except_where_the_spec_closes_the_object(
    api_client, editor, workspace, secretive
):
    client = api_client(editor)

    ignored = create(client, workspace, secretive, surprise="yes")
    closed = create(
        client,
        workspace,
        secretive,
        name="Closed",
        resourceAllocation={"default": {}, "surprise": 1},
        valid_request=False,
    )

    assert ignored.status_code == 200
    assert closed.status_code == 400
    assert not Source.objects.filter(name="Closed").exists()


def test_on_a_workspace_driven_by_an_airbyte_server_writes_reach_the_server(
    api_client,
    admin,
    editor,
    workspace,
    airbyte_fake,
    pushes_now,  # noqa: F811 - the fixture imported above
    polls,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    connect_to_fake(airbyte_fake, workspace, admin)
    client = api_client(editor)

    with django_capture_on_commit_callbacks(execute=True):
        created = client.post(
            URL,
            json={
                "name": "Fake users",
                "workspaceId": str(workspace.public_id),
                "configuration": {"sourceType": "faker", "count": 7, "seed": 1},
            },
        )
    assert created.status_code == 200, created.content
    source = Source.objects.get(public_id=created.json()["sourceId"])
    remote = airbyte_fake.state.sources[source.remote_id]
    assert remote.configuration["count"] == 7

    with django_capture_on_commit_callbacks(execute=True):
        patched = client.patch(
            f"{URL}/{source.public_id}", json={"configuration": {"count": 9}}
        )
    assert patched.status_code == 200
    assert remote.configuration["count"] == 9

    with django_capture_on_commit_callbacks(execute=True):
        deleted = client.delete(f"{URL}/{source.public_id}")
    assert deleted.status_code == 204
    assert remote.deleted
