"""DuckDB, written by the console's own writer (``writers/duckdb.py``).

Field names follow Airbyte's destination-duckdb, so a config moves to the airbyte
engine unchanged. Each workspace keeps its files in its own folder,
``DUCKDB_DIR/<workspace public id>/``, and a destination's path is confined to it
unless an administrator allows any path: see ``resolve_duckdb_path``.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any

import duckdb
from django.conf import settings

from apps.engines import registry
from apps.engines.base import CheckResult, DestinationDescriptor
from apps.engines.embedded.destinations import layout
from apps.engines.embedded.destinations._common import (
    connector_spec,
    first_line,
    invalid_config,
    scratch_table,
)

logger = logging.getLogger(__name__)

NAME = "duckdb"
DOCS_URL = "https://docs.airbyte.com/integrations/destinations/duckdb"
# A workspace's folder is named after its public id; anything else is refused so a
# caller's mistake can never name DUCKDB_DIR itself or a path inside another folder.
_FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# DuckDB keeps uncheckpointed changes next to the file; it moves with it.
_COMPANIONS = ("", ".wal")

SPEC: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "DuckDB Destination Spec",
    "type": "object",
    "required": ["destination_path"],
    "additionalProperties": False,
    "properties": {
        "destination_path": {
            "title": "Database file",
            "description": "A DuckDB file in this workspace's own DuckDB folder "
            "(under var/duckdb/); a relative name such as warehouse.duckdb is a "
            "file there. Other places only where the administrator allows them.",
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
    """The folder every workspace's DuckDB folder lives in (``DUCKDB_DIR``)."""
    return Path(getattr(settings, "DUCKDB_DIR", Path(settings.DATA_DIR) / "duckdb"))


def workspace_duckdb_dir(workspace_id: str) -> Path:
    """A workspace's own DuckDB folder, ``DUCKDB_DIR/<public id>/`` (not created)."""
    name = str(workspace_id or "").strip()
    if not _FOLDER_NAME.fullmatch(name):
        raise ValueError(
            "A DuckDB destination belongs to a workspace, and no workspace was "
            "given: its file cannot be placed."
        )
    return duckdb_dir() / name


def resolve_duckdb_path(value: str, *, workspace_id: str) -> Path:
    """The DuckDB file a config names, confined to the workspace's own folder.

    A relative path is a file in ``DUCKDB_DIR/<workspace_id>/``. The path is
    resolved (``..`` and symlinks followed) before it is checked, so neither climbs
    out: a file in another workspace's folder, in the shared folder or elsewhere on
    the server is refused with a ValueError that says why. ``DUCKDB_ALLOW_ANY_PATH``
    is the administrator's console-wide escape hatch. Workspaces share one server,
    so this is what keeps B's sync from overwriting A's tables.
    """
    raw = (value or "").strip()
    if not raw or raw == ":memory:" or raw.startswith("md:") or "\x00" in raw:
        raise ValueError("Name a DuckDB file, such as warehouse.duckdb.")
    own = workspace_duckdb_dir(workspace_id)
    named = Path(raw).expanduser()
    resolved = (named if named.is_absolute() else own / named).resolve()
    allow_any = bool(getattr(settings, "DUCKDB_ALLOW_ANY_PATH", False))
    if own.is_symlink() and not allow_any:
        raise ValueError(
            f"This workspace's DuckDB folder {own} is a symbolic link; an "
            "administrator must replace it with a real folder."
        )
    home = own.resolve()
    if resolved != home and resolved.is_relative_to(home):
        if not named.is_absolute() and not resolved.exists():
            _adopt_shared_file(raw, resolved, workspace_id=str(workspace_id).strip())
        return resolved
    if allow_any:
        return resolved
    root = duckdb_dir().resolve()
    if resolved.is_relative_to(root) and len(resolved.relative_to(root).parts) > 1:
        raise ValueError(
            f"{raw} is in another workspace's DuckDB folder; a destination may "
            f"only use files in this workspace's own folder ({home}). Use a "
            "relative name such as warehouse.duckdb."
        )
    raise ValueError(
        f"{raw} is outside this workspace's DuckDB folder ({home}). Use a relative "
        "name such as warehouse.duckdb, or ask an administrator to set "
        "DUCKDB_ALLOW_ANY_PATH (it allows any path, for every workspace)."
    )


def _adopt_shared_file(raw: str, target: Path, *, workspace_id: str) -> None:
    """Move a file saved before workspaces had folders into this one's, once.

    Until then a relative name meant a file in ``DUCKDB_DIR`` itself. It moves to
    the one workspace whose destination names it; when another workspace's does
    too, the console cannot tell whose it is and refuses, telling the admin what
    to do. Nothing is moved through a symlink or out of another workspace's folder.
    """
    name = os.path.normpath(raw)
    parts = Path(name).parts
    if name.startswith("..") or _is_workspace_folder(parts[0]):
        return
    root = duckdb_dir().resolve()
    shared = duckdb_dir() / name
    if shared.is_symlink() or not shared.is_file() or shared.resolve() != root / name:
        return
    configs = registry.destination_configs(NAME)
    others = (
        None
        if configs is None
        else {
            owner
            for owner, config in configs
            if owner != workspace_id and _names(config, name)
        }
    )
    if others is None or others:
        logger.warning(
            "Not moving the shared DuckDB file %s into workspace %s: other "
            "workspaces name it too (%s).",
            shared,
            workspace_id,
            ", ".join(sorted(others or ())) or "unknown",
        )
        why = (
            "the console cannot see which workspaces name it"
            if others is None
            else "a destination in another workspace names it too"
        )
        raise ValueError(
            f"{raw} is a DuckDB file from before each workspace had its own folder, "
            f"and {why}, so the console cannot tell whose it is. An administrator "
            "must move "
            f"{shared} into the folder of the workspace it belongs to "
            "(DUCKDB_DIR/<workspace id>/) and give the other destinations another "
            "file name."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in _COMPANIONS:
        source = shared.with_name(shared.name + suffix)
        if source.is_file() and not source.is_symlink():
            try:
                os.rename(source, target.with_name(target.name + suffix))
            except FileNotFoundError:
                continue  # another process moved it a moment ago
    logger.warning(
        "Moved the shared DuckDB file %s into workspace %s's folder: %s",
        shared,
        workspace_id,
        target,
    )


def _is_workspace_folder(name: str) -> bool:
    try:
        uuid.UUID(name)
    except ValueError:
        return False
    return True


def _names(config: dict[str, Any], name: str) -> bool:
    """Does this saved config name the relative file ``name``?"""
    value = str(config.get("destination_path") or "").strip()
    if not value or Path(value).expanduser().is_absolute():
        return False
    return os.path.normpath(value) == name


def check(config: dict[str, Any], *, workspace_id: str) -> CheckResult:
    """Validate the config, then open the file and create and drop a table in it.

    The test table lives inside a transaction that is rolled back, so a check leaves
    nothing behind but the (possibly new, empty) file.
    """
    return invalid_config(SPEC, config) or _check_file(config, workspace_id)


def _check_file(config: dict[str, Any], workspace_id: str) -> CheckResult:
    try:
        path = resolve_duckdb_path(
            config.get("destination_path", ""), workspace_id=workspace_id
        )
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


def prepare_config(config: dict[str, Any], *, workspace_id: str) -> dict[str, Any]:
    """The config with its file resolved by the same rule as the check.

    Raises ValueError for a path the console refuses, so a sync fails with the same
    message the "Test" button gives. The writer opens the resolved file, not the
    name the user typed.
    """
    path = resolve_duckdb_path(
        str(config.get("destination_path") or ""), workspace_id=workspace_id
    )
    return {**config, "destination_path": str(path)}


def writer() -> type:
    """The writer class, imported only when a sync writes to DuckDB."""
    from apps.engines.embedded.writers.duckdb import DuckDBWriter

    return DuckDBWriter


def dbt_profile(config: dict[str, Any], *, workspace_id: str) -> dict[str, Any]:
    """A dbt-duckdb target on the resolved file and default schema of this config."""
    return {
        "type": "duckdb",
        "path": prepare_config(config, workspace_id=workspace_id)["destination_path"],
        "schema": config.get("schema") or "main",
    }


DESCRIPTOR = DestinationDescriptor(
    name=NAME,
    title="DuckDB",
    definition_id="94bd199c-2ff0-4aa2-b98e-17f0acb72610",
    spec=connector_spec(SPEC, DOCS_URL),
    docs_url=DOCS_URL,
    check=check,
    prepare_config=prepare_config,
    writer=writer,
    dbt_profile=dbt_profile,
    table_names=layout.table_names,
    table_columns=layout.table_columns_for(writer),
)
