"""A secret left masked is only sent where it was entered for (#13 item 4).

An editor who never saw a secret must not be able to point a source or destination
at a server of their own, keep the secret masked, and have the check on save send
it there. These tests edit through the browser's form (and the service scripts
use), with a real low-code connector reading from recording HTTP servers on
127.0.0.1, and assert the "attacker's" server never receives the secret.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.urls import reverse

from apps.connectors import services
from apps.connectors.models import Destination, Source
from apps.connectors.selectors import stored_secrets
from apps.connectors.spec.config import destination_fields, secret_retarget_errors
from apps.core.masking import MASK
from apps.engines.declarative import MANIFEST_KEY
from tests.engines.fixtures import MANIFEST_ID, POSTGRES_ID, definition

CANARY = "canary-Retarget-7c1e"


def manifest(url_base: str = "{{ config['base_url'] }}") -> dict:
    return {
        "version": "6.0.0",
        "type": "DeclarativeSource",
        "check": {"type": "CheckStream", "stream_names": ["items"]},
        "spec": {
            "type": "Spec",
            "connection_specification": {
                "type": "object",
                "required": ["api_token"],
                "properties": {
                    "base_url": {"type": "string", "title": "Base URL"},
                    "api_token": {
                        "type": "string",
                        "title": "API token",
                        "airbyte_secret": True,
                    },
                },
            },
        },
        "streams": [
            {
                "type": "DeclarativeStream",
                "name": "items",
                "primary_key": ["id"],
                "retriever": {
                    "type": "SimpleRetriever",
                    "requester": {
                        "type": "HttpRequester",
                        "url_base": url_base,
                        "path": "/items",
                        "http_method": "GET",
                        "authenticator": {
                            "type": "BearerAuthenticator",
                            "api_token": "{{ config['api_token'] }}",
                        },
                    },
                    "record_selector": {
                        "type": "RecordSelector",
                        "extractor": {"type": "DpathExtractor", "field_path": []},
                    },
                },
                "schema_loader": {
                    "type": "InlineSchemaLoader",
                    "schema": {
                        "type": "object",
                        "properties": {"id": {"type": "integer"}},
                    },
                },
            }
        ],
    }


class Recorder(ThreadingHTTPServer):
    """A server on 127.0.0.1 that answers ``[]`` and keeps every request's headers."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def received(self, text: str) -> bool:
        return any(text in json.dumps(r) for r in self.requests)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append({"path": self.path, **dict(self.headers)})
        body = b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def servers():
    """``(mine, theirs)``: where the secret was entered for, and an editor's own."""
    started = [Recorder(), Recorder()]
    for server in started:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield started
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def checks_run_on_commit():
    """The check a save requests runs when the save commits, as a worker would."""

    def enqueue(kind, pk):
        transaction.on_commit(lambda: services.connector_check_run(kind=kind, pk=pk))

    with (
        mock.patch(
            "apps.connectors.tasks.connector_check_task.delay_on_commit",
            side_effect=enqueue,
        ) as check,
        mock.patch("apps.connectors.tasks.source_discover_task.delay_on_commit"),
    ):
        yield check


@pytest.fixture
def no_tasks():
    with (
        mock.patch("apps.connectors.tasks.connector_check_task.delay_on_commit"),
        mock.patch("apps.connectors.tasks.source_discover_task.delay_on_commit"),
    ):
        yield


def edit_url(obj) -> str:
    kind = obj._meta.model_name
    return reverse(
        f"connectors:{kind}_edit", args=[obj.workspace.public_id, obj.public_id]
    )


def make_manifest_source(workspace, admin, base_url: str, **kwargs) -> Source:
    return services.connector_create(
        actor=admin,
        workspace=workspace,
        kind="source",
        name="Items API",
        definition=definition(MANIFEST_ID),
        config={
            **({"base_url": base_url} if base_url else {}),
            MANIFEST_KEY: kwargs.get("manifest", manifest()),
        },
        secrets={"/api_token": CANARY},
    )


def manifest_post(base_url: str, token: str, the_manifest: dict | None = None) -> dict:
    return {
        "name": "Items API",
        # The version the source runs stays what it is (a source pins its version).
        "connector_version": definition(MANIFEST_ID).pypi_version,
        "manifest": yaml.safe_dump(the_manifest or manifest(), sort_keys=False),
        "cfg__base_url": base_url,
        "cfg__api_token": token,
    }


def test_changed_base_url_with_masked_token_is_refused_and_nothing_is_sent(
    editor,
    admin,
    workspace,
    login,
    servers,
    real_connectors,
    cdk_installed,
    checks_run_on_commit,
    django_capture_on_commit_callbacks,
):
    mine, theirs = servers
    source = make_manifest_source(workspace, admin, mine.url)

    with django_capture_on_commit_callbacks(execute=True):
        response = login(editor).post(edit_url(source), manifest_post(theirs.url, MASK))

    assert response.status_code == 400
    assert (
        "Enter the API token again: the base URL changed, and a saved secret is "
        "only sent where it was entered for." in response.text
    )
    # What the editor typed stays in the form; the secret never reaches the page.
    assert theirs.url in response.text
    assert CANARY not in response.text
    source.refresh_from_db()
    assert source.config["base_url"] == mine.url
    assert stored_secrets(source) == {"/api_token": CANARY}
    checks_run_on_commit.assert_not_called()
    assert theirs.requests == []
    assert not theirs.received(CANARY)


def test_changed_manifest_with_masked_token_is_refused_and_nothing_is_sent(
    editor,
    admin,
    workspace,
    login,
    servers,
    real_connectors,
    cdk_installed,
    checks_run_on_commit,
    django_capture_on_commit_callbacks,
):
    mine, theirs = servers
    source = make_manifest_source(
        workspace, admin, "", manifest=manifest(url_base=mine.url)
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = login(editor).post(
            edit_url(source),
            manifest_post("", MASK, manifest(url_base=theirs.url)),
        )

    assert response.status_code == 400
    assert (
        "Enter the API token again: the manifest changed, and a saved secret is only "
        "sent where it was entered for." in response.text
    )
    source.refresh_from_db()
    assert mine.url in json.dumps(source.config[MANIFEST_KEY])
    assert theirs.requests == []


def test_retyped_token_is_accepted_and_sent_to_the_new_url(
    editor,
    admin,
    workspace,
    login,
    servers,
    real_connectors,
    cdk_installed,
    checks_run_on_commit,
    django_capture_on_commit_callbacks,
):
    mine, theirs = servers
    source = make_manifest_source(workspace, admin, mine.url)

    with django_capture_on_commit_callbacks(execute=True):
        response = login(editor).post(
            edit_url(source), manifest_post(theirs.url, "their-own-token")
        )

    assert response.status_code == 302
    source.refresh_from_db()
    assert source.config["base_url"] == theirs.url
    assert stored_secrets(source) == {"/api_token": "their-own-token"}
    # The check ran against the new server, with the token that was typed for it.
    assert theirs.received("Bearer their-own-token")
    assert not theirs.received(CANARY)
    assert source.last_check_status == "succeeded", source.last_check_message


def test_unchanged_url_keeps_the_masked_token(
    editor,
    admin,
    workspace,
    login,
    servers,
    real_connectors,
    cdk_installed,
    checks_run_on_commit,
    django_capture_on_commit_callbacks,
):
    mine, _ = servers
    source = make_manifest_source(workspace, admin, mine.url)

    with django_capture_on_commit_callbacks(execute=True):
        response = login(editor).post(
            edit_url(source),
            {**manifest_post(mine.url, MASK), "name": "Items API (renamed)"},
        )

    assert response.status_code == 302
    source.refresh_from_db()
    assert source.name == "Items API (renamed)"
    assert stored_secrets(source) == {"/api_token": CANARY}
    assert mine.received(f"Bearer {CANARY}")


# --- a PostgreSQL destination: host and port -----------------------------------------


def make_postgres(workspace, admin, host: str = "127.0.0.1") -> Destination:
    return services.connector_create(
        actor=admin,
        workspace=workspace,
        kind="destination",
        name="Warehouse",
        definition=definition(POSTGRES_ID),
        config={
            "host": host,
            "port": 5432,
            "database": "postgres",
            "schema": "public",
            "username": "loader",
            "ssl_mode": "disable",
        },
        secrets={"/password": CANARY},
    )


def postgres_post(**changes) -> dict:
    return {
        "name": "Warehouse",
        "cfg__host": "127.0.0.1",
        "cfg__port": "5432",
        "cfg__database": "postgres",
        "cfg__schema": "public",
        "cfg__username": "loader",
        "cfg__password": MASK,
        "cfg__ssl_mode": "disable",
        **changes,
    }


def test_postgres_host_change_with_masked_password_is_refused(
    editor, admin, workspace, login, no_tasks
):
    destination = make_postgres(workspace, admin)
    response = login(editor).post(
        edit_url(destination),
        postgres_post(cfg__host="db.attacker.test", cfg__database="loot"),
    )

    assert response.status_code == 400
    assert (
        "Enter the password again: the host changed, and a saved secret is only "
        "sent where it was entered for." in response.text
    )
    assert "db.attacker.test" in response.text and "loot" in response.text
    assert CANARY not in response.text
    destination.refresh_from_db()
    assert destination.config["host"] == "127.0.0.1"
    assert destination.config["database"] == "postgres"
    assert stored_secrets(destination) == {"/password": CANARY}


def test_postgres_port_change_with_masked_password_is_refused(
    editor, admin, workspace, login, no_tasks
):
    destination = make_postgres(workspace, admin)
    response = login(editor).post(
        edit_url(destination), postgres_post(cfg__port="6543")
    )
    assert response.status_code == 400
    assert "Enter the password again: the port changed" in response.text
    destination.refresh_from_db()
    assert destination.config["port"] == 5432


def test_postgres_host_change_with_retyped_password_is_accepted(
    editor, admin, workspace, login, no_tasks
):
    destination = make_postgres(workspace, admin)
    response = login(editor).post(
        edit_url(destination),
        postgres_post(cfg__host="db.example.test", cfg__password="new-pass"),
    )
    assert response.status_code == 302
    destination.refresh_from_db()
    assert destination.config["host"] == "db.example.test"
    assert stored_secrets(destination) == {"/password": "new-pass"}


def test_postgres_other_changes_keep_the_masked_password(
    editor, admin, workspace, login, no_tasks
):
    destination = make_postgres(workspace, admin)
    response = login(editor).post(
        edit_url(destination), postgres_post(cfg__schema="analytics")
    )
    assert response.status_code == 302
    destination.refresh_from_db()
    assert destination.config["schema"] == "analytics"
    assert stored_secrets(destination) == {"/password": CANARY}


# --- the service, as scripts and the CLI reach it ------------------------------------


def test_service_refuses_a_new_host_for_a_secret_sent_back_as_the_mask(
    admin, workspace
):
    destination = make_postgres(workspace, admin)
    with pytest.raises(ValidationError) as caught:
        services.connector_update(
            actor=admin,
            obj=destination,
            config={**destination.config, "host": "db.attacker.test"},
            secrets={"/password": MASK},
        )
    assert "/password" in caught.value.message_dict
    assert "the host changed" in caught.value.message_dict["/password"][0]
    destination.refresh_from_db()
    assert destination.config["host"] == "127.0.0.1"


def test_service_refuses_a_new_host_when_secrets_are_left_out(admin, workspace):
    destination = make_postgres(workspace, admin)
    with pytest.raises(ValidationError, match="the host changed"):
        services.connector_update(
            actor=admin,
            obj=destination,
            config={**destination.config, "host": "db.attacker.test"},
        )


def test_service_accepts_a_new_host_with_the_secret_typed_again(admin, workspace):
    destination = make_postgres(workspace, admin)
    services.connector_update(
        actor=admin,
        obj=destination,
        config={**destination.config, "host": "db.example.test"},
        secrets={"/password": CANARY},
        kept_secrets=(),
    )
    destination.refresh_from_db()
    assert destination.config["host"] == "db.example.test"


# --- the rule itself ------------------------------------------------------------------


SCHEMA = {
    "type": "object",
    "properties": {
        "host": {"type": "string", "title": "Host"},
        "port": {"type": "integer", "default": 5432, "title": "Port"},
        "database": {"type": "string"},
        "start_page": {"type": "string", "format": "uri"},
        "password": {"type": "string", "airbyte_secret": True, "title": "Password"},
        "tunnel_method": {
            "oneOf": [
                {"properties": {"tunnel_method": {"const": "NO_TUNNEL"}}},
                {
                    "properties": {
                        "tunnel_method": {"const": "SSH_KEY_AUTH"},
                        "tunnel_host": {"type": "string"},
                        "ssh_key": {"type": "string", "airbyte_secret": True},
                    }
                },
            ]
        },
    },
}


def test_destination_fields_are_told_by_name_and_format():
    assert set(destination_fields(SCHEMA)) == {
        "/host",
        "/port",
        "/start_page",
        "/tunnel_method/tunnel_host",
    }


def test_a_default_filled_in_is_no_change_and_a_tunnel_host_is():
    kept = ["/password"]
    assert (
        secret_retarget_errors({"host": "a"}, {"host": "a", "port": 5432}, SCHEMA, kept)
        == {}
    )
    errors = secret_retarget_errors(
        {"host": "a", "tunnel_method": {"tunnel_method": "NO_TUNNEL"}},
        {
            "host": "a",
            "tunnel_method": {"tunnel_method": "SSH_KEY_AUTH", "tunnel_host": "x"},
        },
        SCHEMA,
        kept,
    )
    assert list(errors) == ["/password"]
    assert "changed" in errors["/password"]


# --- the CLI: `airbyte content update` ------------------------------------------------


def cli_update(tmp_path, destination, editor, workspace, **changes) -> None:
    path = tmp_path / "pg.json"
    config = {**destination.config, "password": MASK, **changes}
    path.write_text(json.dumps({"name": destination.name, "config": config}))
    call_command(
        "airbyte",
        "content",
        "update",
        "--id",
        str(destination.public_id),
        "--config",
        str(path),
        "--as",
        editor.email,
        "--workspace",
        str(workspace.public_id),
    )


def test_cli_update_to_a_new_host_with_the_masked_password_is_refused(
    editor, admin, workspace, tmp_path, capsys
):
    destination = make_postgres(workspace, admin)
    with pytest.raises(CommandError) as caught:
        cli_update(tmp_path, destination, editor, workspace, host="db.attacker.test")
    assert (
        "/password: Enter the password again: the host changed, and a saved secret "
        "is only sent where it was entered for." in str(caught.value)
    )
    assert CANARY not in str(caught.value) + capsys.readouterr().out
    destination.refresh_from_db()
    assert destination.config["host"] == "127.0.0.1"
    assert stored_secrets(destination) == {"/password": CANARY}


def test_cli_update_keeps_the_masked_password_or_takes_a_new_one(
    editor, admin, workspace, tmp_path
):
    destination = make_postgres(workspace, admin)
    cli_update(tmp_path, destination, editor, workspace, schema="analytics")
    destination.refresh_from_db()
    assert destination.config["schema"] == "analytics"
    assert stored_secrets(destination) == {"/password": CANARY}

    cli_update(
        tmp_path,
        destination,
        editor,
        workspace,
        host="db.example.test",
        password="typed-again",
    )
    destination.refresh_from_db()
    assert destination.config["host"] == "db.example.test"
    assert stored_secrets(destination) == {"/password": "typed-again"}
