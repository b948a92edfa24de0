"""Specs of the built-in destinations, in the JSON Schema shape connectors use.

Field names follow Airbyte's own destination-postgres and destination-duckdb where
they mean the same thing, so a config moves to the airbyte engine unchanged (SSL
mode is a plain enum here rather than Airbyte's object per mode).
"""

from __future__ import annotations

from typing import Any

from apps.engines.base import ConnectorSpec

SSL_MODES = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
SYNC_MODES = ("overwrite", "append", "append_dedup")

POSTGRES: dict[str, Any] = {
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
    },
}

DUCKDB: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "DuckDB Destination Spec",
    "type": "object",
    "required": ["destination_path"],
    "additionalProperties": False,
    "properties": {
        "destination_path": {
            "title": "Database file",
            "description": "A DuckDB file. A relative path is a file in the console's "
            "DuckDB folder (under var/); other places only where the administrator "
            "allows them.",
            "type": "string",
            "default": "warehouse.duckdb",
            "pattern": r"^[^\x00]+\.(duckdb|db)$",
            "examples": ["warehouse.duckdb"],
            "order": 0,
        },
        "schema": {
            "title": "Default schema",
            "description": "Tables go into this schema unless a connection says "
            "otherwise; it is created if missing.",
            "type": "string",
            "default": "main",
            "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,62}$",
            "order": 1,
        },
    },
}

BUILTIN_SPECS: dict[str, dict[str, Any]] = {"postgres": POSTGRES, "duckdb": DUCKDB}
DOCUMENTATION = {
    "postgres": "https://docs.airbyte.com/integrations/destinations/postgres",
    "duckdb": "https://docs.airbyte.com/integrations/destinations/duckdb",
}


def builtin_spec(name: str) -> ConnectorSpec:
    """The spec of a built-in destination ("postgres" or "duckdb")."""
    return ConnectorSpec(
        connection_specification=BUILTIN_SPECS[name],
        documentation_url=DOCUMENTATION[name],
        supported_destination_sync_modes=SYNC_MODES,
        supports_incremental=True,
    )
