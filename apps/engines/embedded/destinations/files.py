"""Files: Parquet, JSON lines or CSV in a local folder or an S3-compatible bucket.

Written by the console's own writer (``writers/files.py``). The S3 fields keep the
names of Airbyte's destination-s3 (``s3_bucket_name``, ``s3_bucket_path``,
``s3_bucket_region``, ``s3_endpoint``, ``access_key_id``, ``secret_access_key``,
``format.format_type``), under a ``storage`` choice that adds a local folder.

A local folder belongs to its workspace like a DuckDB file: it is a folder in
``FILES_DIR/<workspace public id>/``, resolved (``..`` and symlinks followed) before
it is checked, and one that leaves it is refused by "Test" and by the sync alike.

Deduplication is not offered (``supported_destination_sync_modes`` says overwrite
and append) and a stream set to it is refused when the sync starts, with why.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.engines.base import CheckResult, ConnectorSpec, DestinationDescriptor
from apps.engines.embedded.destinations import layout
from apps.engines.embedded.destinations._common import invalid_config
from apps.engines.masking import SecretMasker, secret_values

NAME = "files"
DOCS_URL = "https://docs.airbyte.com/integrations/destinations/s3"
# What a files destination can do: files are only ever added, never merged by key.
SYNC_MODES = ("overwrite", "append")
_FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

_FORMAT = {
    "title": "Output format",
    "description": "How each sync's files are written.",
    "type": "object",
    "order": 1,
    "oneOf": [
        {
            "title": "Parquet",
            "required": ["format_type"],
            "properties": {
                "format_type": {
                    "title": "Format",
                    "type": "string",
                    "const": "Parquet",
                },
                "compression_codec": {
                    "title": "Compression",
                    "type": "string",
                    "enum": ["SNAPPY", "ZSTD", "GZIP", "UNCOMPRESSED"],
                    "default": "SNAPPY",
                },
            },
        },
        {
            "title": "JSON lines",
            "required": ["format_type"],
            "properties": {
                "format_type": {"title": "Format", "type": "string", "const": "JSONL"},
                "compression_codec": {
                    "title": "Compression",
                    "description": "GZIP compresses each whole file (.gz).",
                    "type": "string",
                    "enum": ["No Compression", "GZIP"],
                    "default": "No Compression",
                },
            },
        },
        {
            "title": "CSV",
            "required": ["format_type"],
            "properties": {
                "format_type": {"title": "Format", "type": "string", "const": "CSV"},
                "compression_codec": {
                    "title": "Compression",
                    "description": "GZIP compresses each whole file (.gz).",
                    "type": "string",
                    "enum": ["No Compression", "GZIP"],
                    "default": "No Compression",
                },
            },
        },
    ],
}

_LOCAL = {
    "title": "Local folder",
    "required": ["storage_type", "destination_path"],
    "properties": {
        "storage_type": {"title": "Storage", "type": "string", "const": "Local"},
        "destination_path": {
            "title": "Folder",
            "description": "A folder in this workspace's own files folder (under "
            "var/files/); a relative name such as exports is a folder there.",
            "type": "string",
            "default": "exports",
            "pattern": r"^[^\x00]+$",
            "examples": ["exports"],
        },
    },
}

_S3 = {
    "title": "S3 or an S3-compatible store",
    "required": [
        "storage_type",
        "s3_bucket_name",
        "access_key_id",
        "secret_access_key",
    ],
    "properties": {
        "storage_type": {"title": "Storage", "type": "string", "const": "S3"},
        "s3_bucket_name": {
            "title": "S3 bucket name",
            "type": "string",
            "pattern": r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
            "examples": ["airbyte-exports"],
            "order": 0,
        },
        "s3_bucket_path": {
            "title": "S3 bucket path",
            "description": "A folder in the bucket that every file goes under; "
            "empty for the bucket's top.",
            "type": "string",
            "default": "",
            "examples": ["data_sync/test"],
            "order": 1,
        },
        "s3_bucket_region": {
            "title": "S3 bucket region",
            "type": "string",
            "default": "us-east-1",
            "examples": ["eu-west-1"],
            "order": 2,
        },
        "s3_endpoint": {
            "title": "Endpoint",
            "description": "Only for a store other than AWS (MinIO, Ceph, R2...): "
            "its URL, e.g. http://minio.internal:9000.",
            "type": "string",
            "default": "",
            "pattern": r"^(https?://[^\s]+)?$",
            "order": 3,
        },
        "access_key_id": {
            "title": "Access key ID",
            "type": "string",
            "airbyte_secret": True,
            "order": 4,
        },
        "secret_access_key": {
            "title": "Secret access key",
            "type": "string",
            "airbyte_secret": True,
            "order": 5,
        },
    },
}

SPEC: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Files Destination Spec",
    "type": "object",
    "required": ["storage", "format"],
    "properties": {
        "storage": {
            "title": "Where the files go",
            "description": "A folder on this server (in the workspace's own files "
            "folder) or a bucket of S3 or an S3-compatible store.",
            "type": "object",
            "order": 0,
            "oneOf": [_LOCAL, _S3],
        },
        "format": _FORMAT,
    },
}


def files_dir() -> Path:
    """The folder every workspace's files folder lives in (``FILES_DIR``)."""
    return Path(getattr(settings, "FILES_DIR", Path(settings.DATA_DIR) / "files"))


def resolve_files_path(value: str, *, workspace_id: str) -> Path:
    """The folder a local config names, confined to the workspace's own folder.

    A relative name is a folder in ``FILES_DIR/<workspace_id>/``; the path is
    resolved before it is checked, so neither ``..`` nor a symlink leads out of it,
    into another workspace's folder or elsewhere on the server (ValueError, with
    why). The workspace's folder itself is refused too: its files would mix with
    every other destination's.
    """
    name = str(workspace_id or "").strip()
    if not _FOLDER_NAME.fullmatch(name):
        raise ValueError(
            "A files destination belongs to a workspace, and no workspace was "
            "given: its folder cannot be placed."
        )
    raw = (value or "").strip()
    if not raw or "\x00" in raw:
        raise ValueError("Name a folder, such as exports.")
    own = files_dir() / name
    if own.is_symlink():
        raise ValueError(
            f"This workspace's files folder {own} is a symbolic link; an "
            "administrator must replace it with a real folder."
        )
    home = own.resolve()
    named = Path(raw).expanduser()
    resolved = (named if named.is_absolute() else own / named).resolve()
    if resolved != home and resolved.is_relative_to(home):
        return resolved
    root = files_dir().resolve()
    parts = resolved.relative_to(root).parts if resolved.is_relative_to(root) else ()
    if len(parts) > 1 and parts[0] != name:
        raise ValueError(
            f"{raw} is in another workspace's files folder; a destination may "
            f"only use folders in this workspace's own ({home}). Use a relative "
            "name such as exports."
        )
    if resolved == home:
        raise ValueError(
            f"{raw} is this workspace's files folder itself; name a folder in it, "
            "such as exports."
        )
    raise ValueError(
        f"{raw} is outside this workspace's files folder ({home}). Use a relative "
        "name such as exports."
    )


def check(config: dict[str, Any], *, workspace_id: str) -> CheckResult:
    """Validate the config, then write, list and delete a small file where it says.

    For S3 that is a probe object under the bucket path, so a bucket that exists
    but refuses writes (a policy, a read-only key) fails here, not at the first
    sync; the message names the bucket and S3's reason, never a secret.
    """
    masker = SecretMasker(_secrets(config))
    invalid = _invalid_option(config) or invalid_config(SPEC, config)
    if invalid is not None:
        return CheckResult(ok=False, message=masker.mask(invalid.message))
    from apps.engines.embedded.writers.base import DestinationError
    from apps.engines.embedded.writers.files import storage_for

    try:
        prepared = prepare_config(config, workspace_id=workspace_id)
        storage = storage_for(prepared)
        storage.probe()
    except ValueError as exc:
        return CheckResult(ok=False, message=masker.mask(str(exc)))
    except DestinationError as exc:
        return CheckResult(ok=False, message=masker.mask(exc.message))
    return CheckResult(ok=True, message=f"{storage.where} is writable.")


def _invalid_option(config: dict[str, Any]) -> CheckResult | None:
    """The first error inside the chosen storage and format options, or None.

    A failed ``oneOf`` alone says only "not valid under any of the given schemas";
    the option the user picked (by its ``const``) says which field is wrong.
    """
    for name in ("storage", "format"):
        value = config.get(name)
        if not isinstance(value, dict):
            continue
        options = SPEC["properties"][name]["oneOf"]
        key = "storage_type" if name == "storage" else "format_type"
        chosen = value.get(key)
        for option in options:
            if option["properties"][key]["const"] == chosen:
                found = invalid_config({"type": "object", **option}, value)
                if found is not None:
                    text = found.message.removeprefix("config: ")
                    where = ": " if text != found.message else "."
                    return CheckResult(ok=False, message=f"{name}{where}{text}")
                break
        else:
            known = ", ".join(o["properties"][key]["const"] for o in options)
            return CheckResult(
                ok=False,
                message=f"{name}.{key}: choose one of {known}, not {chosen!r}.",
            )
    return None


def _secrets(config: dict[str, Any]) -> set[str]:
    """Every value the spec marks secret, and whatever else looks like one."""
    found = set(secret_values(config))
    storage = config.get("storage")
    if isinstance(storage, dict):
        for field in ("access_key_id", "secret_access_key"):
            value = storage.get(field)
            if isinstance(value, str) and value:
                found.add(value)
    return found


def prepare_config(config: dict[str, Any], *, workspace_id: str) -> dict[str, Any]:
    """The config with a local folder resolved by the same rule as the check.

    Raises ValueError for a folder the console refuses, so a sync fails with the
    message "Test" gives. The writer opens the resolved folder.
    """
    storage = dict(config.get("storage") or {})
    if storage.get("storage_type") == "Local":
        path = resolve_files_path(
            str(storage.get("destination_path") or ""), workspace_id=workspace_id
        )
        storage["destination_path"] = str(path)
    elif storage.get("storage_type") != "S3":
        raise ValueError("Choose where the files go: a local folder or S3.")
    return {**config, "storage": storage}


def writer() -> type:
    """The writer class, imported only when a sync writes files."""
    from apps.engines.embedded.writers.files import FilesWriter

    return FilesWriter


def dbt_profile(config: dict[str, Any], *, workspace_id: str) -> dict[str, Any]:
    """dbt needs a database to run models in; a folder of files is not one."""
    raise ValueError(
        "dbt builds models in a database; a files destination has none. Point a "
        "DuckDB or PostgreSQL destination at the same source for transforms."
    )


def table_columns(json_schema: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The columns of the stream's Parquet and CSV files, with their Parquet types."""
    from apps.engines.embedded.writers.base import AIRBYTE_COLUMNS
    from apps.engines.embedded.writers.files_formats import arrow_type
    from apps.engines.embedded.writers.typing import columns_for_schema

    result = []
    for column in columns_for_schema(json_schema, reserved=AIRBYTE_COLUMNS):
        kind = arrow_type(column.type)
        result.append((column.field, column.name, str(kind) if kind else "string"))
    return result


DESCRIPTOR = DestinationDescriptor(
    name=NAME,
    title="Files (Parquet, JSON lines, CSV)",
    definition_id="2f0f3a7e-6c1d-4d59-9a43-5e4b8c1f7a20",
    spec=ConnectorSpec(
        connection_specification=SPEC,
        documentation_url=DOCS_URL,
        supported_destination_sync_modes=SYNC_MODES,
        supports_incremental=True,
    ),
    docs_url=DOCS_URL,
    check=check,
    prepare_config=prepare_config,
    writer=writer,
    dbt_profile=dbt_profile,
    table_names=layout.table_names,
    table_columns=table_columns,
)
