"""Test before save: the form's settings are tested on a worker before anything is
saved; a failure keeps the form with the message beside its cause."""

from __future__ import annotations

import json
from datetime import timedelta
from unittest import mock

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.connectors import services
from apps.connectors.models import ConnectorDraftCheck, Destination
from apps.connectors.spec.check_errors import FieldRef, failure_pointer
from apps.core.masking import MASK
from tests.engines.fixtures import POSTGRES_ID, definition
from tests.services_plugin import port_open, skip_or_fail

CANARY = "canary-draft-secret-77"
HX = {"HX-Request": "true"}


@pytest.fixture
def queued():
    """The worker's tasks, run explicitly by each test."""
    with (
        mock.patch(
            "apps.connectors.tasks.connector_draft_check_task.delay_on_commit"
        ) as draft_task,
        mock.patch(
            "apps.connectors.tasks.connector_check_task.delay_on_commit"
        ) as check_task,
    ):
        yield draft_task, check_task


@pytest.fixture
def postgres_up():
    if not port_open("postgres://127.0.0.1:5432", 5432):
        skip_or_fail("needs PostgreSQL at 127.0.0.1:5432")


def url(name: str, workspace, *args) -> str:
    return reverse(f"connectors:{name}", args=[workspace.public_id, *args])


def _post(name: str, *, database: str = "postgres", port: int = 5432, **extra):
    return {
        "definition": definition(POSTGRES_ID).public_id,
        "name": name,
        "cfg__host": "127.0.0.1",
        "cfg__port": str(port),
        "cfg__database": database,
        "cfg__schema": "console_check",
        "cfg__username": "postgres",
        "cfg__password": CANARY,
        "cfg__ssl_mode": "disable",
        **extra,
    }


def _draft_id(html: str) -> str:
    marker = 'name="draft" value="'
    assert marker in html, html[:3000]
    return html.split(marker, 1)[1].split('"', 1)[0]


def test_a_failing_test_keeps_the_form_with_the_error_beside_the_database(
    editor, workspace, login, queued, postgres_up
):
    client = login(editor)
    data = _post("Warehouse", database="no_such_db_h7", action="test")
    response = client.post(url("destination_create", workspace), data, headers=HX)
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "Testing the connection" in response.text
    assert not Destination.objects.exists()
    draft_task, _ = queued
    draft = ConnectorDraftCheck.objects.get()
    draft_task.assert_called_once_with(draft.pk)
    # The typed password went back to the page as the mask, never in clear.
    assert CANARY not in response.text
    assert "The value you typed is kept for the test" in response.text
    draft_id = _draft_id(response.text)

    poll = {**data, "action": "poll", "draft": draft_id, "cfg__password": MASK}
    still = client.post(url("destination_create", workspace), poll, headers=HX)
    assert still.status_code == 204

    result = services.connector_draft_check_run(pk=draft.pk)
    assert not result.ok
    failed = client.post(url("destination_create", workspace), poll, headers=HX)
    assert failed.status_code == 400
    assert not Destination.objects.exists()
    # The message sits in the Database field's error block, not only at the top.
    field = failed.text.split('data-spec-field="/database"', 1)[1]
    field = field.split('data-spec-field="', 1)[0]
    assert "no_such_db_h7" in field and "test failed" in field
    assert "Save anyway" in failed.text
    assert AuditEvent.objects.filter(
        action="destination.tested", outcome=AuditEvent.Outcome.FAILURE
    ).exists()

    saved = client.post(
        url("destination_create", workspace),
        {**poll, "action": "save_anyway"},
        headers=HX,
    )
    assert saved.status_code == 204 and saved["HX-Redirect"]
    destination = Destination.objects.get(name="Warehouse")
    assert destination.last_check_status == "failed"
    assert "no_such_db_h7" in destination.last_check_message
    # The password is the one typed before the test, though the page only had the mask.
    assert json.loads(destination.secrets) == {"/password": CANARY}
    assert not ConnectorDraftCheck.objects.exists()
    event = AuditEvent.objects.get(action="destination.created")
    assert event.changes["test"] == [None, "failed"]


def test_a_passing_test_saves_and_records_it(
    editor, workspace, login, queued, postgres_up
):
    client = login(editor)
    data = _post("Good warehouse", action="test")
    first = client.post(url("destination_create", workspace), data, headers=HX)
    draft = ConnectorDraftCheck.objects.get()
    assert services.connector_draft_check_run(pk=draft.pk).ok
    poll = {**data, "action": "poll", "draft": _draft_id(first.text)}
    poll["cfg__password"] = MASK
    done = client.post(url("destination_create", workspace), poll, headers=HX)
    assert done.status_code == 204 and done["HX-Redirect"]
    destination = Destination.objects.get(name="Good warehouse")
    assert destination.last_check_status == "succeeded"
    _, check_task = queued
    check_task.assert_not_called()  # tested already: no second test


def test_changed_settings_after_a_test_are_tested_again(
    editor, workspace, login, queued, postgres_up
):
    client = login(editor)
    data = _post("Edited", action="test")
    first = client.post(url("destination_create", workspace), data, headers=HX)
    draft = ConnectorDraftCheck.objects.get()
    services.connector_draft_check_run(pk=draft.pk)
    poll = {
        **data,
        "action": "poll",
        "draft": _draft_id(first.text),
        "cfg__password": MASK,
        "cfg__database": "no_such_db_h7",
    }
    again = client.post(url("destination_create", workspace), poll, headers=HX)
    assert again.status_code == 200
    assert "Testing the connection" in again.text
    assert not Destination.objects.exists()
    assert ConnectorDraftCheck.objects.count() == 2


def test_a_password_typed_after_a_failed_test_is_the_one_tested_next(
    editor, workspace, login, queued, postgres_up
):
    client = login(editor)
    data = _post("Retyped", database="no_such_db_h7", action="test")
    first = client.post(url("destination_create", workspace), data, headers=HX)
    tested = ConnectorDraftCheck.objects.get()
    services.connector_draft_check_run(pk=tested.pk)
    retyped = {
        **data,
        "draft": _draft_id(first.text),
        "cfg__password": "retyped-after-the-test",
        "action": "save_anyway",
    }
    response = client.post(url("destination_create", workspace), retyped, headers=HX)
    # Not saved with the old password: the new one is tested first.
    assert "Testing the connection" in response.text
    assert not Destination.objects.exists()
    latest = ConnectorDraftCheck.objects.exclude(pk=tested.pk).get()
    assert json.loads(latest.secrets) == {"/password": "retyped-after-the-test"}


def test_another_users_draft_is_not_used(
    editor, admin, workspace, login, queued, postgres_up
):
    data = _post("Mine", action="test")
    first = login(admin).post(url("destination_create", workspace), data, headers=HX)
    draft = ConnectorDraftCheck.objects.get()
    services.connector_draft_check_run(pk=draft.pk)
    poll = {**data, "action": "poll", "draft": _draft_id(first.text)}
    response = login(editor).post(
        url("destination_create", workspace), poll, headers=HX
    )
    # The editor's post starts its own test instead of saving on the admin's.
    assert "Testing the connection" in response.text
    assert not Destination.objects.exists()


def test_viewer_cannot_test_and_outsider_gets_404(
    viewer, outsider, workspace, login, queued
):
    data = _post("Nope", action="test")
    assert (
        login(viewer).post(url("destination_create", workspace), data).status_code
        == 403
    )
    assert (
        login(outsider).post(url("destination_create", workspace), data).status_code
        == 404
    )
    assert not ConnectorDraftCheck.objects.exists()


def test_an_edit_cannot_test_a_stored_password_against_another_host(
    editor, workspace, login, queued, postgres_up
):
    client = login(editor)
    client.post(url("destination_create", workspace), _post("Kept"))
    destination = Destination.objects.get(name="Kept")
    moved = _post("Kept", action="test", cfg__host="evil.example.com")
    moved["cfg__password"] = MASK
    response = client.post(
        url("destination_edit", workspace, destination.public_id), moved, headers=HX
    )
    assert response.status_code == 400
    assert not ConnectorDraftCheck.objects.exists()


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('FATAL: database "x" does not exist', "/database"),
        ('FATAL: role "bob" does not exist', "/username"),
        ("password authentication failed for user postgres", "/password"),
        (
            'connection to server at "127.0.0.1", port 1 failed: Connection refused',
            "/port",
        ),
        ("could not translate host name nope to address", "/host"),
        ("Something else entirely", None),
        ("The Count must be positive", "/count"),
    ],
)
def test_failure_messages_point_at_their_field(message, expected):
    fields = [
        FieldRef("/host", "host", "Host"),
        FieldRef("/port", "port", "Port"),
        FieldRef("/database", "database", "Database"),
        FieldRef("/username", "username", "User"),
        FieldRef("/password", "password", "Password", secret=True),
        FieldRef("/count", "count", "Count"),
    ]
    assert failure_pointer(message, fields) == expected


def test_failing_ones_are_flagged_in_the_picker_and_on_the_connection_page(
    editor, workspace, login
):
    from tests.factories import ConnectionFactory

    connection = ConnectionFactory(workspace=workspace, name="Nightly")
    destination = connection.destination
    destination.last_check_status = "failed"
    destination.last_check_message = 'database "gone" does not exist'
    destination.save()
    client = login(editor)
    page = client.get(
        reverse("connections:detail", args=[workspace.public_id, connection.public_id])
    )
    assert 'data-testid="connector-failing"' in page.text
    assert "database &quot;gone&quot; does not exist" in page.text
    picker = client.get(reverse("connections:create", args=[workspace.public_id]))
    assert f"{destination.name} ({destination.definition.name}) — test failed" in (
        picker.text
    )
    assert "— test failed" not in picker.text.split(destination.name)[0]


def test_inside_the_new_connection_flow_the_tested_destination_is_chosen(
    editor, workspace, login, queued, postgres_up
):
    client = login(editor)
    data = _post("Inline warehouse", action="test", inline="1")
    first = client.post(url("destination_create", workspace), data, headers=HX)
    assert 'hx-post="/w/' in first.text and "Testing the connection" in first.text
    draft = ConnectorDraftCheck.objects.get()
    assert services.connector_draft_check_run(pk=draft.pk).ok
    poll = {**data, "action": "poll", "draft": _draft_id(first.text)}
    poll["cfg__password"] = MASK
    done = client.post(url("destination_create", workspace), poll, headers=HX)
    assert done.status_code == 200
    destination = Destination.objects.get(name="Inline warehouse")
    # The connection form's select comes back with the new destination chosen.
    assert f'<option value="{destination.pk}" selected>' in done.text
    assert "created" in done.text


def test_an_edit_is_tested_before_it_is_saved(
    editor, workspace, login, queued, postgres_up
):
    client = login(editor)
    client.post(url("destination_create", workspace), _post("Edited later"))
    destination = Destination.objects.get(name="Edited later")
    edit = url("destination_edit", workspace, destination.public_id)
    data = _post("Edited later", action="test", database="no_such_db_h7")
    data["cfg__password"] = MASK  # kept: same host, so the stored one is tested
    first = client.post(edit, data, headers=HX)
    assert "Testing the connection" in first.text
    draft = ConnectorDraftCheck.objects.get()
    assert draft.target_id == destination.public_id
    assert json.loads(draft.secrets) == {"/password": CANARY}
    assert not services.connector_draft_check_run(pk=draft.pk).ok
    poll = {**data, "action": "poll", "draft": _draft_id(first.text)}
    failed = client.post(edit, poll, headers=HX)
    assert failed.status_code == 400 and "Save anyway" in failed.text
    destination.refresh_from_db()
    assert destination.config["database"] == "postgres"  # nothing saved yet
    client.post(edit, {**poll, "action": "save_anyway"}, headers=HX)
    destination.refresh_from_db()
    assert destination.config["database"] == "no_such_db_h7"
    assert destination.last_check_status == "failed"
    assert json.loads(destination.secrets) == {"/password": CANARY}


def test_a_test_no_worker_ran_says_so_and_can_be_run_again(
    editor, workspace, login, queued, postgres_up
):
    client = login(editor)
    data = _post("Waiting", action="test")
    first = client.post(url("destination_create", workspace), data, headers=HX)
    poll = {**data, "action": "poll", "draft": _draft_id(first.text)}
    poll["cfg__password"] = MASK
    with time_machine.travel(timezone.now() + timedelta(minutes=31), tick=False):
        lost = client.post(url("destination_create", workspace), poll, headers=HX)
    assert lost.status_code == 200
    assert "No worker finished the connection test" in lost.text
    assert 'hx-trigger="every 1s"' not in lost.text  # no more polling
    again = client.post(
        url("destination_create", workspace), {**poll, "action": "test"}, headers=HX
    )
    assert "Testing the connection" in again.text
    # The password typed the first time is still the one tested.
    newest = ConnectorDraftCheck.objects.order_by("-created_at").first()
    assert json.loads(newest.secrets) == {"/password": CANARY}
    assert not Destination.objects.exists()
