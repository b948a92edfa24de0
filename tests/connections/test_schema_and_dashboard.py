"""Refresh schema shows what changed and applies per policy; the dashboard adds up."""

from __future__ import annotations

import copy
import uuid
from datetime import timedelta
from unittest import mock

from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.connections import services
from apps.connections.models import SyncJob
from apps.engines.base import DiscoveredCatalog, DiscoveredStream
from tests.factories import FAKER_CATALOG, ConnectionFactory, SourceFactory


def changed_catalog() -> DiscoveredCatalog:
    users = copy.deepcopy(FAKER_CATALOG["streams"][0])
    users["json_schema"]["properties"]["nickname"] = {"type": "string"}
    del users["json_schema"]["properties"]["address"]
    return DiscoveredCatalog(
        streams=(
            DiscoveredStream(
                name="users",
                json_schema=users["json_schema"],
                supported_sync_modes=("full_refresh", "incremental"),
                source_defined_cursor=True,
                default_cursor_field=("updated_at",),
                source_defined_primary_key=(("id",),),
            ),
            DiscoveredStream(name="purchases", json_schema={"properties": {"id": {}}}),
        )
    )


def make_connection(admin, workspace, policy="ignore"):
    source = SourceFactory(workspace=workspace)
    connection = services.connection_create(
        actor=admin,
        workspace=workspace,
        name="C",
        source=source,
        destination=ConnectionFactory(workspace=workspace).destination,
        streams=[
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
            },
            {"name": "products"},
        ],
        schema_change_policy=policy,
    )
    return connection


def refresh(client, workspace, connection):
    """Ask for a refresh, let the worker run the discover, and poll once (#13: the
    discover runs on a worker, not in the request)."""
    from apps.connectors.tasks import source_discover_task

    schema_url = reverse(
        "connections:schema", args=[workspace.public_id, connection.public_id]
    )
    with mock.patch.object(source_discover_task, "delay_on_commit") as queued:
        asked = client.post(
            schema_url, {"action": "refresh"}, headers={"HX-Request": "true"}
        )
    assert 'hx-trigger="every 2s"' in asked.text
    with mock.patch("apps.connectors.services.get_engine") as engine:
        engine.return_value.discover.return_value = changed_catalog()
        source_discover_task(*queued.call_args.args)
    return client.get(schema_url, headers={"HX-Request": "true"})


def test_refresh_schema_shows_the_difference(admin, workspace, login):
    connection = make_connection(admin, workspace)
    response = refresh(login(admin), workspace, connection)
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "purchases" in response.text  # new stream
    assert "nickname" in response.text and "address" in response.text
    assert "The synced stream products is gone." in response.text  # breaking
    # The policy is "ignore": nothing changed until someone applies it.
    assert connection.streams.get(name="users").json_schema["properties"].get("address")


def test_apply_follows_the_new_schema(admin, workspace, login):
    connection = make_connection(admin, workspace)
    client = login(admin)
    refresh(client, workspace, connection)
    client.post(
        reverse("connections:schema", args=[workspace.public_id, connection.public_id]),
        {"action": "apply"},
    )
    names = sorted(connection.streams.values_list("name", flat=True))
    assert names == ["purchases", "users"]
    users = connection.streams.get(name="users")
    assert "nickname" in users.json_schema["properties"]
    assert users.destination_sync_mode == "append_dedup"  # the user's choice stays
    assert connection.streams.get(name="purchases").selected is False
    assert AuditEvent.objects.filter(action="connection.schema_applied").exists()


def test_disable_policy_pauses_on_change(admin, workspace, login):
    connection = make_connection(admin, workspace, policy="disable_connection")
    refresh(login(admin), workspace, connection)
    connection.refresh_from_db()
    assert connection.status == "paused"
    assert "schema changed" in connection.status_reason


def test_viewer_cannot_refresh_schema(viewer, workspace, login):
    connection = ConnectionFactory(workspace=workspace)
    response = login(viewer).post(
        reverse("connections:schema", args=[workspace.public_id, connection.public_id]),
        {"action": "refresh"},
    )
    assert response.status_code == 403


def test_dashboard_counts(admin, workspace, login, django_assert_max_num_queries):
    now = timezone.now()
    for n in range(6):
        connection = ConnectionFactory(
            workspace=workspace, status="paused" if n == 0 else "active"
        )
        SyncJob.objects.create(
            public_id=uuid.uuid4(),
            connection=connection,
            trigger="manual",
            status="failed" if n == 1 else "succeeded",
            records_committed=100,
            failure_message="Boom at the source" if n == 1 else "",
            failure_origin="source" if n == 1 else "",
            finished_at=now,
        )
    running = ConnectionFactory(workspace=workspace, name="Busy one")
    SyncJob.objects.create(
        public_id=uuid.uuid4(), connection=running, trigger="manual", status="running"
    )
    SyncJob.objects.filter(status="succeeded").update(
        created_at=now - timedelta(days=2)
    )
    client = login(admin)
    with django_assert_max_num_queries(20):
        page = client.get(reverse("workspaces:detail", args=[workspace.public_id]))
    text = page.text
    assert "Active: 6" in text and "Paused: 1" in text
    assert "Failed: 1" in text and "Running: 1" in text
    assert "600" in text  # records over 30 days
    assert "Busy one" in text
    assert "Boom at the source" in text


def test_schema_changes_and_pauses_reach_webhooks(admin, workspace, login):
    from apps.webhooks.models import WebhookDelivery
    from apps.webhooks.services.endpoints import webhook_endpoint_create

    webhook_endpoint_create(
        actor=admin,
        workspace=workspace,
        name="ops",
        url="https://hooks.example.com/x",
        events=["schema.changed", "connection.disabled"],
    )
    connection = make_connection(admin, workspace)
    with mock.patch("apps.webhooks.tasks.webhook_deliver_task.delay"):
        refresh(login(admin), workspace, connection)
        services.connection_set_status(
            actor=admin, connection=connection, status="paused"
        )
    events = sorted(WebhookDelivery.objects.values_list("event", flat=True))
    assert events == ["connection.disabled", "schema.changed"]
    schema = WebhookDelivery.objects.get(event="schema.changed").payload
    assert "purchases" in str(schema)
