"""The dbt project generated from a connection builds, with real dbt, on real data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import duckdb
import pytest
import yaml

from apps.connections.models import Connection, ConnectionStream, SyncJob
from apps.connectors.models import Destination, Source
from apps.transforms.generate import generate_files, project_name, source_name
from tests.connections.conftest import (  # noqa: F401 - fixtures
    duckdb_destination,
    faker_source,
    make_connection,
    pg_rows,
    pg_schema,
    postgres_destination,
)
from tests.connections.test_sync_embedded import run_now
from tests.engines.fixtures import DUCKDB_ID, FAKER_ID, POSTGRES_ID, definition

USERS_SCHEMA = {
    "type": "object",
    "description": "People who {{ log('bought', info=True) }} things.",
    "properties": {
        "id": {"type": "integer", "description": "The user's id."},
        "Updated At": {"type": "string", "format": "date-time"},
        "score": {"type": "number"},
        "address": {"type": "object"},
        "order": {"type": "string", "title": "A reserved word"},
    },
}


@dataclass
class Built:
    ok: bool
    error: str
    statuses: dict[str, dict[str, int]]
    graph: dict


def build_project(files: dict[str, str], destination, tmp_path) -> Built:
    """``dbt build`` of the files against the destination, as a run does it."""
    from apps.connectors.selectors import connector_full_config
    from apps.engines import registry
    from apps.transforms.dbt import artifacts
    from apps.transforms.dbt.install import dbt_installed
    from apps.transforms.dbt.invoke import Invocation, invoke
    from apps.transforms.workdir import find_project_dir, materialize

    materialize(files.items(), tmp_path / "project")
    descriptor = registry.destination(destination.definition.builtin)
    profile = descriptor.dbt_profile(
        connector_full_config(destination),
        workspace_id=str(destination.workspace.public_id),
    )
    outcome = invoke(
        Invocation(
            dbt=dbt_installed(profile["type"]).dbt,
            project_dir=find_project_dir(tmp_path / "project"),
            target_dir=tmp_path / "target",
            profile=profile,
            command="build",
            timeout=300,
        ),
        on_line=lambda line: None,
    )
    statuses: dict[str, dict[str, int]] = {}
    for node in artifacts.node_results(outcome.run_results or {}, outcome.manifest):
        bucket = statuses.setdefault(node["resource_type"], {})
        bucket[node["status"]] = bucket.get(node["status"], 0) + 1
    return Built(
        outcome.returncode == 0 and not outcome.error,
        outcome.error,
        statuses,
        artifacts.graph(outcome.manifest or {}),
    )


def _connection(workspace, destination_id, name="Shop: EU!", prefix="", streams=()):
    source = Source.objects.create(
        workspace=workspace,
        name="Faker",
        definition=definition(FAKER_ID),
        config={},
        catalog={"streams": [{"name": "users", "json_schema": USERS_SCHEMA}]},
    )
    destination = Destination.objects.create(
        workspace=workspace,
        name="Warehouse",
        definition=definition(destination_id),
        config={},
    )
    connection = Connection.objects.create(
        workspace=workspace,
        name=name,
        source=source,
        destination=destination,
        namespace="Faker",
        table_prefix=prefix,
    )
    for stream in streams:
        ConnectionStream.objects.create(connection=connection, **stream)
    return connection


def _users(**extra):
    return {"name": "Users", "json_schema": USERS_SCHEMA, **extra}


def test_source_name_is_an_identifier_from_the_connection_name(workspace):
    connection = _connection(workspace, DUCKDB_ID, name="Shop: EU 2024 (Café)")
    assert source_name(connection) == "airbyte_shop_eu_2024_cafe"
    assert project_name(connection) == "shop_eu_2024_cafe"
    connection.name = "2024 dbt"
    assert project_name(connection) == "p_2024_dbt"
    connection.name = "DBT"
    assert project_name(connection) == "p_dbt"


def test_dedup_stream_keeps_latest_row_per_key_with_writer_names_and_casts(workspace):
    connection = _connection(
        workspace,
        POSTGRES_ID,
        prefix="raw_",
        streams=[
            _users(
                sync_mode="incremental",
                destination_sync_mode="append_dedup",
                primary_key=[["id"]],
                cursor_field=["Updated At"],
            ),
            {"name": "skipped", "selected": False},
        ],
    )
    files = generate_files(connection)
    assert sorted(files) == [
        "README.md",
        "dbt_project.yml",
        "models/sources.yml",
        "models/staging/schema.yml",
        "models/staging/stg_raw_users.sql",
    ]
    project = yaml.safe_load(files["dbt_project.yml"])
    assert project["name"] == "shop_eu"
    assert project["profile"] == "console"
    sources = yaml.safe_load(files["models/sources.yml"])["sources"]
    assert [s["name"] for s in sources] == ["airbyte_shop_eu"]
    # The writer's names: the schema and table it normalizes, prefix included.
    assert sources[0]["schema"] == "faker"
    assert sources[0]["config"]["loaded_at_field"] == "_airbyte_extracted_at"
    table = sources[0]["tables"][0]
    assert table["name"] == "raw_users"
    columns = {c["name"]: c for c in table["columns"]}
    assert columns["updated_at"]["data_type"] == "timestamp with time zone"
    assert columns["id"]["description"] == "The user's id."
    assert "_airbyte_extracted_at" in columns and "_airbyte_meta" in columns
    # A connector's description cannot smuggle a template into dbt.
    assert "{{" not in table["description"]
    assert "bought" in table["description"]

    sql = files["models/staging/stg_raw_users.sql"]
    assert "{{ source('airbyte_shop_eu', 'raw_users') }}" in sql
    assert 'partition by "id"' in sql
    assert 'order by "updated_at" desc nulls last, _airbyte_extracted_at desc' in sql
    assert "where _airbyte_row_number = 1" in sql
    assert '"id"::bigint as "id"' in sql
    assert '"updated_at"::timestamptz as "updated_at"' in sql
    # numeric / DOUBLE and jsonb / JSON have no common spelling: kept as written.
    assert '        "score",' in sql and '        "address",' in sql
    assert '"order"::text as "order"' in sql

    schema = yaml.safe_load(files["models/staging/schema.yml"])["models"][0]
    assert schema["name"] == "stg_raw_users"
    tests = {c["name"]: c.get("data_tests") for c in schema["columns"]}
    assert tests["id"] == ["not_null", "unique"]
    assert tests["updated_at"] is None


def test_append_stream_tests_keys_only_for_not_null(workspace):
    connection = _connection(
        workspace,
        DUCKDB_ID,
        streams=[_users(destination_sync_mode="append", primary_key=[["id"]])],
    )
    files = generate_files(connection)
    sql = files["models/staging/stg_users.sql"]
    assert "row_number" not in sql
    schema = yaml.safe_load(files["models/staging/schema.yml"])["models"][0]
    tests = {c["name"]: c.get("data_tests") for c in schema["columns"]}
    assert tests["id"] == ["not_null"]


def test_fields_left_out_of_the_sync_are_left_out_of_the_project(workspace):
    connection = _connection(
        workspace,
        DUCKDB_ID,
        streams=[
            _users(
                destination_sync_mode="append",
                primary_key=[["id"]],
                selected_fields=["id", "Updated At"],
            )
        ],
    )
    files = generate_files(connection)
    table = yaml.safe_load(files["models/sources.yml"])["sources"][0]["tables"][0]
    columns = {c["name"] for c in table["columns"]}
    assert {"id", "updated_at"} <= columns
    assert "score" not in columns and "address" not in columns
    sql = files["models/staging/stg_users.sql"]
    assert '"score"' not in sql and '"address"' not in sql


def test_connection_name_cannot_break_out_of_a_sql_comment(workspace):
    connection = _connection(
        workspace,
        DUCKDB_ID,
        name="x\nselect 1; {{ run_query('drop table users') }}",
        streams=[_users()],
    )
    sql = generate_files(connection)["models/staging/stg_users.sql"]
    comment = sql.splitlines()[0]
    assert comment.startswith("-- ") and "select 1" in comment
    assert "{{ run_query" not in sql


def test_a_destination_the_console_does_not_write_gets_airbyte_names(workspace):
    from tests.factories import DefinitionFactory

    connection = _connection(
        workspace, DUCKDB_ID, prefix="Raw ", streams=[_users(primary_key=[["id"]])]
    )
    connection.destination.definition = DefinitionFactory(kind="destination")
    connection.destination.save()
    files = generate_files(connection)
    sql = files["models/staging/stg_raw_users.sql"]
    assert "{{ source('airbyte_shop_eu', 'raw_users') }}" in sql
    # Airbyte's snake case names, and no casts: the types are not known here.
    assert '        "updated_at",' in sql and "::" not in sql
    assert "name: _airbyte_extra\n" not in files["models/sources.yml"]


# -- real dbt ----------------------------------------------------------------------


def test_dedup_staging_keeps_the_latest_row_by_cursor_then_extraction(
    workspace,
    duckdb_destination,  # noqa: F811
    dbt_settings,
    tmp_path,
):
    """Rows the writer would have merged, straight into a table of its shape."""
    connection = _connection(
        workspace,
        DUCKDB_ID,
        streams=[
            _users(
                sync_mode="incremental",
                destination_sync_mode="append_dedup",
                primary_key=[["id"]],
                cursor_field=["Updated At"],
            )
        ],
    )
    connection.destination = duckdb_destination
    connection.save()
    from apps.engines.embedded.destinations.duckdb import resolve_duckdb_path

    path = resolve_duckdb_path(
        "warehouse.duckdb", workspace_id=str(workspace.public_id)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as conn:
        conn.execute("create schema faker")
        conn.execute(
            "create table faker.users (_airbyte_raw_id uuid default uuid(), "
            "_airbyte_extracted_at timestamptz not null, _airbyte_meta json, "
            "_airbyte_generation_id bigint, _airbyte_extra json, id bigint, "
            'updated_at timestamptz, score double, address json, "order" varchar)'
        )
        conn.execute(
            "insert into faker.users (_airbyte_extracted_at, id, updated_at, "
            '"order") values '
            # id 1: the greatest cursor wins, though extracted earlier.
            "('2026-01-02 00:00+00', 1, '2026-01-05 00:00+00', 'newest cursor'), "
            "('2026-01-03 00:00+00', 1, '2026-01-04 00:00+00', 'older cursor'), "
            # id 2: same cursor, the later extraction wins; NULL cursors lose.
            "('2026-01-01 00:00+00', 2, '2026-01-01 00:00+00', 'first'), "
            "('2026-01-02 00:00+00', 2, '2026-01-01 00:00+00', 'second'), "
            "('2026-01-09 00:00+00', 2, null, 'no cursor')"
        )
    result = build_project(generate_files(connection), duckdb_destination, tmp_path)
    assert result.ok, result.error
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute(
            'select id, "order" from main.stg_users order by id'
        ).fetchall()
    assert rows == [(1, "newest cursor"), (2, "second")]
    assert result.statuses["test"] == {"pass": 2}


# -- real dbt on a real sync -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_generated_project_builds_on_a_real_faker_sync_into_duckdb(
    admin,
    workspace,
    faker_source,  # noqa: F811
    duckdb_destination,  # noqa: F811
    make_connection,  # noqa: F811
    dbt_settings,
    tmp_path,
):
    source = faker_source(count=120, always_updated=False)
    connection = make_connection(
        source,
        duckdb_destination,
        [
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
            },
            {"name": "products"},
            {
                "name": "purchases",
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
            },
        ],
        namespace=f"faker_{uuid.uuid4().hex[:6]}",
    )
    job = run_now(connection, admin)
    assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message

    files = generate_files(connection)
    result = build_project(files, duckdb_destination, tmp_path)
    assert result.ok, result.error

    from apps.engines.embedded.destinations.duckdb import resolve_duckdb_path

    path = resolve_duckdb_path(
        "warehouse.duckdb", workspace_id=str(workspace.public_id)
    )
    schema = connection.namespace
    with duckdb.connect(str(path), read_only=True) as conn:

        def count(relation: str) -> int:
            return conn.execute(f"select count(*) from {relation}").fetchone()[0]

        for table in ("users", "products", "purchases"):
            synced = count(f'"{schema}"."{table}"')
            assert synced > 0
            assert count(f'main."stg_{table}"') == synced
        types = dict(
            conn.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'main' and table_name = 'stg_users'"
            ).fetchall()
        )
    assert types["id"] == "BIGINT"
    assert types["updated_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["_airbyte_extracted_at"] == "TIMESTAMP WITH TIME ZONE"
    # Three views, and the key tests of each stream passed.
    assert result.statuses["model"] == {"success": 3}
    assert result.statuses["test"]["pass"] >= 4
    assert "fail" not in result.statuses["test"]
    # The sources carry the stream's columns and the Airbyte ones, documented.
    users = next(n for n in result.graph["nodes"] if n["unique_id"].endswith(".users"))
    assert users["resource_type"] == "source"
    documented = {c["name"]: c["description"] for c in users["columns"]}
    assert documented["_airbyte_extracted_at"]
    assert "id" in documented


@pytest.mark.django_db(transaction=True)
def test_generated_project_builds_on_a_real_faker_sync_into_postgres(
    admin,
    faker_source,  # noqa: F811
    postgres_destination,  # noqa: F811
    pg_schema,  # noqa: F811
    make_connection,  # noqa: F811
    dbt_settings,
    tmp_path,
):
    source = faker_source(count=80, always_updated=False)
    connection = make_connection(
        source,
        postgres_destination,
        [
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
            },
            {"name": "products"},
        ],
        namespace=pg_schema,
    )
    job = run_now(connection, admin)
    assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message

    result = build_project(generate_files(connection), postgres_destination, tmp_path)
    assert result.ok, result.error
    for table in ("users", "products"):
        synced = pg_rows(f'select count(*) from "{pg_schema}"."{table}"')
        assert synced[0][0] > 0
        assert pg_rows(f'select count(*) from "{pg_schema}"."stg_{table}"') == synced
    types = dict(
        pg_rows(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = 'stg_users'",
            pg_schema,
        )
    )
    assert types["id"] == "bigint"
    assert types["updated_at"] == "timestamp with time zone"
    assert types["address"] == "jsonb"
    assert result.statuses["test"] == {"pass": 3}
