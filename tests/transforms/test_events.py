"""A transform's end is news: ``transform.succeeded`` / ``transform.failed`` reach
the workspace's webhooks, and a failure its notification list (issue #14 item 4)."""

from __future__ import annotations

import json

import pytest

from apps.transforms.models import TransformRun
from apps.webhooks.models import Notification, WebhookDelivery
from apps.webhooks.services import dispatch, endpoints
from tests.transforms.runs_helpers import (
    dbt_project_yml,
    duckdb_destination,
    make_project,
    run_now,
    set_file,
)
from tests.webhooks import conftest as webhook_fixtures

# A real HTTP server on 127.0.0.1 that keeps what it receives.
receiver = webhook_fixtures.receiver


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    ids: list[int] = []
    monkeypatch.setattr(dispatch, "enqueue_delivery", ids.append)
    return ids


@pytest.fixture
def project(workspace, settings, tmp_path, dbt_settings):
    settings.DUCKDB_DIR = tmp_path / "duck"
    settings.TRANSFORMS_DIR = tmp_path / "transforms"
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    from apps.engines.embedded.destinations.duckdb import resolve_duckdb_path

    # The folder a first sync would have made for the workspace's DuckDB file.
    resolve_duckdb_path(
        "warehouse.duckdb", workspace_id=str(workspace.public_id)
    ).parent.mkdir(parents=True, exist_ok=True)
    return make_project(
        workspace,
        duckdb_destination(workspace),
        {
            "dbt_project.yml": dbt_project_yml("acme"),
            "models/orders.sql": "select 1 as id, 'paid' as status\n",
        },
        name="Acme models",
    )


def _events(admin, workspace, receiver, **kwargs):
    endpoint, _ = endpoints.webhook_endpoint_create(
        actor=admin,
        workspace=workspace,
        name=kwargs.pop("name", "ops"),
        url=receiver.url,
        events=kwargs.pop("events", "transform.succeeded,transform.failed"),
        **kwargs,
    )
    return endpoint


def test_a_failed_build_reaches_the_webhook_and_the_notification_list(
    admin, workspace, project, receiver, enqueued, django_capture_on_commit_callbacks
):
    _events(admin, workspace, receiver)
    set_file(project, "models/orders.sql", "select id from no_such_table\n")

    with django_capture_on_commit_callbacks(execute=True):
        run = run_now(project, admin)

    assert run.status == TransformRun.Status.FAILED
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "transform.failed"
    assert dispatch.webhook_delivery_attempt(delivery_id=enqueued[0])
    body = json.loads(receiver.received[0].body)
    assert body["type"] == "transform.failed"
    data = body["data"]
    assert data["project"]["name"] == "Acme models"
    assert data["run"]["number"] == run.number
    assert data["run"]["command"] == "build"
    assert data["success"] is False
    assert "orders" in data["error"]["message"]
    assert data["error"]["message"] == run.failure_message
    # The team sees it in the console too, linking to the run.
    note = Notification.objects.get(workspace=workspace)
    assert note.event == "transform.failed"
    assert note.level == Notification.Level.ERROR
    assert note.title == "Transform failed: Acme models"
    assert "orders" in note.body
    assert note.link == f"/w/{workspace.public_id}/transforms/runs/{run.public_id}/"
    assert data["run"]["url"].endswith(note.link)
    assert data["project"]["url"].endswith(
        f"/w/{workspace.public_id}/transforms/{project.public_id}/"
    )


def test_a_successful_build_reaches_the_webhook_and_the_list_as_news(
    admin, workspace, project, receiver, enqueued, django_capture_on_commit_callbacks
):
    _events(admin, workspace, receiver, events="transform.succeeded")

    with django_capture_on_commit_callbacks(execute=True):
        run = run_now(project, admin)

    assert run.status == TransformRun.Status.SUCCEEDED, run.failure_message
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "transform.succeeded"
    data = delivery.payload["data"]
    assert data["success"] is True
    assert data["nodes"] == {"success": 1}
    assert "error" not in data
    # Kept in the list as news, not as an error (members choose to see successes).
    note = Notification.objects.get(workspace=workspace)
    assert (note.event, note.level) == ("transform.succeeded", Notification.Level.INFO)
    assert note.title == "Transform succeeded: Acme models"


def test_a_slack_endpoint_gets_the_project_and_the_reason(
    admin, workspace, project, receiver, enqueued, django_capture_on_commit_callbacks
):
    _events(admin, workspace, receiver, events="transform.failed", format="slack")
    set_file(project, "models/orders.sql", "select id from no_such_table\n")

    with django_capture_on_commit_callbacks(execute=True):
        run_now(project, admin)

    payload = WebhookDelivery.objects.get().payload
    assert payload["text"] == "Transform failed: Acme models"
    blocks = json.dumps(payload["blocks"])
    assert "run #1: dbt build" in blocks
    assert "no_such_table" in blocks


def test_previews_and_parses_a_page_asks_for_are_no_news(
    admin, workspace, project, receiver, enqueued, django_capture_on_commit_callbacks
):
    _events(admin, workspace, receiver)
    set_file(project, "models/orders.sql", "select id from no_such_table\n")

    with django_capture_on_commit_callbacks(execute=True):
        parsed = run_now(project, admin, command="parse")
        shown = run_now(project, admin, command="show", selector="orders")

    assert parsed.status == TransformRun.Status.SUCCEEDED, parsed.failure_message
    assert shown.status == TransformRun.Status.FAILED
    assert not WebhookDelivery.objects.exists()
    assert not Notification.objects.exists()


def test_endpoints_can_subscribe_to_transform_events(admin, workspace):
    endpoint, _ = endpoints.webhook_endpoint_create(
        actor=admin,
        workspace=workspace,
        name="dbt",
        url="http://127.0.0.1:9/dbt",
        events=["transform.succeeded", "transform.failed"],
    )
    assert endpoint.event_labels == ["Transform succeeded", "Transform failed"]
