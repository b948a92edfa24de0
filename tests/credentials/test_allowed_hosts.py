"""A credential is only sent to the hosts its admins allowed (#13 item 4).

Picking a stored credential in a source or destination whose settings point at
another host is refused on save, and again where the config is put together for a
connector (in case the allowed hosts shrank since), so a check never sends it.
"""

from __future__ import annotations

import importlib
import json
import threading
from unittest import mock

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.connectors import services as connector_services
from apps.connectors.models import Destination, Source
from apps.connectors.selectors import connector_full_config
from apps.credentials import services
from apps.credentials.hosts import clean_allowed_hosts, host_allowed, hosts_in
from apps.credentials.models import Credential
from apps.engines.base import EngineError
from apps.engines.declarative import MANIFEST_KEY
from tests.connectors.test_secret_retargeting import Recorder, manifest
from tests.engines.fixtures import MANIFEST_ID, POSTGRES_ID, definition


@pytest.fixture
def no_tasks():
    with (
        mock.patch("apps.connectors.tasks.connector_check_task.delay_on_commit"),
        mock.patch("apps.connectors.tasks.source_discover_task.delay_on_commit"),
    ):
        yield


@pytest.fixture
def db_login(workspace, admin, canary) -> Credential:
    return services.credential_create(
        actor=admin,
        workspace=workspace,
        name="Warehouse login",
        type="database",
        fields={
            "host": "db.example.test",
            "database": "postgres",
            "username": "loader",
            "password": canary,
        },
        allowed_hosts="db.example.test",
    )


def destination_post(host: str, credential: Credential) -> dict:
    return {
        "definition": definition(POSTGRES_ID).public_id,
        "name": "Warehouse",
        "cfg__host": host,
        "cfg__port": "5432",
        "cfg__database": "postgres",
        "cfg__schema": "public",
        "cfg__username": "loader",
        "cfg__password": "",
        "cfg__password__credential": str(credential.public_id),
        "cfg__ssl_mode": "disable",
    }


def create_url(workspace) -> str:
    return reverse("connectors:destination_create", args=[workspace.public_id])


def test_credential_used_with_a_host_outside_its_list_is_refused(
    editor, workspace, login, db_login, canary, no_tasks
):
    response = login(editor).post(
        create_url(workspace), destination_post("db.attacker.test", db_login)
    )

    assert response.status_code == 400
    assert (
        "The credential “Warehouse login” may only be sent to db.example.test, not "
        "to db.attacker.test." in response.text
    )
    assert "db.attacker.test" in response.text  # what was typed is kept
    assert canary not in response.text
    assert not Destination.objects.exists()


def test_credential_used_with_an_allowed_host_is_accepted(
    editor, workspace, login, db_login, no_tasks
):
    response = login(editor).post(
        create_url(workspace), destination_post("db.example.test", db_login)
    )

    assert response.status_code == 302
    destination = Destination.objects.get(name="Warehouse")
    assert destination.credential_refs == {"/password": str(db_login.public_id)}
    assert (
        connector_full_config(destination)["password"]
        == db_login.get_payload()["password"]
    )


def test_a_credential_with_no_hosts_yet_is_refused_with_what_to_do(
    editor, workspace, login, admin, canary, no_tasks
):
    credential = services.credential_create(
        actor=admin,
        workspace=workspace,
        name="No hosts",
        type="basic_auth",
        fields={"username": "u", "password": canary},
    )
    response = login(editor).post(
        create_url(workspace), destination_post("db.example.test", credential)
    )
    assert response.status_code == 400
    assert "no workspace admin has named the hosts it may be sent to" in response.text


def test_editing_a_source_to_another_host_keeps_the_credential_home(
    admin, workspace, db_login
):
    destination = connector_services.connector_create(
        actor=admin,
        workspace=workspace,
        kind="destination",
        name="Warehouse",
        definition=definition(POSTGRES_ID),
        config={"host": "db.example.test", "port": 5432, "database": "postgres"},
        credential_refs={"/password": str(db_login.public_id)},
    )
    with pytest.raises(Exception, match=r"may only be sent to db\.example\.test"):
        connector_services.connector_update(
            actor=admin,
            obj=destination,
            config={**destination.config, "host": "db.attacker.test"},
        )
    destination.refresh_from_db()
    assert destination.config["host"] == "db.example.test"


def test_the_config_merge_refuses_a_host_the_credential_no_longer_allows(
    admin,
    workspace,
    real_connectors,
    cdk_installed,
    canary,
):
    server = Recorder()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        key = services.credential_create(
            actor=admin,
            workspace=workspace,
            name="Items key",
            type="api_key",
            fields={"api_key": canary},
            allowed_hosts="127.0.0.1",
        )
        source = connector_services.connector_create(
            actor=admin,
            workspace=workspace,
            kind="source",
            name="Items",
            definition=definition(MANIFEST_ID),
            config={"base_url": server.url, MANIFEST_KEY: manifest()},
            credential_refs={"/api_token": str(key.public_id)},
        )
        first = connector_services.connector_check_run(kind="source", pk=source.pk)
        assert first.ok, first.message
        assert server.received(f"Bearer {canary}")
        server.requests.clear()

        # An admin narrows where the key may go; the source still names 127.0.0.1.
        services.credential_update(
            actor=admin,
            credential=key,
            name=key.name,
            fields={"api_key": "**********"},
            allowed_hosts="api.example.test",
        )
        with pytest.raises(
            EngineError, match=r"may only be sent to api\.example\.test"
        ):
            connector_full_config(source)
        second = connector_services.connector_check_run(kind="source", pk=source.pk)
    finally:
        server.shutdown()
        server.server_close()

    assert not second.ok
    source.refresh_from_db()
    assert source.last_check_status == "failed"
    assert "may only be sent to api.example.test, not to 127.0.0.1" in (
        source.last_check_message
    )
    assert server.requests == []


# --- who sets the hosts ---------------------------------------------------------------


def edit_url(workspace, credential) -> str:
    return reverse("credentials:edit", args=[workspace.public_id, credential.public_id])


def test_editor_names_hosts_when_storing_a_credential(editor, workspace, login):
    response = login(editor).post(
        reverse("credentials:create", args=[workspace.public_id]),
        {
            "name": "Stripe",
            "type": "api_key",
            "api_key": "sk_test_123",
            "allowed_hosts": "API.stripe.com\n*.Stripe.com, api.stripe.com",
        },
    )
    assert response.status_code == 302
    credential = Credential.objects.get(name="Stripe")
    assert credential.allowed_hosts == ["api.stripe.com", "*.stripe.com"]


def test_a_bad_host_pattern_says_what_is_wrong(editor, workspace, login):
    response = login(editor).post(
        reverse("credentials:create", args=[workspace.public_id]),
        {
            "name": "Stripe",
            "type": "api_key",
            "api_key": "sk_test_123",
            "allowed_hosts": "https://api.stripe.com/v1",
        },
    )
    assert response.status_code == 400
    assert "is not a host name or a pattern like *.example.com" in response.text
    assert not Credential.objects.exists()


def test_editor_cannot_change_where_a_credential_may_be_sent(
    editor, workspace, login, db_login
):
    client = login(editor)
    page = client.get(edit_url(workspace, db_login))
    assert 'name="allowed_hosts"' not in page.text
    assert "db.example.test" in page.text  # shown, read-only

    response = client.post(
        edit_url(workspace, db_login),
        {
            "name": "Warehouse login",
            "host": "db.example.test",
            "database": "postgres",
            "username": "loader",
            "password": "**********",
            "allowed_hosts": "db.attacker.test",
        },
    )
    assert response.status_code == 302
    db_login.refresh_from_db()
    assert db_login.allowed_hosts == ["db.example.test"]


def test_admin_changes_where_a_credential_may_be_sent(
    admin, workspace, login, db_login
):
    client = login(admin)
    assert 'name="allowed_hosts"' in client.get(edit_url(workspace, db_login)).text
    response = client.post(
        edit_url(workspace, db_login),
        {
            "name": "Warehouse login",
            "host": "db.example.test",
            "database": "postgres",
            "username": "loader",
            "password": "**********",
            "allowed_hosts": "db.example.test\nreplica.example.test",
        },
    )
    assert response.status_code == 302
    db_login.refresh_from_db()
    assert db_login.allowed_hosts == ["db.example.test", "replica.example.test"]
    event = AuditEvent.objects.filter(action="credential.updated").latest("id")
    assert event.changes["allowed_hosts"] == [
        ["db.example.test"],
        ["db.example.test", "replica.example.test"],
    ]


def test_cli_editor_cannot_change_hosts_of_a_stored_credential(
    editor, admin, workspace, db_login, tmp_path, canary
):
    fields = tmp_path / "cred.json"
    fields.write_text(
        json.dumps(
            {
                "host": "db.example.test",
                "database": "postgres",
                "username": "loader",
                "password": "**********",
            }
        )
    )
    common = (
        "credentials",
        "store",
        "--name",
        "Warehouse login",
        "--type",
        "database",
        "--file",
        str(fields),
        "--workspace",
        workspace.name,
    )
    with pytest.raises(CommandError, match="Only a workspace admin"):
        call_command(
            "airbyte",
            *common,
            "--allowed-hosts",
            "db.attacker.test",
            "--as",
            editor.email,
        )
    call_command(
        "airbyte",
        *common,
        "--allowed-hosts",
        "db.example.test,*.replicas.example.test",
        "--as",
        admin.email,
    )
    db_login.refresh_from_db()
    assert db_login.allowed_hosts == ["db.example.test", "*.replicas.example.test"]


# --- the data migration -------------------------------------------------------------


def test_migration_fills_in_the_hosts_of_sources_and_destinations_using_them(
    admin, workspace, canary
):
    migration = importlib.import_module(
        "apps.credentials.migrations.0003_credential_allowed_hosts"
    )
    used = services.credential_create(
        actor=admin,
        workspace=workspace,
        name="Used",
        type="basic_auth",
        fields={"username": "u", "password": canary},
    )
    unused = services.credential_create(
        actor=admin,
        workspace=workspace,
        name="Unused",
        type="api_key",
        fields={"api_key": canary},
    )
    ref = {"/password": str(used.public_id)}
    destination = Destination.objects.create(
        workspace=workspace,
        name="Warehouse",
        definition=definition(POSTGRES_ID),
        config={"host": "DB.internal.test", "port": 5432, "database": "postgres"},
        credential_refs=ref,
    )
    Source.objects.create(
        workspace=workspace,
        name="Items",
        definition=definition(MANIFEST_ID),
        config={"base_url": "https://api.example.test/v2", MANIFEST_KEY: manifest()},
        credential_refs={"/api_token": str(used.public_id)},
    )
    # Before the migration, a credential in use has no hosts and is refused.
    with pytest.raises(EngineError):
        connector_full_config(destination)

    migration.fill_allowed_hosts(django_apps, None)

    used.refresh_from_db()
    unused.refresh_from_db()
    assert used.allowed_hosts == ["api.example.test", "db.internal.test"]
    assert unused.allowed_hosts == []
    # What worked before keeps working.
    assert connector_full_config(destination)["password"] == canary


# --- reading hosts --------------------------------------------------------------------


def test_hosts_are_read_from_fields_urls_and_manifests():
    found = hosts_in(
        {
            "host": "DB.example.test:5432",
            "jdbc_url_params": "ssl=true&x=y",
            "bootstrap_servers": "k1.example.test:9092, k2.example.test:9092",
            "tunnel_method": {"tunnel_host": "bastion.example.test"},
            "base_url": "https://api.example.test/v1",
            MANIFEST_KEY: {
                "definitions": {"requester": {"url_base": "https://m.example.test"}},
                "streams": [
                    {"retriever": {"requester": {"path": "/items/{{ next_page }}"}}}
                ],
                "spec": {"documentation_url": "https://docs.example.test"},
            },
        }
    )
    assert found.hosts == {
        "db.example.test",
        "k1.example.test",
        "k2.example.test",
        "bastion.example.test",
        "api.example.test",
        "m.example.test",
    }
    assert found.unreadable == []


def test_a_templated_host_cannot_be_checked_and_is_refused():
    found = hosts_in({MANIFEST_KEY: {"r": {"url_base": "https://{{ stream_state }}"}}})
    assert found.unreadable == ["https://{{ stream_state }}"]


def test_patterns():
    assert clean_allowed_hosts(" *.Example.test ,db.example.test\n") == [
        "*.example.test",
        "db.example.test",
    ]
    assert host_allowed("a.example.test", ["*.example.test"])
    assert not host_allowed("example.test", ["*.example.test"])
    assert not host_allowed("evilexample.test", ["*.example.test"])
    assert host_allowed("anything.test", ["*"])
    with pytest.raises(ValueError, match="not a host name"):
        clean_allowed_hosts("db.example.test/path")
