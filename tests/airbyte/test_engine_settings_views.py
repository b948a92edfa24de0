"""The workspace's Engine page: server settings, test connection, workspace, switch.

Role checks (admins only; viewer/editor/runner 403, outsider 404) come from the URL
matrix. These tests drive the page as an admin would, against the fake Airbyte
server where the server has to answer.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.urls import reverse

from apps.airbyte import services
from apps.airbyte.models import AirbyteServer
from apps.audit.models import AuditEvent
from apps.workspaces.models import Workspace
from tests.airbyte_fake import DEFAULT_WORKSPACE_ID, POSTGRES_DESTINATION_ID
from tests.airbyte_fake import fixtures as fake_fixtures

# The fake server's fixture, for this module (harmless once tests/conftest.py
# shares it with every module).
airbyte_fake = fake_fixtures.airbyte_fake

SECRET = "Engine-Canary-5f1c2e"
UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture(autouse=True)
def _no_retry_waits(settings):
    # An unreachable server is retried with backoff; the tests need the answer only.
    settings.AIRBYTE_HTTP_RETRIES = 0


def url(name: str, workspace) -> str:
    return reverse(f"engine:{name}", kwargs={"workspace_id": workspace.public_id})


@pytest.fixture(autouse=True)
def _probes_queued(probes):
    # Probes run on a worker (#13 item 5): the page asks, ``probes.run()`` runs.
    return probes


def ask(client, name: str, workspace, probes, data=None):
    """Ask for a probe the htmx way, let the worker run it, and poll once: the
    answer a user sees two seconds later."""
    asked = client.post(
        url(name, workspace), data or {}, headers={"HX-Request": "true"}
    )
    assert asked.status_code == 200, asked.text
    assert 'hx-trigger="every 2s"' in asked.text
    poll = re.search(r'hx-get="([^"]+/probes/[^"]+/)"', asked.text).group(1)
    assert probes.run() == 1
    return client.get(poll, headers={"HX-Request": "true"})


def field_block(html: str, name: str) -> str:
    """The ``core/_field.html`` block holding the input named ``name``."""
    match = re.search(
        r'<div class="field[^"]*">(?:(?!<div class="field).)*?name="'
        + re.escape(name)
        + r'".*?</div>',
        html,
        re.DOTALL,
    )
    assert match, f"no field {name!r} in the page"
    return match.group(0)


def save_server(workspace, **fields) -> AirbyteServer:
    values = {
        "url": UNREACHABLE,
        "auth": "application",
        "client_id": "console-client",
        "client_secret": SECRET,
        **fields,
    }
    return services.server_save(actor=None, workspace=workspace, **values)


# -- the page --------------------------------------------------------------------------


def test_engine_page_shows_current_engine_and_links_from_settings(
    admin, workspace, login
):
    client = login(admin)
    page = client.get(url("settings", workspace))
    assert page.status_code == 200
    assert 'data-testid="current-engine">Embedded<' in page.text
    assert "Save the server's settings first." in page.text
    # No import before the workspace runs on an Airbyte server.
    assert "Import from Airbyte" not in page.text
    settings_page = client.get(
        reverse("workspaces:settings", args=[workspace.public_id])
    )
    assert url("settings", workspace) in settings_page.text


def test_editor_does_not_see_the_engine_page_in_the_menu(editor, workspace, login):
    page = login(editor).get(reverse("workspaces:detail", args=[workspace.public_id]))
    assert url("settings", workspace) not in page.text


# -- saving the server's settings ------------------------------------------------------


def test_admin_saves_settings_secret_stored_encrypted_and_never_shown(
    admin, workspace, login
):
    client = login(admin)
    response = client.post(
        url("server", workspace),
        {
            "url": "http://airbyte.internal:8000/api/public/v1/",
            "auth": "application",
            "client_id": "console-client",
            "client_secret": SECRET,
        },
    )
    assert response.status_code == 302
    server = AirbyteServer.objects.get(workspace=workspace)
    assert server.url == "http://airbyte.internal:8000"
    assert server.client_id == "console-client"
    assert server.client_secret == SECRET
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT client_secret FROM engines_airbyteserver WHERE id = %s",
            [server.pk],
        )
        stored = cursor.fetchone()[0]
    assert stored and SECRET not in stored
    event = AuditEvent.objects.get(action="airbyte_server.saved")
    assert event.actor == admin
    assert "client_secret" in event.changes
    assert SECRET not in str(event.changes)

    for headers in ({}, {"HX-Request": "true"}):
        page = client.get(url("settings", workspace), headers=headers)
        assert SECRET not in page.text
    page = client.get(url("settings", workspace))
    secret_field = field_block(page.text, "client_secret")
    assert "Stored — leave blank to keep." in secret_field
    assert "value=" not in secret_field.split("<input", 1)[1].split(">", 1)[0]
    assert 'value="console-client"' in page.text


def test_blank_secret_keeps_the_stored_one(admin, workspace, login):
    save_server(workspace)
    response = login(admin).post(
        url("server", workspace),
        {
            "url": UNREACHABLE,
            "auth": "application",
            "client_id": "console-client",
            "client_secret": "",
        },
    )
    assert response.status_code == 302
    assert AirbyteServer.objects.get(workspace=workspace).client_secret == SECRET


def test_bad_url_keeps_typed_values_and_shows_error_beside_it(
    admin, workspace, login, htmx_headers
):
    response = login(admin).post(
        url("server", workspace),
        {
            "url": "localhost:8000",
            "auth": "application",
            "client_id": "console-client",
            "client_secret": SECRET,
        },
        headers=htmx_headers,
    )
    assert response.status_code == 400
    assert "<html" not in response.text
    url_field = field_block(response.text, "url")
    assert "has-error" in url_field
    assert "Enter the server&#x27;s address" in url_field
    assert 'value="localhost:8000"' in url_field
    assert 'value="console-client"' in response.text
    # What was typed into a secret field is never sent back.
    assert SECRET not in response.text
    assert not AirbyteServer.objects.exists()
    assert not AuditEvent.objects.filter(action="airbyte_server.saved").exists()


def test_basic_auth_without_password_is_refused_beside_the_password(
    admin, workspace, login
):
    response = login(admin).post(
        url("server", workspace),
        {"url": UNREACHABLE, "auth": "basic", "username": "airbyte"},
    )
    assert response.status_code == 400
    password_field = field_block(response.text, "password")
    assert "Enter the basic-auth password." in password_field
    # The basic-auth fields are the ones shown; the application's are hidden.
    assert 'data-auth-fields="basic">' in response.text
    assert 'data-auth-fields="application" hidden disabled' in response.text


# -- test connection -------------------------------------------------------------------


def test_test_connection_before_saving_says_so(admin, workspace, login, htmx_headers):
    response = login(admin).post(url("test", workspace), headers=htmx_headers)
    assert response.status_code == 400
    assert "Save the Airbyte server" in response.headers["HX-Trigger"]


def test_unreachable_server_says_reaching_the_server_failed(
    admin, workspace, login, probes
):
    server = save_server(workspace, url=UNREACHABLE)
    response = ask(login(admin), "test", workspace, probes)
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "Reaching the server failed" in response.text
    assert "Could not reach the Airbyte server at http://127.0.0.1:9" in response.text
    assert re.search(r'data-step="sign_in" data-state="skipped"', response.text)
    server.refresh_from_db()
    assert server.last_check_ok is False
    event = AuditEvent.objects.get(action="airbyte_server.tested")
    assert event.outcome == "failure"
    # The page remembers the failed test.
    page = login(admin).get(url("settings", workspace))
    assert "Reaching the server failed" in page.text


def test_test_connection_success_shows_version_and_auth_mode(
    admin, workspace, login, probes, airbyte_fake
):
    server = save_server(
        workspace,
        url=airbyte_fake.url,
        client_id=airbyte_fake.client_id,
        client_secret=airbyte_fake.client_secret,
    )
    response = ask(login(admin), "test", workspace, probes)
    assert response.status_code == 200
    assert "<html" not in response.text
    server.refresh_from_db()
    assert server.last_check_ok is True
    assert server.server_version
    for step in ("reach", "sign_in", "list"):
        assert f'data-step="{step}" data-state="ok"' in response.text
    assert f'data-testid="server-version">{server.server_version}<' in response.text
    assert f'data-testid="server-auth-mode">{server.server_auth_mode}<' in response.text
    assert "Connected to Airbyte" in response.text
    # The workspaces the test listed refresh the chooser out of band.
    assert 'id="remote-workspace" hx-swap-oob="true"' in response.text
    assert '<option value="' in response.text.split('id="remote-workspace"')[1]
    assert airbyte_fake.client_secret not in response.text
    assert AuditEvent.objects.get(action="airbyte_server.tested").outcome == "success"


def test_wrong_secret_says_signing_in_failed_and_why(
    admin, workspace, login, probes, airbyte_fake
):
    server = save_server(
        workspace,
        url=airbyte_fake.url,
        client_id=airbyte_fake.client_id,
        client_secret="not-the-secret",
    )
    response = ask(login(admin), "test", workspace, probes)
    assert response.status_code == 200
    assert 'data-step="reach" data-state="ok"' in response.text
    assert "Signing in failed" in response.text
    assert "refused the client id and secret" in response.text
    assert 'data-step="list" data-state="skipped"' in response.text
    assert "not-the-secret" not in response.text
    server.refresh_from_db()
    assert server.last_check_ok is False


def test_old_server_is_reported_as_unsupported(
    admin, workspace, login, probes, airbyte_fake
):
    airbyte_fake.version = "0.63.0"
    save_server(workspace, url=airbyte_fake.url)
    response = ask(login(admin), "test", workspace, probes)
    assert "Reaching the server failed" in response.text
    assert "Airbyte 0.63.0 is not supported" in response.text


def test_server_without_auth_needs_no_sign_in(
    admin, workspace, login, probes, airbyte_fake
):
    airbyte_fake.auth_mode = "none"
    save_server(workspace, url=airbyte_fake.url, auth="none", client_secret="")
    response = ask(login(admin), "test", workspace, probes)
    assert 'data-step="sign_in" data-state="not_needed"' in response.text
    assert 'data-step="list" data-state="ok"' in response.text
    assert 'data-testid="server-auth-mode">none<' in response.text


# -- the Airbyte workspace -------------------------------------------------------------


@pytest.fixture
def tested_server(workspace, airbyte_fake):
    server = save_server(
        workspace,
        url=airbyte_fake.url,
        client_id=airbyte_fake.client_id,
        client_secret=airbyte_fake.client_secret,
    )
    probe = services.server_test(actor=None, server=server)
    assert probe.ok, probe.summary
    return server, probe


def test_listing_the_servers_workspaces_fills_the_chooser(
    admin, workspace, login, probes, tested_server
):
    _, probe = tested_server
    response = ask(login(admin), "workspaces", workspace, probes)
    assert response.status_code == 200
    assert "<html" not in response.text
    for item in probe.workspaces:
        assert f'<option value="{item["id"]}"' in response.text


def test_admin_chooses_one_of_the_servers_workspaces(
    admin, workspace, login, probes, tested_server
):
    server, probe = tested_server
    chosen = probe.workspaces[0]
    response = login(admin).post(
        url("workspace", workspace), {"remote_workspace_id": chosen["id"]}
    )
    assert response.status_code == 302
    probes.run()
    server.refresh_from_db()
    assert server.remote_workspace_id == chosen["id"]
    assert server.remote_workspace_name == chosen["name"]
    event = AuditEvent.objects.get(action="airbyte_server.workspace_chosen")
    assert event.actor == admin
    assert event.changes["created"] == [None, False]
    page = login(admin).get(url("settings", workspace))
    assert f'data-testid="remote-workspace">{chosen["name"]}<' in page.text


def test_admin_creates_a_workspace_on_the_server(
    admin, workspace, login, probes, tested_server
):
    server, _ = tested_server
    response = login(admin).post(
        url("workspace", workspace), {"create_name": "  Console: Acme  "}
    )
    assert response.status_code == 302
    probes.run()
    server.refresh_from_db()
    assert server.remote_workspace_name == "Console: Acme"
    listed = services.server_probe(server).workspaces
    assert {"id": server.remote_workspace_id, "name": "Console: Acme"} in listed
    event = AuditEvent.objects.get(action="airbyte_server.workspace_chosen")
    assert event.changes["created"] == [None, True]


def test_choosing_nothing_is_refused_beside_the_field(
    admin, workspace, login, htmx_headers, tested_server
):
    response = login(admin).post(url("workspace", workspace), {}, headers=htmx_headers)
    assert response.status_code == 400
    assert "<html" not in response.text
    assert "Pick a workspace or name a new one." in response.text
    assert not AuditEvent.objects.filter(
        action="airbyte_server.workspace_chosen"
    ).exists()


def test_unknown_remote_workspace_is_refused(
    admin, workspace, login, probes, tested_server
):
    server, _ = tested_server
    response = ask(
        login(admin),
        "workspace",
        workspace,
        probes,
        {"remote_workspace_id": "00000000-0000-0000-0000-00000000dead"},
    )
    assert "has-error" in response.text
    server.refresh_from_db()
    assert server.remote_workspace_id == ""


# -- switching the engine --------------------------------------------------------------


def test_switch_to_airbyte_is_refused_before_a_test(
    admin, workspace, login, htmx_headers
):
    save_server(workspace)
    response = login(admin).post(
        url("switch", workspace), {"engine": "airbyte"}, headers=htmx_headers
    )
    assert response.status_code == 400
    assert "<html" not in response.text
    assert "test them first" in response.text
    workspace.refresh_from_db()
    assert workspace.engine == Workspace.Engine.EMBEDDED
    assert not AuditEvent.objects.filter(action="workspace.engine_changed").exists()


def test_switch_is_allowed_after_a_test_and_a_chosen_workspace(
    admin, workspace, login, probes, tested_server
):
    _, probe = tested_server
    client = login(admin)
    refused = client.post(url("switch", workspace), {"engine": "airbyte"})
    assert refused.status_code == 400
    assert "Choose the Airbyte workspace" in refused.text
    client.post(
        url("workspace", workspace), {"remote_workspace_id": probe.workspaces[0]["id"]}
    )
    probes.run()

    response = client.post(url("switch", workspace), {"engine": "airbyte"})
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert workspace.engine == Workspace.Engine.AIRBYTE
    event = AuditEvent.objects.get(action="workspace.engine_changed")
    assert event.changes == {"engine": ["embedded", "airbyte"]}
    page = client.get(url("settings", workspace))
    assert 'data-testid="current-engine">Airbyte server<' in page.text
    assert "Import from Airbyte" in page.text
    assert (
        "Secrets stay on the Airbyte server: imported sources and destinations show "
        "them as stored on the server." in page.text
    )


def test_changing_the_secret_after_a_test_asks_for_a_new_test(
    admin, workspace, login, tested_server
):
    server, _ = tested_server
    response = login(admin).post(
        url("server", workspace),
        {
            "url": server.url,
            "auth": "application",
            "client_id": server.client_id,
            "client_secret": "another-secret",
        },
    )
    assert response.status_code == 302
    server.refresh_from_db()
    assert server.last_check_ok is None
    page = login(admin).get(url("settings", workspace))
    assert "The settings changed since the last test" in page.text


# -- import ----------------------------------------------------------------------------


def test_import_from_airbyte_twice_creates_no_duplicates(
    admin, workspace, login, probes, tested_server, airbyte_fake
):
    from apps.connections.models import Connection
    from apps.connectors.models import Destination, Source

    source = airbyte_fake.seed_faker_source(name="Remote faker")
    destination = airbyte_fake.seed_actor(
        "destination",
        name="Remote warehouse",
        definition_id=POSTGRES_DESTINATION_ID,
        configuration={
            "host": "db.internal",
            "port": 5432,
            "database": "warehouse",
            "schema": "public",
            "username": "loader",
            "password": "remote-only-password",
        },
    )
    airbyte_fake.seed_connection(source, destination, name="Faker to warehouse")
    client = login(admin)
    client.post(
        url("workspace", workspace), {"remote_workspace_id": DEFAULT_WORKSPACE_ID}
    )
    probes.run()
    client.post(url("switch", workspace), {"engine": "airbyte"})

    client.post(url("import", workspace))
    probes.run()
    first = client.get(url("settings", workspace))
    assert first.status_code == 200
    assert "Imported from Airbyte:" in first.text
    counts = (
        Source.objects.filter(workspace=workspace).count(),
        Destination.objects.filter(workspace=workspace).count(),
        Connection.objects.filter(workspace=workspace).count(),
    )
    assert counts == (1, 1, 1)
    client.post(url("import", workspace))
    probes.run()
    second = client.get(url("settings", workspace))
    assert "Imported from Airbyte: 0 new and 1 updated source," in second.text
    assert counts == (
        Source.objects.filter(workspace=workspace).count(),
        Destination.objects.filter(workspace=workspace).count(),
        Connection.objects.filter(workspace=workspace).count(),
    )


def test_import_without_a_server_says_what_is_missing(admin, workspace, login):
    response = login(admin).post(url("import", workspace), follow=True)
    assert response.status_code == 200
    assert "Switch this workspace to the Airbyte server engine" in response.text
