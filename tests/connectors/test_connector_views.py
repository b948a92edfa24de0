"""Sources and destinations in the browser's terms: create, test, discover, edit."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from django.db import connection as db_connection
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.connectors import services
from apps.connectors.models import Destination, Source
from apps.core.masking import MASK
from tests.engines.fixtures import DUCKDB_ID, FAKER_ID, POSTGRES_ID, definition
from tests.factories import ConnectionFactory
from tests.services_plugin import port_open, skip_or_fail

CANARY = "canary-Pg-secret-4242"


@pytest.fixture
def no_tasks():
    """Background work is run explicitly by the tests, not by a broker."""
    with (
        mock.patch(
            "apps.connectors.tasks.connector_check_task.delay_on_commit"
        ) as check,
        mock.patch(
            "apps.connectors.tasks.source_discover_task.delay_on_commit"
        ) as disc,
    ):
        yield check, disc


@pytest.fixture
def postgres_up():
    if not port_open("postgres://127.0.0.1:5432", 5432):
        skip_or_fail("needs PostgreSQL at 127.0.0.1:5432")


def url(name: str, workspace, *args) -> str:
    return reverse(f"connectors:{name}", args=[workspace.public_id, *args])


def test_editor_creates_a_faker_source_and_its_test_runs(
    editor, workspace, login, real_connectors, faker_installed, no_tasks
):
    faker = definition(FAKER_ID)
    client = login(editor)
    form = client.get(url("source_create", workspace), {"definition": faker.public_id})
    assert form.status_code == 200
    assert 'name="cfg__count"' in form.text
    response = client.post(
        url("source_create", workspace),
        {
            "definition": faker.public_id,
            "name": "Fake users",
            "cfg__count": "50",
            "cfg__seed": "7",
            "cfg__records_per_slice": "100",
            "cfg__parallelism": "1",
        },
    )
    assert response.status_code == 302, response.text[:2000]
    source = Source.objects.get(name="Fake users")
    assert source.config["count"] == 50
    assert AuditEvent.objects.filter(
        action="source.created", target_id=str(source.public_id)
    ).exists()
    check_task, _ = no_tasks
    check_task.assert_called_once_with("source", source.pk)
    assert source.last_check_status == "pending"

    result = services.connector_check_run(kind="source", pk=source.pk)
    assert result.ok
    page = client.get(
        url("source_check", workspace, source.public_id), headers={"HX-Request": "true"}
    )
    assert "<html" not in page.text
    assert "Passed" in page.text
    assert "every 1s" not in page.text  # polling stops once the result is in

    services.source_discover_run(pk=source.pk)
    source.refresh_from_db()
    names = sorted(s["name"] for s in source.catalog["streams"])
    assert names == ["products", "purchases", "users"]
    detail = client.get(url("source_detail", workspace, source.public_id))
    assert "purchases" in detail.text


def test_invalid_faker_config_keeps_input_and_names_the_field(
    editor, workspace, login, real_connectors, faker_installed, no_tasks
):
    faker = definition(FAKER_ID)
    response = login(editor).post(
        url("source_create", workspace),
        {"definition": faker.public_id, "name": "Broken", "cfg__count": "abc"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400
    assert "<html" not in response.text
    assert 'value="abc"' in response.text
    assert not Source.objects.filter(name="Broken").exists()


def test_viewer_cannot_create_a_source(viewer, workspace, login):
    faker = definition(FAKER_ID)
    response = login(viewer).post(
        url("source_create", workspace), {"definition": faker.public_id, "name": "x"}
    )
    assert response.status_code == 403
    assert not Source.objects.exists()


def test_outsider_gets_404_for_a_source(outsider, workspace, login):
    source = Source.objects.create(
        workspace=workspace, name="S", definition=definition(FAKER_ID)
    )
    response = login(outsider).get(url("source_detail", workspace, source.public_id))
    assert response.status_code == 404


def _postgres_post(name: str, password: str, port: int = 5432) -> dict:
    return {
        "definition": definition(POSTGRES_ID).public_id,
        "name": name,
        "cfg__host": "127.0.0.1",
        "cfg__port": str(port),
        "cfg__database": "postgres",
        "cfg__schema": "console_check",
        "cfg__username": "postgres",
        "cfg__password": password,
        "cfg__ssl_mode": "disable",
    }


def test_postgres_destination_secret_is_encrypted_masked_and_kept(
    editor, workspace, login, no_tasks, postgres_up
):
    client = login(editor)
    response = client.post(
        url("destination_create", workspace), _postgres_post("Warehouse", CANARY)
    )
    assert response.status_code == 302
    destination = Destination.objects.get(name="Warehouse")
    with db_connection.cursor() as cursor:
        cursor.execute(
            "SELECT secrets FROM connectors_destination WHERE id = %s", [destination.pk]
        )
        raw = cursor.fetchone()[0]
    assert raw.startswith("gAAAA") and CANARY not in raw
    assert CANARY not in "".join(str(e.changes) for e in AuditEvent.objects.all())

    edit = client.get(url("destination_edit", workspace, destination.public_id))
    assert CANARY not in edit.text
    assert MASK in edit.text
    # Posting the mask back keeps the stored password.
    client.post(
        url("destination_edit", workspace, destination.public_id),
        _postgres_post("Warehouse", MASK),
    )
    destination.refresh_from_db()
    assert json.loads(destination.secrets) == {"/password": CANARY}

    result = services.connector_check_run(kind="destination", pk=destination.pk)
    assert result.ok, result.message
    for name in ("destination_detail", "destination_check", "destination_edit"):
        page = client.get(url(name, workspace, destination.public_id))
        assert CANARY not in page.text, name
    listing = client.get(url("destination_list", workspace))
    assert "Passed" in listing.text


def test_postgres_check_failure_says_why(
    editor, workspace, login, no_tasks, postgres_up
):
    client = login(editor)
    client.post(
        url("destination_create", workspace), _postgres_post("Nowhere", "x", port=1)
    )
    destination = Destination.objects.get(name="Nowhere")
    result = services.connector_check_run(kind="destination", pk=destination.pk)
    assert not result.ok
    destination.refresh_from_db()
    assert destination.last_check_status == "failed"
    assert (
        "127.0.0.1" in destination.last_check_message
        or "connect" in destination.last_check_message.lower()
    )


def test_duckdb_destination_checks(
    editor, workspace, login, no_tasks, settings, tmp_path
):
    settings.DUCKDB_DIR = tmp_path
    client = login(editor)
    response = client.post(
        url("destination_create", workspace),
        {
            "definition": definition(DUCKDB_ID).public_id,
            "name": "Local duck",
            "cfg__destination_path": "warehouse.duckdb",
        },
    )
    assert response.status_code == 302, response.text[:3000]
    destination = Destination.objects.get(name="Local duck")
    result = services.connector_check_run(kind="destination", pk=destination.pk)
    assert result.ok, result.message


def test_delete_is_refused_while_a_connection_uses_it(editor, workspace, login):
    connection = ConnectionFactory(workspace=workspace, name="Nightly")
    source = connection.source
    response = login(editor).post(
        url("source_delete", workspace, source.public_id), follow=True
    )
    assert "used by 1 connection: Nightly" in response.text
    assert Source.objects.filter(pk=source.pk).exists()


def test_delete_unused_source(editor, workspace, login):
    source = Source.objects.create(
        workspace=workspace, name="Old", definition=definition(FAKER_ID)
    )
    response = login(editor).post(url("source_delete", workspace, source.public_id))
    assert response.status_code == 302
    assert not Source.objects.filter(pk=source.pk).exists()
    assert AuditEvent.objects.filter(action="source.deleted").exists()


def test_source_list_query_count_is_bounded(
    viewer, workspace, login, django_assert_max_num_queries
):
    faker = definition(FAKER_ID)
    for n in range(20):
        Source.objects.create(workspace=workspace, name=f"S{n}", definition=faker)
    client = login(viewer)
    with django_assert_max_num_queries(10):
        response = client.get(url("source_list", workspace))
    assert response.text.count("Sample Data (Faker)") >= 20


def test_inline_create_from_the_connection_flow_selects_the_new_source(
    editor, workspace, login, real_connectors, faker_installed, no_tasks
):
    faker = definition(FAKER_ID)
    client = login(editor)
    picker = client.get(
        url("source_create", workspace), {"inline": "1"}, headers={"HX-Request": "true"}
    )
    assert "<html" not in picker.text
    assert "inline=1" in picker.text
    form = client.get(
        url("source_create", workspace),
        {"inline": "1", "definition": faker.public_id},
        headers={"HX-Request": "true"},
    )
    assert 'name="inline" value="1"' in form.text
    response = client.post(
        url("source_create", workspace),
        {
            "inline": "1",
            "definition": faker.public_id,
            "name": "Inline faker",
            "cfg__count": "10",
            "cfg__seed": "1",
            "cfg__records_per_slice": "10",
            "cfg__parallelism": "1",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    source = Source.objects.get(name="Inline faker")
    assert f'<option value="{source.pk}" selected>' in response.text
    assert 'hx-swap-oob="true"' in response.text
    check_task, discover_task = no_tasks
    check_task.assert_called_once_with("source", source.pk)
    discover_task.assert_called_once_with(source.pk)


def test_the_form_links_the_docs_only_when_they_are_a_web_address(
    editor, workspace, login
):
    duckdb = definition(DUCKDB_ID)
    client = login(editor)
    form = url("destination_create", workspace)
    page = client.get(form, {"definition": duckdb.public_id})
    assert f'href="{duckdb.documentation_url}"' in page.text

    duckdb.documentation_url = "javascript:alert(1)"
    duckdb.save(update_fields=["documentation_url"])
    page = client.get(form, {"definition": duckdb.public_id})
    assert "javascript:" not in page.text
