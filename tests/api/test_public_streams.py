"""Public API streams: the cached catalog as StreamProperties, a discover on a worker
when there is none (or when asked), its failure and its time limit, roles."""

from __future__ import annotations

import copy
import time
from unittest import mock

import pytest
from django.test import Client

from apps.connectors import services
from apps.connectors.models import Source
from apps.connectors.tasks import source_discover_task
from tests.engines.fixtures import DUCKDB_ID, definition
from tests.factories import DestinationFactory, SourceFactory

URL = "/api/public/v1/streams"


def test_cached_streams_as_airbyte_describes_them(api_client, viewer, workspace):
    source = SourceFactory(workspace=workspace)

    response = api_client(viewer).get(URL, query={"sourceId": str(source.public_id)})

    assert response.status_code == 200
    streams = {s["streamName"]: s for s in response.json()}
    assert set(streams) == {s["name"] for s in source.catalog["streams"]}
    users = streams["users"]
    assert "syncModes" not in users
    assert users["sourceDefinedCursorField"] is True
    assert users["defaultCursorField"] == ["updated_at"]
    assert users["sourceDefinedPrimaryKey"] == [["id"]]
    # Sorted: PostgreSQL's jsonb does not keep the order of an object's keys.
    assert sorted(users["propertyFields"]) == [
        ["address"],
        ["id"],
        ["name"],
        ["updated_at"],
    ]


def test_sync_modes_are_what_stream_and_destination_both_support(
    api_client, viewer, workspace
):
    source = SourceFactory(workspace=workspace)
    destination = DestinationFactory(
        workspace=workspace, definition=definition(DUCKDB_ID)
    )
    catalog = copy.deepcopy(source.catalog)
    catalog["streams"].append(
        {
            "name": "snapshots",
            "json_schema": {"properties": {"id": {"type": "integer"}}},
            "supported_sync_modes": ["full_refresh"],
        }
    )
    source.catalog = catalog
    source.save(update_fields=["catalog"])

    response = api_client(viewer).get(
        URL,
        query={
            "sourceId": str(source.public_id),
            "destinationId": str(destination.public_id),
        },
    )

    modes = {s["streamName"]: s["syncModes"] for s in response.json()}
    assert modes["users"] == [
        "full_refresh_overwrite",
        "full_refresh_append",
        "incremental_append",
        "incremental_deduped_history",
    ]
    assert modes["snapshots"] == ["full_refresh_overwrite", "full_refresh_append"]


def test_outsider_gets_404_for_source_and_destination(
    api_client, outsider, viewer, workspace
):
    source = SourceFactory(workspace=workspace)
    destination = DestinationFactory(workspace=workspace)
    mine = SourceFactory(workspace=outsider.memberships.get().workspace)

    hidden = api_client(outsider).get(URL, query={"sourceId": str(source.public_id)})
    other = api_client(outsider).get(
        URL,
        query={
            "sourceId": str(mine.public_id),
            "destinationId": str(destination.public_id),
        },
    )

    assert hidden.status_code == other.status_code == 404
    assert other.json()["data"]["resourceType"] == "destination"


def test_a_viewer_cannot_start_a_discover(api_client, viewer, workspace):
    never = SourceFactory(workspace=workspace, catalog=None)
    cached = SourceFactory(workspace=workspace)
    client = api_client(viewer)

    with mock.patch.object(source_discover_task, "delay_on_commit") as sent:
        first = client.get(URL, query={"sourceId": str(never.public_id)})
        again = client.get(
            URL, query={"sourceId": str(cached.public_id), "ignoreCache": "true"}
        )

    assert first.status_code == again.status_code == 403
    assert "editor" in first.json()["detail"]
    assert not sent.called


@pytest.mark.django_db(transaction=True)
def test_a_failed_discover_is_a_problem_with_the_connectors_message(
    api_client, editor, workspace
):
    source = SourceFactory(workspace=workspace)

    def fail_on_the_worker(pk: int) -> None:
        # What the worker records when the connector fails.
        services.source_discover_record(
            source=Source.objects.get(pk=pk),
            catalog=None,
            message="Invalid API token (401 from api.example)",
        )

    with mock.patch.object(
        source_discover_task, "delay_on_commit", side_effect=fail_on_the_worker
    ):
        response = api_client(editor).get(
            URL, query={"sourceId": str(source.public_id), "ignoreCache": "true"}
        )

    assert response.status_code == 400
    assert "Invalid API token (401 from api.example)" in response.json()["detail"]
    source.refresh_from_db()
    assert source.discover_status == "failed"


@pytest.mark.django_db(transaction=True)
def test_no_worker_answering_is_a_503_within_the_wait(
    api_client, editor, workspace, settings
):
    settings.API_WAIT_SECONDS = 1
    source = SourceFactory(workspace=workspace, catalog=None)

    with mock.patch.object(source_discover_task, "delay_on_commit") as sent:
        started = time.monotonic()
        response = api_client(editor).get(
            URL, query={"sourceId": str(source.public_id)}
        )

    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert "No worker finished" in response.json()["detail"]
    assert sent.call_count == 1
    source.refresh_from_db()
    assert source.discover_status == "pending"


def test_calls_past_the_waiting_limit_are_refused_before_asking_for_work(
    api_token, editor, workspace, settings
):
    """Each wait holds a web thread: past the limit a call is a 429 at once."""
    from apps.api import waiting

    settings.API_MAX_WAITING = 1
    source = SourceFactory(workspace=workspace, catalog=None)

    with (
        waiting._waiting_slot(),
        mock.patch.object(source_discover_task, "delay_on_commit") as sent,
    ):
        # A plain client: Airbyte's problems file has no 429 to check it against.
        response = Client().get(
            URL,
            {"sourceId": str(source.public_id)},
            headers={"Authorization": f"Bearer {api_token(editor)}"},
        )

    assert response.status_code == 429
    assert "waiting for a worker" in response.json()["detail"]
    assert response["Retry-After"]
    assert sent.call_count == 0
    source.refresh_from_db()
    assert source.discover_status != "pending"


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_discovers_a_source_created_through_the_api(
    api_client, editor, workspace, worker, real_connectors, faker_installed, settings
):
    settings.API_WAIT_SECONDS = 120
    worker()
    client = api_client(editor)
    created = client.post(
        "/api/public/v1/sources",
        json={
            "name": "Fake shop",
            "workspaceId": str(workspace.public_id),
            "configuration": {"sourceType": "faker", "count": 10, "seed": 1},
        },
    )
    assert created.status_code == 200

    response = client.get(URL, query={"sourceId": created.json()["sourceId"]})

    assert response.status_code == 200
    streams = {s["streamName"]: s for s in response.json()}
    assert {"users", "products", "purchases"} <= set(streams)
    assert ["id"] in streams["users"]["sourceDefinedPrimaryKey"]
    source = Source.objects.get(public_id=created.json()["sourceId"])
    assert source.discover_status == "succeeded"
    assert source.catalog_discovered_at is not None
