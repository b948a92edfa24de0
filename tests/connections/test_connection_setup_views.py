"""Building a connection: field pickers from the schema and the review step."""

from __future__ import annotations

import json

from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.connections.forms import field_paths
from apps.connections.models import Connection
from tests.engines.fixtures import POSTGRES_ID, definition
from tests.factories import (
    FAKER_CATALOG,
    ConnectionFactory,
    DestinationFactory,
    SourceFactory,
)

NESTED = {
    "streams": [
        {
            "name": "orders",
            "json_schema": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "customer": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "address": {
                                "type": "object",
                                "properties": {"city": {"type": ["null", "string"]}},
                            },
                        },
                    },
                    "changed.at": {"type": "string", "format": "date-time"},
                },
            },
            "supported_sync_modes": ["full_refresh", "incremental"],
        },
        *FAKER_CATALOG["streams"],
    ]
}


def url(name, workspace, *args):
    return reverse(f"connections:{name}", args=[workspace.public_id, *args])


def p(*parts: str) -> str:
    return json.dumps(list(parts))


def test_nested_paths_are_listed_with_their_types():
    paths = field_paths(NESTED["streams"][0]["json_schema"])
    assert [(f.label, f.type) for f in paths] == [
        ("id", "integer"),
        ("customer", "object"),
        ("customer.id", "string"),
        ("customer.address", "object"),
        ("customer.address.city", "string"),
        ("changed.at", "string"),
    ]


def test_pickers_offer_the_streams_fields_and_fix_source_defined_ones(
    editor, workspace, login, htmx_headers
):
    source = SourceFactory(workspace=workspace, catalog=NESTED)
    response = login(editor).get(
        url("streams", workspace), {"source": source.pk}, headers=htmx_headers
    )
    html = response.text
    assert "<html" not in html
    # The cursor is a select of the stream's fields, nested ones included.
    assert 'aria-label="Cursor of orders"' in html
    assert 'type="text" name="stream-0-cursor"' not in html
    assert "customer.address.city (string)" in html
    # The primary key: one checkbox per field.
    assert 'name="stream-0-pk" value="[&quot;customer&quot;, &quot;id&quot;]"' in html
    # users: cursor and key set by the source, shown fixed.
    users = html.split('data-stream-row="users"', 1)[1].split("</tr>", 1)[0]
    assert "set by the source" in users
    assert '<select name="stream-1-cursor"' not in users
    # Where they apply is said on each cell, so full refresh hides them.
    assert 'data-applies="cursor"' in html and "Not used by full refresh" in html
    assert 'data-applies="pk"' in html and "Only for deduped modes" in html


def test_picked_nested_cursor_and_composite_key_are_saved(editor, workspace, login):
    source = SourceFactory(workspace=workspace, catalog=NESTED)
    destination = DestinationFactory(workspace=workspace)
    response = login(editor).post(
        url("create", workspace),
        {
            "name": "Orders",
            "source": source.pk,
            "destination": destination.pk,
            "namespace": "shop",
            "schema_change_policy": "ignore",
            "action": "save",
            "stream-0-selected": "on",
            "stream-0-mode": "incremental:append_dedup",
            "stream-0-cursor": p("changed.at"),
            "stream-0-pk": [p("id"), p("customer", "id")],
            "stream-1-mode": "full_refresh:overwrite",
            "stream-2-mode": "full_refresh:overwrite",
        },
    )
    assert response.status_code == 302, response.text[:3000]
    orders = Connection.objects.get(name="Orders").streams.get(name="orders")
    assert orders.cursor_field == ["changed.at"]
    assert orders.primary_key == [["id"], ["customer", "id"]]


def _review_post(source, destination, **extra):
    return {
        "name": "Faker to PG",
        "source": source.pk,
        "destination": destination.pk,
        "namespace": "faker",
        "table_prefix": "raw_",
        "schema_change_policy": "ignore",
        "stream-0-selected": "on",
        "stream-0-mode": "incremental:append_dedup",
        "stream-0-cursor": p("updated_at"),
        "stream-0-pk": p("id"),
        "stream-1-selected": "on",
        "stream-1-mode": "full_refresh:overwrite",
        **extra,
    }


def test_the_review_step_shows_tables_modes_schedule_and_first_sync(
    editor, workspace, login, htmx_headers
):
    source = SourceFactory(workspace=workspace, name="Faker")
    destination = DestinationFactory(
        workspace=workspace, name="Warehouse", definition=definition(POSTGRES_ID)
    )
    client = login(editor)
    form = client.get(url("create", workspace))
    assert "Next: review" in form.text
    assert "Save connection" not in form.text
    response = client.post(
        url("create", workspace),
        _review_post(source, destination, action="review"),
        headers=htmx_headers,
    )
    assert response.status_code == 200
    html = response.text
    assert "<html" not in html
    assert not Connection.objects.exists()
    assert 'data-testid="review"' in html
    assert '<li class="current" aria-current="step">Review and save</li>' in html
    # The writer's own table names, from the destination's descriptor.
    assert "<code>faker.raw_users</code>" in html
    assert "<code>faker.raw_products</code>" in html
    assert "Incremental | Append + Deduped" in html and "primary key id" in html
    assert "Full refresh | Overwrite" in html
    assert "A full load of 2 streams into 2 tables" in html
    assert "1 of them then syncs incrementally" in html
    assert "Schedule" in html and "Sync now" in html
    assert "Save connection" in html and "Back to the settings" in html
    # The form stays in the page, hidden, so the save posts the same choices.
    assert 'class="edit-steps" hidden' in html

    saved = client.post(
        url("create", workspace),
        _review_post(source, destination, action="save"),
        headers=htmx_headers,
    )
    assert saved.status_code == 204 and saved["HX-Redirect"]
    assert Connection.objects.filter(name="Faker to PG").exists()
    assert AuditEvent.objects.filter(action="connection.created").count() == 1


def test_review_refuses_what_the_save_would_refuse(editor, workspace, login):
    source = SourceFactory(workspace=workspace)
    destination = DestinationFactory(workspace=workspace)
    ConnectionFactory(workspace=workspace, name="Faker to PG")
    response = login(editor).post(
        url("create", workspace),
        _review_post(
            source,
            destination,
            action="review",
            **{"stream-1-mode": "incremental:append"},
        ),
    )
    assert response.status_code == 400
    assert "already exists" in response.text
    assert "Stream products: the source does not support incremental" in response.text
    assert 'data-testid="review"' not in response.text


def test_review_warns_about_tables_another_connection_writes(editor, workspace, login):
    source = SourceFactory(workspace=workspace)
    destination = DestinationFactory(
        workspace=workspace, definition=definition(POSTGRES_ID)
    )
    other = ConnectionFactory(
        workspace=workspace,
        name="Older",
        source=source,
        destination=destination,
        namespace="faker",
        table_prefix="raw_",
    )
    other.streams.create(name="users", selected=True)
    destination.last_check_status = "failed"
    destination.last_check_message = "Connection refused"
    destination.save()
    response = login(editor).post(
        url("create", workspace), _review_post(source, destination, action="review")
    )
    assert response.status_code == 200
    users = response.text.split("<code>faker.raw_users</code>", 1)[1][:200]
    assert "also written by Older" in users
    assert "failed its last connection test: Connection refused" in response.text


def test_back_from_the_review_keeps_every_choice(editor, workspace, login):
    source = SourceFactory(workspace=workspace)
    destination = DestinationFactory(workspace=workspace)
    response = login(editor).post(
        url("create", workspace), _review_post(source, destination, action="edit")
    )
    assert response.status_code == 200
    assert 'data-testid="review"' not in response.text
    assert 'value="Faker to PG"' in response.text
    assert 'id="stream-1-selected" aria-label="Sync products" checked' in response.text


def test_viewer_cannot_review_and_outsider_gets_404(viewer, outsider, workspace, login):
    source = SourceFactory(workspace=workspace)
    destination = DestinationFactory(workspace=workspace)
    data = _review_post(source, destination, action="review")
    assert login(viewer).post(url("create", workspace), data).status_code == 403
    assert login(outsider).post(url("create", workspace), data).status_code == 404
