"""MySQL and MariaDB, written by the console's own writer (``writers/mysql.py``).

Field names and the definition id are Airbyte's destination-mysql's, so a config
moves to the airbyte engine unchanged. The driver is PyMySQL (pure Python: it
installs from PyPI without MySQL's client headers).

dbt has no MySQL adapter in the console (``apps/transforms/dbt/install.py`` installs
dbt-postgres and dbt-duckdb only), so transforms refuse a MySQL destination with the
list of the types they support; ``dbt_profile`` says the same if asked directly.
"""

from __future__ import annotations

from typing import Any

from apps.engines.base import CheckResult, DestinationDescriptor
from apps.engines.embedded.destinations import layout
from apps.engines.embedded.destinations._common import (
    connector_spec,
    invalid_config,
)
from apps.engines.masking import SecretMasker, secret_values

DOCS_URL = "https://docs.airbyte.com/integrations/destinations/mysql"

AIRBYTE_COMPAT_FIELDS = {
    "disable_type_dedupe": "boolean",
    "raw_data_schema": "string",
}

SPEC: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "MySQL Destination Spec",
    "type": "object",
    "required": ["host", "port", "database", "username"],
    "additionalProperties": False,
    "properties": {
        "host": {
            "title": "Host",
            "description": "Hostname of the MySQL or MariaDB server.",
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
            "default": 3306,
            "order": 1,
        },
        "database": {
            "title": "Database",
            "description": "Tables go into this database unless a connection names "
            "another namespace (in MySQL a namespace is a database).",
            "type": "string",
            "pattern": "^[^/\\\\.]{1,64}$",
            "order": 2,
        },
        "username": {
            "title": "User",
            "description": "User to connect as.",
            "type": "string",
            "order": 3,
        },
        "password": {
            "title": "Password",
            "description": "Password of the user.",
            "type": "string",
            "airbyte_secret": True,
            "order": 4,
        },
        "ssl": {
            "title": "SSL connection",
            "description": "Encrypt the connection (the server's certificate is "
            "not verified).",
            "type": "boolean",
            "default": False,
            "order": 5,
        },
        "jdbc_url_params": {
            "title": "JDBC URL parameters",
            "description": "Extra key=value pairs joined by '&', for Airbyte's "
            "connector on the airbyte engine; the console's own writer ignores them.",
            "type": "string",
            "order": 6,
        },
        "tunnel_method": {
            "type": "object",
            "airbyte_hidden": True,
            "description": "Accepted from Airbyte's clients; only NO_TUNNEL works "
            "here.",
        },
        # Options Airbyte's SDK's typed model always sends: accepted so those
        # clients work, hidden from the form, ignored by this writer.
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
    """Validate the config, then create, fill and drop a table in its database.

    ``workspace_id`` is not needed: the server, not this host, keeps the tables.
    """
    return invalid_config(SPEC, config) or _check_server(config)


def _check_server(config: dict[str, Any]) -> CheckResult:
    from apps.engines.embedded.writers.base import DestinationError
    from apps.engines.embedded.writers.mysql import MySQLWriter

    host, port = config["host"], int(config.get("port") or 3306)
    database = config["database"]
    masker = SecretMasker(secret_values(config))
    writer = MySQLWriter(
        config, schema="", streams=[], connection_id="airbyte-console-check"
    )
    try:
        writer.check()
    except DestinationError as exc:
        return CheckResult(ok=False, message=masker.mask(_explain(exc.message)))
    version = writer.server_version
    server = "MariaDB" if "mariadb" in version.lower() else "MySQL"
    return CheckResult(
        ok=True,
        message=f"Connected to {server} {version.split('-')[0]} at {host}:{port}; "
        f"database {database!r} is writable.",
    )


_HINTS = (
    ("Access denied for user", "check the user and password"),
    ("Unknown database", "create the database or fix its name"),
    ("command denied", "grant the user CREATE, INSERT, DELETE and DROP there"),
    ("Can't connect", "check the host and port, and that the server is up"),
    ("Name or service not known", "check the host name"),
)


def _explain(message: str) -> str:
    """The writer's message, with what to do about the usual failures."""
    for needle, hint in _HINTS:
        if needle in message:
            return f"{message} ({hint})."
    return message


def prepare_config(config: dict[str, Any], *, workspace_id: str) -> dict[str, Any]:
    """The config as the writer takes it: the writer fills its own defaults."""
    return dict(config)


def writer() -> type:
    """The writer class, imported only when a sync writes to MySQL."""
    from apps.engines.embedded.writers.mysql import MySQLWriter

    return MySQLWriter


def dbt_profile(config: dict[str, Any], *, workspace_id: str) -> dict[str, Any]:
    """No target: the console installs no dbt adapter for MySQL."""
    raise ValueError(
        "dbt transforms do not run against MySQL or MariaDB in the console: it "
        "installs dbt for PostgreSQL and DuckDB only. Point the project at a "
        "PostgreSQL or DuckDB destination."
    )


DESCRIPTOR = DestinationDescriptor(
    name="mysql",
    title="MySQL / MariaDB",
    definition_id="ca81ee7c-3163-4246-af40-094cc31e5e42",
    spec=connector_spec(SPEC, DOCS_URL),
    docs_url=DOCS_URL,
    check=check,
    prepare_config=prepare_config,
    writer=writer,
    dbt_profile=dbt_profile,
    table_names=layout.table_names,
    table_columns=layout.table_columns_for(writer),
)
