"""The schema refresh runs the source's discover on a worker (#13 item 5).

The discover runs a connector or calls an Airbyte server a user named: inside a web
request it would hold a thread for as long as it takes. The view asks for it and
polls; the worker records the catalog and the connections follow their policies.
"""

from __future__ import annotations

from unittest import mock

from django.urls import reverse

from apps.connectors.tasks import source_discover_task
from apps.engines.base import EngineError
from tests.connections.test_schema_and_dashboard import (
    changed_catalog,
    make_connection,
)

HX = {"HX-Request": "true"}


def schema_url(workspace, connection) -> str:
    return reverse(
        "connections:schema", args=[workspace.public_id, connection.public_id]
    )


def test_refresh_does_not_run_discover_in_the_request(
    admin, workspace, login, django_capture_on_commit_callbacks
):
    connection = make_connection(admin, workspace)
    with (
        mock.patch("apps.connectors.services.get_engine") as engine,
        mock.patch.object(source_discover_task, "apply_async") as sent,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = login(admin).post(
            schema_url(workspace, connection), {"action": "refresh"}, headers=HX
        )
    assert not engine.return_value.discover.called
    assert response.status_code == 200
    assert "<html" not in response.text
    assert 'hx-trigger="every 2s"' in response.text
    assert "A worker is running the source's discover" in response.text
    # Sent to the broker after the commit, once.
    assert sent.call_count == 1
    assert tuple(sent.call_args.args[0]) == (connection.source_id,)
    connection.source.refresh_from_db()
    assert connection.source.discover_status == "pending"


def test_the_worker_applies_the_policy_and_the_poll_stops(admin, workspace, login):
    connection = make_connection(admin, workspace, policy="propagate_fully")
    client = login(admin)
    with mock.patch.object(source_discover_task, "delay_on_commit"):
        client.post(schema_url(workspace, connection), {"action": "refresh"})
    with mock.patch("apps.connectors.services.get_engine") as engine:
        # "products" disappears: breaking, so even propagate_fully does not apply.
        engine.return_value.discover.return_value = changed_catalog()
        source_discover_task(connection.source_id)
    done = client.get(schema_url(workspace, connection), headers=HX)
    assert "every 2s" not in done.text
    assert "Breaking changes" in done.text
    connection.refresh_from_db()
    assert connection.status == "active"


def test_a_failed_discover_says_why_on_the_next_poll(admin, workspace, login):
    connection = make_connection(admin, workspace)
    client = login(admin)
    with mock.patch.object(source_discover_task, "delay_on_commit"):
        client.post(schema_url(workspace, connection), {"action": "refresh"})
    with mock.patch("apps.connectors.services.get_engine") as engine:
        engine.return_value.discover.side_effect = EngineError("Source said no.")
        source_discover_task(connection.source_id)
    done = client.get(schema_url(workspace, connection), headers=HX)
    assert "every 2s" not in done.text
    assert "The last refresh failed: Source said no." in done.text
