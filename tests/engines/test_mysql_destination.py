"""The MySQL / MariaDB destination end to end: catalog, check, real syncs.

Real connectors (source-hardcoded-records, source-faker from PyPI) sync through the
console's own path (``sync_request`` then ``sync_run``, as a worker runs it) into
the real MariaDB (``MARIADB_URL``), each test in a database of its own.
"""

from __future__ import annotations

import json
import uuid
from unittest import mock

import pytest

from apps.connections.execution import sync_run
from apps.connections.models import ConnectionState, SyncJob
from apps.connections.services import connection_create, sync_request
from apps.connectors.models import Destination, Source
from apps.engines import registry
from apps.engines.embedded.destinations import mysql
from tests.engines.fixtures import FAKER_ID, HARDCODED_ID, definition
from tests.engines.writers.test_mysql_writer import root_query, server
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

MYSQL_ID = uuid.UUID("ca81ee7c-3163-4246-af40-094cc31e5e42")


@pytest.fixture
def mysql_database(require_mariadb):
    """A database of this test's own in the real MariaDB, dropped afterwards."""
    name = f"abe_{uuid.uuid4().hex[:12]}"
    root_query(f"CREATE DATABASE `{name}`")
    yield name
    root_query(f"DROP DATABASE IF EXISTS `{name}`")


def config(database: str, **changes) -> dict:
    found = server()
    return {
        "host": found["host"],
        "port": found["port"],
        "database": database,
        "username": found["user"],
        "password": found["password"],
        **changes,
    }


def rows(database: str, sql: str) -> list[tuple]:
    return root_query(sql.replace("{db}", f"`{database}`"))


# -- catalog, check, dbt ---------------------------------------------------------------


@pytest.mark.django_db
def test_mysql_is_in_the_catalog_under_airbytes_definition_id():
    found = definition(MYSQL_ID)

    assert found.builtin == "mysql"
    assert found.name == "MySQL / MariaDB"
    assert "embedded" in found.engines
    assert registry.destination("mysql") is mysql.DESCRIPTOR


def test_check_connects_and_names_the_server(mysql_database):
    result = mysql.check(config(mysql_database), workspace_id="w")

    assert result.ok, result.message
    assert result.message.startswith("Connected to MariaDB 10.")
    assert f"database {mysql_database!r} is writable" in result.message
    assert not rows(mysql_database, "SHOW TABLES FROM {db}")


def test_check_with_a_wrong_password_says_so_without_the_password(mysql_database):
    result = mysql.check(
        config(mysql_database, password="Canary-Pass-991"), workspace_id="w"
    )

    assert not result.ok
    assert "Access denied for user 'root'" in result.message
    assert "check the user and password" in result.message
    assert "Canary-Pass-991" not in result.message


def test_check_of_an_unknown_host_names_the_host():
    result = mysql.check(
        config("x", host="no-such-host.invalid", port=3306), workspace_id="w"
    )

    assert not result.ok
    assert result.message.startswith(
        "Could not connect to MySQL at no-such-host.invalid:3306"
    )


def test_check_without_the_create_privilege_says_what_to_grant(mysql_database):
    user, password = f"abe_ro_{uuid.uuid4().hex[:6]}", "Canary-Ro-5"
    root_query(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
    try:
        root_query(f"GRANT SELECT ON `{mysql_database}`.* TO '{user}'@'%'")
        result = mysql.check(
            config(mysql_database, username=user, password=password),
            workspace_id="w",
        )
    finally:
        root_query(f"DROP USER IF EXISTS '{user}'@'%'")

    assert not result.ok
    assert "CREATE command denied" in result.message
    assert "grant the user CREATE" in result.message
    assert password not in result.message


def test_check_refuses_a_config_without_a_host_before_connecting():
    result = mysql.check(
        {"port": 3306, "database": "d", "username": "u"}, workspace_id="w"
    )

    assert not result.ok
    assert result.message == "config: 'host' is a required property"


def test_airbyte_configs_are_accepted_but_an_ssh_tunnel_is_refused(mysql_database):
    airbyte_config = config(
        mysql_database,
        ssl=False,
        jdbc_url_params="connectTimeout=5000",
        tunnel_method={"tunnel_method": "NO_TUNNEL"},
        disable_type_dedupe=False,
        raw_data_schema="airbyte_internal",
    )
    assert mysql.check(airbyte_config, workspace_id="w").ok

    tunnel = dict(airbyte_config, tunnel_method={"tunnel_method": "SSH_KEY_AUTH"})
    refused = mysql.check(tunnel, workspace_id="w")
    assert not refused.ok
    assert "SSH tunnels are not supported" in refused.message


def test_dbt_profile_says_transforms_need_postgres_or_duckdb():
    with pytest.raises(ValueError, match="PostgreSQL or DuckDB"):
        mysql.dbt_profile(config("d"), workspace_id="w")


@pytest.mark.django_db
def test_a_transform_project_on_mysql_is_refused_with_the_supported_types(workspace):
    from types import SimpleNamespace

    from apps.transforms.profiles import ProfileError, adapter_for

    destination = _destination(workspace, "shop", name="Shop DB")
    project = SimpleNamespace(workspace=workspace, destination=destination)

    with pytest.raises(ProfileError) as refused:
        adapter_for(project)

    assert "dbt cannot run against the destination “Shop DB”" in refused.value.message
    assert "Supported destination types: PostgreSQL, DuckDB" in refused.value.message


@pytest.mark.django_db
def test_an_editor_saves_a_mysql_destination_and_its_check_runs(
    editor, workspace, login, mysql_database
):
    from django.urls import reverse

    from apps.connectors.services import connector_check_run

    canary = "Canary-My-Secret-77"
    client = login(editor)
    form = client.get(
        reverse("connectors:destination_create", args=[workspace.public_id]),
        {"definition": definition(MYSQL_ID).public_id},
    )
    for field in ("cfg__host", "cfg__port", "cfg__database", "cfg__username"):
        assert f'name="{field}"' in form.text
    with mock.patch("apps.connectors.tasks.connector_check_task.delay_on_commit"):
        response = client.post(
            reverse("connectors:destination_create", args=[workspace.public_id]),
            {
                "definition": definition(MYSQL_ID).public_id,
                "name": "Shop DB",
                "cfg__host": server()["host"],
                "cfg__port": str(server()["port"]),
                "cfg__database": mysql_database,
                "cfg__username": "root",
                "cfg__password": canary,
            },
        )
    assert response.status_code == 302, response.text[:2000]
    destination = Destination.objects.get(name="Shop DB")
    assert json.loads(destination.secrets) == {"/password": canary}
    assert canary not in json.dumps(destination.config)

    # root has no password here: the check fails, says why, and never shows it.
    result = connector_check_run(kind="destination", pk=destination.pk)
    assert not result.ok
    assert "Access denied for user 'root'" in result.message
    page = client.get(
        reverse(
            "connectors:destination_detail",
            args=[workspace.public_id, destination.public_id],
        )
    )
    assert "Access denied" in page.text
    assert canary not in page.text


# -- real syncs --------------------------------------------------------------------


def run_now(connection, actor) -> SyncJob:
    """Request a sync and run it here, as a worker would."""
    with mock.patch("apps.connections.tasks.sync_job_task.apply_async"):
        job = sync_request(connection=connection, trigger="manual", actor=actor)
    sync_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def _destination(workspace, database: str, name: str = "MariaDB") -> Destination:
    return Destination.objects.create(
        workspace=workspace,
        name=name,
        definition=definition(MYSQL_ID),
        config=config(database),
        secrets=json.dumps({}),
    )


_CATALOGS: dict[str, dict] = {}


def _source(workspace, definition_id: uuid.UUID, config: dict) -> Source:
    source = Source.objects.create(
        workspace=workspace,
        name=f"Source {uuid.uuid4().hex[:6]}",
        definition=definition(definition_id),
        config=config,
    )
    key = str(definition_id)
    if key not in _CATALOGS:
        from apps.connectors.services import source_discover_run

        source_discover_run(pk=source.pk)
        source.refresh_from_db()
        _CATALOGS[key] = source.catalog
    source.catalog = _CATALOGS[key]
    source.save(update_fields=["catalog"])
    return source


def _connection(actor, workspace, source, destination, streams, **extra):
    return connection_create(
        actor=actor,
        workspace=workspace,
        name=f"C {uuid.uuid4().hex[:6]}",
        source=source,
        destination=destination,
        streams=streams,
        **extra,
    )


@pytest.mark.django_db(transaction=True)
def test_hardcoded_products_overwrite_then_append(
    admin, workspace, real_connectors, hardcoded_installed, mysql_database
):
    source = _source(workspace, HARDCODED_ID, {"count": 300})
    destination = _destination(workspace, mysql_database)
    overwrite = _connection(
        admin, workspace, source, destination, [{"name": "products"}]
    )

    for _ in range(2):
        job = run_now(overwrite, admin)
        assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message
        assert job.records_committed == 300
    # The default namespace is the config's database; a second overwrite replaces.
    assert rows(mysql_database, "SELECT count(*) FROM {db}.products") == [(300,)]
    columns = dict(
        root_query(
            "SELECT column_name, column_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'products'",
            (mysql_database,),
        )
    )
    assert columns["id"] == "bigint(20)"
    assert columns["price"] == "decimal(38,9)"
    assert columns["updated_at"] == "datetime(6)"
    assert rows(
        mysql_database,
        "SELECT count(*) FROM {db}.products WHERE make IS NOT NULL "
        "AND price > 0 AND JSON_LENGTH(_airbyte_meta, '$.changes') = 0",
    ) == [(300,)]

    appending = _connection(
        admin,
        workspace,
        source,
        destination,
        [{"name": "products", "destination_sync_mode": "append"}],
        table_prefix="app_",
    )
    run_now(appending, admin)
    run_now(appending, admin)
    # Hardcoded records repeats one product: rows are told apart by their raw id.
    assert rows(
        mysql_database,
        "SELECT count(*), count(DISTINCT _airbyte_raw_id) FROM {db}.app_products",
    ) == [(600, 600)]


@pytest.mark.django_db(transaction=True)
def test_faker_incremental_dedup_and_append_read_only_new_records(
    admin, workspace, real_connectors, faker_installed, mysql_database
):
    source = _source(
        workspace,
        FAKER_ID,
        {
            "count": 250,
            "seed": 1,
            "records_per_slice": 100,
            "parallelism": 1,
            "always_updated": False,
        },
    )
    destination = _destination(workspace, mysql_database)
    dedup = _connection(
        admin,
        workspace,
        source,
        destination,
        [
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
            }
        ],
        table_prefix="dd_",
    )
    first = run_now(dedup, admin)
    assert first.status == SyncJob.Status.SUCCEEDED, first.failure_message
    assert rows(
        mysql_database, "SELECT count(*), count(DISTINCT id) FROM {db}.dd_users"
    ) == [(250, 250)]
    assert ConnectionState.objects.filter(
        connection=dedup, stream_name="users"
    ).exists()
    second = run_now(dedup, admin)
    assert second.status == SyncJob.Status.SUCCEEDED
    assert second.records_committed == 0
    assert rows(mysql_database, "SELECT count(*) FROM {db}.dd_users") == [(250,)]

    # Faker ages the records a run later: every user comes back newer, and the
    # dedup table keeps one row each, the newest.
    source.config["always_updated"] = True
    source.save()
    third = run_now(dedup, admin)
    assert third.status == SyncJob.Status.SUCCEEDED, third.failure_message
    assert third.records_committed == 250
    assert rows(
        mysql_database, "SELECT count(*), count(DISTINCT id) FROM {db}.dd_users"
    ) == [(250, 250)]

    source.config["always_updated"] = False
    source.save()
    appending = _connection(
        admin,
        workspace,
        source,
        destination,
        [
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
            }
        ],
        table_prefix="inc_",
    )
    assert run_now(appending, admin).records_committed == 250
    assert run_now(appending, admin).records_committed == 0
    assert rows(mysql_database, "SELECT count(*) FROM {db}.inc_users") == [(250,)]


@pytest.mark.django_db(transaction=True)
def test_two_workspaces_writing_one_database_keep_their_tables_and_states_apart(
    admin, workspace, real_connectors, hardcoded_installed, mysql_database
):
    other = WorkspaceFactory(name="Other")
    other_admin = UserFactory(email="other-admin@acme.test")
    MembershipFactory(user=other_admin, workspace=other, role="admin")
    made = []
    for owner, actor, namespace in [
        (workspace, admin, "public"),
        (other, other_admin, f"{mysql_database}_b"),
    ]:
        source = _source(owner, HARDCODED_ID, {"count": 20 if owner == other else 10})
        destination = _destination(owner, mysql_database)
        connection = _connection(
            actor,
            owner,
            source,
            destination,
            [{"name": "customers"}],
            namespace=namespace,
        )
        job = run_now(connection, actor)
        assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message
        made.append(connection)
    try:
        assert rows(mysql_database, "SELECT count(*) FROM {db}.customers") == [(10,)]
        assert root_query(f"SELECT count(*) FROM `{mysql_database}_b`.customers") == [
            (20,)
        ]
    finally:
        root_query(f"DROP DATABASE IF EXISTS `{mysql_database}_b`")
