"""DuckDB, written by the console's own writer (``writers/duckdb.py``).

Field names follow Airbyte's destination-duckdb, so a config moves to the airbyte
engine unchanged. The file lives under the console's data folder unless an
administrator allows other places: see ``resolve_duckdb_path``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from django.conf import settings

from apps.engines.base import CheckResult, DestinationDescriptor
from apps.engines.embedded.destinations._common import (
    connector_spec,
    first_line,
    invalid_config,
    scratch_table,
)

DOCS_URL = "https://docs.airbyte.com/integrations/destinations/duckdb"

SPEC: dict[str, Any] = {
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


def duckdb_dir() -> Path:
    """The folder relative DuckDB paths live in (``DUCKDB_DIR``)."""
    return Path(getattr(settings, "DUCKDB_DIR", Path(settings.DATA_DIR) / "duckdb"))


def resolve_duckdb_path(value: str) -> Path:
    """The DuckDB file a config names; refuses places outside var/ unless allowed.

    A relative path is a file in ``DUCKDB_DIR``. Anything that resolves outside
    ``DATA_DIR`` and ``DUCKDB_DIR`` needs ``DUCKDB_ALLOW_ANY_PATH``, so a user of the
    console cannot write files elsewhere on the server.
    """
    raw = (value or "").strip()
    if not raw or raw == ":memory:" or raw.startswith("md:"):
        raise ValueError("Name a DuckDB file, such as warehouse.duckdb.")
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = duckdb_dir() / path
    path = path.resolve()
    if getattr(settings, "DUCKDB_ALLOW_ANY_PATH", False):
        return path
    roots = [Path(settings.DATA_DIR).resolve(), duckdb_dir().resolve()]
    if not any(path.is_relative_to(root) for root in roots):
        raise ValueError(
            f"{raw} is outside the console's data folder ({roots[0]}). Use a "
            "relative name, or ask an administrator to set DUCKDB_ALLOW_ANY_PATH."
        )
    return path


def check(config: dict[str, Any]) -> CheckResult:
    """Validate the config, then open the file and create and drop a table in it.

    The test table lives inside a transaction that is rolled back, so a check leaves
    nothing behind but the (possibly new, empty) file.
    """
    return invalid_config(SPEC, config) or _check_file(config)


def _check_file(config: dict[str, Any]) -> CheckResult:
    try:
        path = resolve_duckdb_path(config.get("destination_path", ""))
    except ValueError as exc:
        return CheckResult(ok=False, message=str(exc))
    schema = config.get("schema") or "main"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return CheckResult(
            ok=False, message=f"Cannot create the folder {path.parent}: {exc.strerror}."
        )
    table = scratch_table()
    try:
        connection = duckdb.connect(str(path))
    except duckdb.Error as exc:
        hint = (
            " Another process (a running sync?) has it open."
            if "lock" in str(exc).lower()
            else ""
        )
        return CheckResult(
            ok=False, message=f"Cannot open {path}: {first_line(exc)}.{hint}"
        )
    try:
        # DuckDB has no identifier composition like psycopg.sql; both names are
        # quoted here, the table name is ours and the schema matched the spec.
        target = f"{_quote(schema)}.{_quote(table)}"
        connection.execute("BEGIN")
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
        connection.execute(f"CREATE TABLE {target} (id INTEGER)")
        connection.execute(f"INSERT INTO {target} VALUES (1)")  # noqa: S608
        connection.execute(f"DROP TABLE {target}")
        connection.execute("ROLLBACK")
    except duckdb.Error as exc:
        return CheckResult(
            ok=False,
            message=f"Opened {path}, but could not create a table in schema "
            f"{schema!r}: {first_line(exc)}",
        )
    finally:
        connection.close()
    return CheckResult(ok=True, message=f"{path} is writable (schema {schema!r}).")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def prepare_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config with its file resolved by the same rule as the check.

    Raises ValueError for a path the console refuses, so a sync fails with the same
    message the "Test" button gives.
    """
    path = resolve_duckdb_path(str(config.get("destination_path") or ""))
    return {**config, "destination_path": str(path)}


def writer() -> type:
    """The writer class, imported only when a sync writes to DuckDB."""
    from apps.engines.embedded.writers.duckdb import DuckDBWriter

    return DuckDBWriter


def dbt_profile(config: dict[str, Any]) -> dict[str, Any]:
    """A dbt-duckdb target on the resolved file and default schema of this config."""
    return {
        "type": "duckdb",
        "path": prepare_config(config)["destination_path"],
        "schema": config.get("schema") or "main",
    }


DESCRIPTOR = DestinationDescriptor(
    name="duckdb",
    title="DuckDB",
    definition_id="94bd199c-2ff0-4aa2-b98e-17f0acb72610",
    spec=connector_spec(SPEC, DOCS_URL),
    docs_url=DOCS_URL,
    check=check,
    prepare_config=prepare_config,
    writer=writer,
    dbt_profile=dbt_profile,
)
