"""The built-in destinations: their specs and their checks against the real thing."""

from __future__ import annotations

import socket
import uuid

import duckdb
import jsonschema
import psycopg
import pytest

from apps.core.masking import MASK
from apps.engines.base import CheckResult
from apps.engines.embedded.destinations import builtin_spec, check_builtin
from apps.engines.embedded.destinations.duckdb import resolve_duckdb_path
from apps.engines.embedded.engine import EmbeddedEngine
from tests.engines.fixtures import DUCKDB_ID, POSTGRES_ID, definition
from tests.services_plugin import port_open, skip_or_fail

PG = {"host": "127.0.0.1", "port": 5432, "database": "postgres", "username": "postgres"}
# The public id of the workspace these checks run for: DuckDB files go in its folder.
WS = "3f2b8c1e-5d4a-4e6f-9a1b-2c3d4e5f6a7b"


def check(name: str, config: dict) -> CheckResult:
    return check_builtin(name, config, workspace_id=WS)


@pytest.fixture
def postgres_schema():
    """A scratch schema on the real server, dropped afterwards."""
    if not port_open("postgres://127.0.0.1:5432", 5432):
        skip_or_fail("needs PostgreSQL on 127.0.0.1:5432")
    name = f"check_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(
        host="127.0.0.1", port=5432, dbname="postgres", user="postgres", autocommit=True
    ) as connection:
        connection.execute(f'CREATE SCHEMA "{name}"')
        yield name, connection
        connection.execute(f'DROP SCHEMA "{name}" CASCADE')


def _tables(connection, schema: str) -> list[str]:
    return [
        row[0]
        for row in connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            [schema],
        )
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_postgres_spec_has_the_fields_and_a_secret_password():
    spec = builtin_spec("postgres")
    properties = spec.connection_specification["properties"]

    shown = [
        name for name, field in properties.items() if not field.get("airbyte_hidden")
    ]
    assert shown == [
        "host",
        "port",
        "database",
        "schema",
        "username",
        "password",
        "ssl_mode",
    ]
    # What Airbyte's SDK always sends for its typed destination-postgres model is
    # accepted, not refused as unknown (the spec closes additionalProperties).
    hidden = {name for name, field in properties.items() if field.get("airbyte_hidden")}
    assert {"disable_type_dedupe", "drop_cascade", "ssl"} <= hidden
    assert properties["password"]["airbyte_secret"] is True
    assert properties["ssl_mode"]["enum"][0] == "disable"
    assert spec.secret_paths() == [("password",)]
    jsonschema.Draft7Validator.check_schema(spec.connection_specification)
    jsonschema.Draft7Validator.check_schema(
        builtin_spec("duckdb").connection_specification
    )


@pytest.mark.django_db
def test_engine_serves_builtin_specs_without_installing(settings, tmp_path):
    settings.CONNECTORS_DIR = tmp_path / "nothing-here"

    spec = EmbeddedEngine().spec(definition(DUCKDB_ID))

    assert spec.connection_specification["properties"]["destination_path"][
        "default"
    ] == ("warehouse.duckdb")
    assert not (tmp_path / "nothing-here").exists()


@pytest.mark.django_db
def test_postgres_check_creates_and_drops_a_table_and_leaves_nothing(postgres_schema):
    schema, connection = postgres_schema

    result = EmbeddedEngine().check(
        definition(POSTGRES_ID), {**PG, "schema": schema, "ssl_mode": "disable"}
    )

    assert result.ok, result.message
    assert f"schema '{schema}' is writable" in result.message
    assert _tables(connection, schema) == []


def test_postgres_check_of_a_missing_schema_does_not_create_it(postgres_schema):
    _, connection = postgres_schema
    missing = f"missing_{uuid.uuid4().hex[:8]}"

    result = check("postgres", {**PG, "schema": missing, "password": "x" * 8})

    assert result.ok, result.message
    exists = connection.execute(
        "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", [missing]
    ).fetchone()
    assert exists is None


def test_postgres_check_on_a_wrong_port_fails_clearly():
    port = _free_port()

    result = check(
        "postgres",
        {**PG, "port": port, "schema": "public", "password": "Canary-pw-77"},
    )

    assert not result.ok
    assert result.message.startswith(
        f"Could not connect to PostgreSQL at 127.0.0.1:{port}: "
    )
    assert "Connection refused" in result.message
    assert "Canary-pw-77" not in result.message


def test_postgres_check_with_an_unknown_database_names_it(postgres_schema):
    result = check(
        "postgres", {**PG, "database": "no_such_db_here", "schema": "public"}
    )

    assert not result.ok
    assert 'database "no_such_db_here" does not exist' in result.message


def test_invalid_config_is_refused_before_connecting():
    result = check(
        "postgres",
        {
            "host": "h",
            "port": 99999,
            "database": "d",
            "username": "u",
            "schema": "public",
            "password": "Canary-secret-1",
        },
    )

    assert not result.ok
    assert result.message.startswith("port: 99999 is greater than the maximum")
    assert "Canary" not in result.message


def test_duckdb_check_creates_the_file_under_the_data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.DUCKDB_DIR = tmp_path / "duckdb"

    result = check("duckdb", {"destination_path": "warehouse.duckdb"})

    assert result.ok, result.message
    path = tmp_path / "duckdb" / WS / "warehouse.duckdb"
    assert path.exists()
    with duckdb.connect(str(path)) as connection:
        tables = connection.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchone()[0]
    assert tables == 0


def test_duckdb_paths_outside_var_are_refused_unless_allowed(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "var"
    settings.DUCKDB_DIR = tmp_path / "var" / "duckdb"
    outside = tmp_path / "elsewhere" / "w.duckdb"

    refused = check("duckdb", {"destination_path": str(outside)})
    escaping = check("duckdb", {"destination_path": "../../x.duckdb"})
    settings.DUCKDB_ALLOW_ANY_PATH = True
    allowed = check("duckdb", {"destination_path": str(outside)})

    assert not refused.ok
    assert "outside this workspace's DuckDB folder" in refused.message
    assert "DUCKDB_ALLOW_ANY_PATH" in refused.message
    assert not escaping.ok
    assert allowed.ok, allowed.message
    assert outside.exists()


def test_duckdb_relative_paths_resolve_in_the_duckdb_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.DUCKDB_DIR = tmp_path / "dd"

    assert resolve_duckdb_path("a/b.duckdb", workspace_id=WS) == (
        tmp_path / "dd" / WS / "a" / "b.duckdb"
    )
    with pytest.raises(ValueError):
        resolve_duckdb_path(":memory:", workspace_id=WS)


def test_duckdb_check_reports_a_file_it_cannot_open(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.DUCKDB_DIR = tmp_path
    (tmp_path / WS).mkdir()
    (tmp_path / WS / "junk.duckdb").write_text("this is not a database")

    result = check("duckdb", {"destination_path": "junk.duckdb"})

    assert not result.ok
    assert result.message.startswith(f"Cannot open {tmp_path / WS / 'junk.duckdb'}")


def test_mask_is_used_for_a_password_in_a_failure(settings):
    result = check(
        "postgres",
        {
            **PG,
            "host": "Canary-host-secret.invalid",
            "port": _free_port(),
            "schema": "public",
            "password": "Canary-host-secret.invalid",
        },
    )

    assert not result.ok
    assert MASK in result.message
