"""PostgreSQL, written by the console's own writer (``writers/postgres.py``).

Field names follow Airbyte's destination-postgres where they mean the same thing, so
a config moves to the airbyte engine unchanged (SSL mode is a plain enum here rather
than Airbyte's object per mode).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from apps.engines.base import CheckResult, DestinationDescriptor
from apps.engines.embedded.destinations import layout
from apps.engines.embedded.destinations._common import (
    connector_spec,
    first_line,
    invalid_config,
    scratch_table,
)
from apps.engines.masking import SecretMasker, secret_values

DOCS_URL = "https://docs.airbyte.com/integrations/destinations/postgres"
CONNECT_TIMEOUT = 10
SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

AIRBYTE_COMPAT_FIELDS = {
    "disable_type_dedupe": "boolean",
    "drop_cascade": "boolean",
    "ssl": "boolean",
    "unconstrained_number": "boolean",
    "raw_data_schema": "string",
}

SPEC: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "PostgreSQL Destination Spec",
    "type": "object",
    "required": ["host", "port", "database", "schema", "username"],
    "additionalProperties": False,
    "properties": {
        "host": {
            "title": "Host",
            "description": "Hostname of the database server.",
            "type": "string",
            "examples": ["db.internal", "127.0.0.1"],
            "order": 0,
        },
        "port": {
            "title": "Port",
            "description": "Port of the database server.",
            "type": "integer",
            "minimum": 1,
            "maximum": 65535,
            "default": 5432,
            "order": 1,
        },
        "database": {
            "title": "Database",
            "description": "Name of the database.",
            "type": "string",
            "order": 2,
        },
        "schema": {
            "title": "Default schema",
            "description": "Tables go into this schema unless a connection says "
            "otherwise; it is created if missing.",
            "type": "string",
            "default": "public",
            "pattern": "^[A-Za-z_][A-Za-z0-9_$]{0,62}$",
            "order": 3,
        },
        "username": {
            "title": "User",
            "description": "User to connect as.",
            "type": "string",
            "order": 4,
        },
        "password": {
            "title": "Password",
            "description": "Password of the user.",
            "type": "string",
            "airbyte_secret": True,
            "order": 5,
        },
        "ssl_mode": {
            "title": "SSL mode",
            "description": "How the connection uses TLS (libpq's sslmode).",
            "type": "string",
            "enum": SSL_MODES,
            "default": "prefer",
            "order": 6,
        },
        # Airbyte's destination-postgres options that its SDK's typed model always
        # sends (issue #15): accepted so those clients work, hidden from the form,
        # and ignored by this writer (it types columns itself, never drops with
        # CASCADE, and keeps no separate raw tables).
        **{
            name: {
                "type": kind,
                "airbyte_hidden": True,
                "description": "Accepted from Airbyte's clients; ignored here.",
            }
            for name, kind in AIRBYTE_COMPAT_FIELDS.items()
        },
    },
}


def check(config: dict[str, Any], *, workspace_id: str) -> CheckResult:
    """Validate the config, then create and drop a table in its schema.

    ``workspace_id`` is not needed: the server, not this host, keeps the tables.

    The test table lives inside a transaction that is rolled back, so a check leaves
    nothing behind, not even the schema it had to create, yet proves the user may
    create schemas and tables there.
    """
    return invalid_config(SPEC, config) or _check_server(config)


def _check_server(config: dict[str, Any]) -> CheckResult:
    host, port = config["host"], int(config.get("port", 5432))
    schema = config.get("schema") or "public"
    masker = SecretMasker(secret_values(config))
    try:
        connection = psycopg.connect(
            host=host,
            port=port,
            dbname=config["database"],
            user=config["username"],
            password=config.get("password") or None,
            sslmode=config.get("ssl_mode") or "prefer",
            connect_timeout=CONNECT_TIMEOUT,
            application_name="airbyte-console-check",
            # A check must not hang on a lock held by a running sync.
            options="-c statement_timeout=15000 -c lock_timeout=5000",
        )
    except psycopg.Error as exc:
        return CheckResult(
            ok=False,
            message=masker.mask(
                f"Could not connect to PostgreSQL at {host}:{port}: {first_line(exc)}"
            ),
        )
    table = scratch_table()
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
            )
            name = sql.Identifier(schema, table)
            cursor.execute(sql.SQL("CREATE TABLE {} (id integer)").format(name))
            cursor.execute(sql.SQL("INSERT INTO {} VALUES (1)").format(name))
            cursor.execute(sql.SQL("DROP TABLE {}").format(name))
            cursor.execute("SELECT version()")
            version = cursor.fetchone()[0].split(" on ")[0]
            connection.rollback()
    except psycopg.Error as exc:
        return CheckResult(
            ok=False,
            message=masker.mask(
                f"Connected to {host}:{port}, but could not create a table in schema "
                f"{schema!r}: {first_line(exc)}"
            ),
        )
    finally:
        connection.close()
    return CheckResult(
        ok=True,
        message=f"Connected to {version} at {host}:{port}; "
        f"schema {schema!r} is writable.",
    )


def prepare_config(config: dict[str, Any], *, workspace_id: str) -> dict[str, Any]:
    """The config as the writer takes it: the writer fills its own defaults."""
    return dict(config)


def writer() -> type:
    """The writer class, imported only when a sync writes to PostgreSQL."""
    from apps.engines.embedded.writers.postgres import PostgresWriter

    return PostgresWriter


def dbt_profile(config: dict[str, Any], *, workspace_id: str) -> dict[str, Any]:
    """A dbt-postgres target for the database and default schema of this config."""
    return {
        "type": "postgres",
        "host": config["host"],
        "port": int(config.get("port") or 5432),
        "user": config["username"],
        "password": config.get("password") or "",
        "dbname": config["database"],
        "schema": config.get("schema") or "public",
        "sslmode": config.get("ssl_mode") or "prefer",
        "connect_timeout": CONNECT_TIMEOUT,
    }


DESCRIPTOR = DestinationDescriptor(
    name="postgres",
    title="PostgreSQL",
    definition_id="25c5221d-dce2-4163-ade9-739ef790f503",
    spec=connector_spec(SPEC, DOCS_URL),
    docs_url=DOCS_URL,
    check=check,
    prepare_config=prepare_config,
    writer=writer,
    dbt_profile=dbt_profile,
    table_names=layout.table_names,
    table_columns=layout.table_columns_for(writer),
)
