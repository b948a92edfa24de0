"""``check`` for the built-in destinations: connect, create and drop a test table.

The test table lives inside a transaction that is rolled back, so a check leaves
nothing behind, not even the schema it had to create, yet proves the user may
create schemas and tables there.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import psycopg
from django.conf import settings
from psycopg import sql

from apps.engines.base import CheckResult
from apps.engines.embedded.destinations.specs import BUILTIN_SPECS
from apps.engines.masking import SecretMasker, secret_values

CONNECT_TIMEOUT = 10


def check_builtin(name: str, config: dict[str, Any]) -> CheckResult:
    """Validate the config against the spec, then check the destination."""
    errors = sorted(
        jsonschema.Draft7Validator(BUILTIN_SPECS[name]).iter_errors(config),
        key=lambda e: list(e.path),
    )
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.path) or "config"
        masker = SecretMasker(secret_values(config))
        return CheckResult(ok=False, message=masker.mask(f"{where}: {first.message}"))
    if name == "postgres":
        return check_postgres(config)
    return check_duckdb(config)


def _test_table() -> str:
    return f"_airbyte_console_check_{uuid.uuid4().hex[:12]}"


def check_postgres(config: dict[str, Any]) -> CheckResult:
    """Connect to PostgreSQL and create and drop a table in the schema."""
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
                f"Could not connect to PostgreSQL at {host}:{port}: {_first_line(exc)}"
            ),
        )
    table = _test_table()
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
                f"{schema!r}: {_first_line(exc)}"
            ),
        )
    finally:
        connection.close()
    return CheckResult(
        ok=True,
        message=f"Connected to {version} at {host}:{port}; "
        f"schema {schema!r} is writable.",
    )


def duckdb_dir() -> Path:
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


def check_duckdb(config: dict[str, Any]) -> CheckResult:
    """Open the DuckDB file and create and drop a table in the schema."""
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
    table = _test_table()
    try:
        connection = duckdb.connect(str(path))
    except duckdb.Error as exc:
        hint = (
            " Another process (a running sync?) has it open."
            if "lock" in str(exc).lower()
            else ""
        )
        return CheckResult(
            ok=False, message=f"Cannot open {path}: {_first_line(exc)}.{hint}"
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
            f"{schema!r}: {_first_line(exc)}",
        )
    finally:
        connection.close()
    return CheckResult(ok=True, message=f"{path} is writable (schema {schema!r}).")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
