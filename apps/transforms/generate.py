"""A dbt project generated from a connection: its streams become sources and staging.

``generate_files(connection)`` returns the files of a small, conventional dbt
project (``{path: text}``) for the connection's selected streams:

- ``dbt_project.yml`` (profile ``console``, the one the runs write);
- ``models/sources.yml``: one source (``source_name(connection)``) with one table
  per stream, at its real schema and table in the destination, its columns and
  their descriptions from the stream's JSON schema, the ``_airbyte_*`` columns
  documented, and freshness on ``_airbyte_extracted_at``;
- ``models/staging/stg_<table>.sql``: the stream's columns, typed; for an
  ``append_dedup`` stream only the latest row per primary key (by cursor, then
  ``_airbyte_extracted_at``);
- ``models/staging/schema.yml``: ``not_null`` on primary keys, and ``unique`` too
  where the stream is deduplicated (an append stream holds every version of a row);
- ``README.md``.

Table and column names come from the destination's descriptor (``table_names`` and
``table_columns``: the writer's own naming), so the models select what a sync
really wrote. A destination without them (one of an Airbyte server) gets Airbyte's
usual lowercase snake case names and no casts. The SQL is portable between
PostgreSQL and DuckDB: ``::type`` casts to types both spell alike, and numbers and
JSON kept in the type the writer gave them.
"""

# The SQL here is text for dbt to run later, built from identifiers that went
# through quote() or the writer's naming, never from values.
# ruff: noqa: S608
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import yaml

from apps.connections.models import schema_with_fields
from apps.engines import registry

AIRBYTE_COLUMN_DOCS = {
    "_airbyte_raw_id": "A unique id Airbyte gave the record when it was loaded.",
    "_airbyte_extracted_at": "When the source emitted the record (UTC).",
    "_airbyte_meta": "Changes made while loading the record, as JSON "
    '({"changes": [{"field", "change", "reason"}]}): values the destination '
    "could not store as they came.",
    "_airbyte_generation_id": "The generation of the stream the record belongs "
    "to; it grows with each full refresh and reset.",
}
EXTRA_DOC = (
    "The record's fields that are not in the stream's schema, as JSON (NULL when "
    "there are none)."
)
# The type spellings PostgreSQL and DuckDB share, for the writers' column types.
# Numbers (numeric / DOUBLE) and JSON (jsonb / JSON) have none: they are selected
# in the type the writer gave them.
PORTABLE_TYPES = {
    "text": "text",
    "varchar": "text",
    "character varying": "text",
    "bigint": "bigint",
    "boolean": "boolean",
    "date": "date",
    "timestamp with time zone": "timestamptz",
    "timestamptz": "timestamptz",
    "timestamp without time zone": "timestamp",
    "timestamp": "timestamp",
    "time without time zone": "time",
    "time": "time",
    "time with time zone": "timetz",
    "timetz": "timetz",
}
MAX_IDENTIFIER = 63
RESERVED_PROJECT_NAMES = {"dbt", "dbt_postgres", "dbt_duckdb", "postgres", "duckdb"}
_NOT_WORD = re.compile(r"[^a-z0-9_]+")


@dataclass
class Column:
    """One column of a stream's table, as the staging model selects it."""

    name: str
    field: str
    sql_type: str = ""
    description: str = ""

    @property
    def cast(self) -> str:
        return PORTABLE_TYPES.get(self.sql_type.strip().lower(), "")


@dataclass
class Stream:
    """One selected stream of the connection and where it lives in the destination."""

    name: str
    namespace: str
    schema: str
    table: str
    sync_mode: str
    destination_sync_mode: str
    primary_key: list[list[str]]
    cursor_field: list[str]
    description: str = ""
    columns: list[Column] = field(default_factory=list)

    @property
    def dedup(self) -> bool:
        return self.destination_sync_mode == "append_dedup"

    @property
    def model(self) -> str:
        return fit(f"stg_{self.table}")

    def column_for(self, path: list[str]) -> Column | None:
        """The column holding a top-level field (None for nested paths)."""
        if len(path) != 1:
            return None
        return next((c for c in self.columns if c.field == path[0]), None)

    @property
    def key_columns(self) -> list[Column]:
        found = [self.column_for(path) for path in self.primary_key]
        return [c for c in found if c is not None]

    @property
    def cursor_column(self) -> Column | None:
        return self.column_for(self.cursor_field) if self.cursor_field else None


def slug(text: str) -> str:
    """Lowercase snake case made of ASCII letters, digits and underscores."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = decomposed.encode("ascii", "ignore").decode().lower()
    return _NOT_WORD.sub("_", ascii_text).strip("_")


def fit(name: str) -> str:
    """An identifier of at most 63 bytes (PostgreSQL's limit): head plus a hash."""
    if len(name.encode()) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:8]
    return name[: MAX_IDENTIFIER - 9] + "_" + digest


def text(value: Any) -> str:
    """Words from a name or a connector's schema, safe in a comment or description.

    One line (a newline would end a SQL comment), and no Jinja delimiters: dbt
    renders SQL files and descriptions as templates, and a stream's description
    comes from a connector.
    """
    words = " ".join(str(value or "").split())
    for opener in ("{{", "{%", "{#"):
        while opener in words:
            words = words.replace(opener, opener[0] + " " + opener[1])
    return words


def quote(identifier: str) -> str:
    """A double-quoted identifier (PostgreSQL and DuckDB agree)."""
    return '"' + identifier.replace('"', '""') + '"'


def source_name(connection: Any) -> str:
    """The dbt source of a connection: ``airbyte_`` and its name in snake case."""
    return fit("airbyte_" + (slug(connection.name) or "connection"))


def project_name(connection: Any) -> str:
    """dbt's project name (a letter first, then letters, digits, underscores)."""
    name = slug(connection.name) or "connection"
    # A letter first, and not the name of a package dbt itself loads.
    if not name[0].isalpha() or name in RESERVED_PROJECT_NAMES:
        name = "p_" + name
    return fit(name)[:MAX_IDENTIFIER]


def _descriptor(connection: Any) -> Any:
    definition = connection.destination.definition
    return registry.destination(getattr(definition, "builtin", "") or "")


def _catalog_stream(connection: Any, name: str, namespace: str) -> dict[str, Any]:
    for stream in (connection.source.catalog or {}).get("streams", []):
        if stream.get("name") == name and (stream.get("namespace") or "") == namespace:
            return stream
    return {}


def _describe(schema: Any) -> str:
    if not isinstance(schema, dict):
        return ""
    return text(schema.get("description") or schema.get("title"))


def streams_of(connection: Any) -> list[Stream]:
    """The connection's selected streams, with their tables and columns."""
    rows = list(connection.streams.filter(selected=True).order_by("namespace", "name"))
    descriptor = _descriptor(connection)
    keys = [(row.namespace or None, row.name) for row in rows]
    if descriptor is not None and descriptor.table_names is not None:
        tables = descriptor.table_names(
            keys, schema=connection.namespace, prefix=connection.table_prefix
        )
    else:
        schema = slug(connection.namespace) or "public"
        tables = {
            key: (schema, fit(slug(connection.table_prefix + key[1]) or "_"))
            for key in keys
        }
    streams = []
    for row in rows:
        catalog = _catalog_stream(connection, row.name, row.namespace)
        # Only the columns the sync writes: a stream with field selection has no
        # column for a field left out, and a source listing it would not build.
        json_schema = schema_with_fields(
            row.json_schema or catalog.get("json_schema") or {},
            row.selected_fields or [],
        )
        properties = json_schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        if descriptor is not None and descriptor.table_columns is not None:
            layout = descriptor.table_columns(json_schema)
        else:
            layout = [(name, fit(slug(name) or "_"), "") for name in properties]
        schema, table = tables[(row.namespace or None, row.name)]
        streams.append(
            Stream(
                name=row.name,
                namespace=row.namespace,
                schema=schema,
                table=table,
                sync_mode=row.sync_mode,
                destination_sync_mode=row.destination_sync_mode,
                # A stream that does not deduplicate may still have a key its
                # source declares: its staging model tests it for NULLs.
                primary_key=[
                    list(p)
                    for p in row.primary_key
                    or catalog.get("source_defined_primary_key")
                    or []
                ],
                cursor_field=list(row.cursor_field or []),
                description=_describe(json_schema),
                columns=[
                    Column(
                        name=column,
                        field=field_name,
                        sql_type=sql_type,
                        description=_describe(properties.get(field_name)),
                    )
                    for field_name, column, sql_type in layout
                ],
            )
        )
    return streams


# -- the files -------------------------------------------------------------------


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88)


def _dbt_project(connection: Any) -> str:
    name = project_name(connection)
    header = (
        "# Generated by Airbyte Console from the connection "
        f"“{text(connection.name)}”.\n"
        "# The console writes the profile “console” for each run from the\n"
        "# project's destination; edit the models freely.\n"
    )
    return header + _yaml(
        {
            "name": name,
            "version": "1.0.0",
            "config-version": 2,
            "profile": "console",
            "model-paths": ["models"],
            "seed-paths": ["seeds"],
            "test-paths": ["tests"],
            "macro-paths": ["macros"],
            "snapshot-paths": ["snapshots"],
            "clean-targets": ["target", "dbt_packages"],
            "models": {name: {"staging": {"+materialized": "view"}}},
        }
    )


def _stream_label(stream: Stream) -> str:
    label = f"{stream.namespace}.{stream.name}" if stream.namespace else stream.name
    return text(label)


def _sources(connection: Any, streams: list[Stream], embedded: bool) -> str:
    airbyte_docs = dict(AIRBYTE_COLUMN_DOCS)
    if embedded:
        airbyte_docs["_airbyte_extra"] = EXTRA_DOC
    schemas = sorted({s.schema for s in streams})
    tables = []
    for stream in streams:
        description = (
            f"Stream “{_stream_label(stream)}” of the source "
            f"“{text(connection.source.name)}” ({stream.sync_mode} / "
            f"{stream.destination_sync_mode})."
        )
        if stream.description:
            description += " " + stream.description
        table: dict[str, Any] = {"name": stream.table, "description": description}
        if len(schemas) > 1:
            table["schema"] = stream.schema
        columns = [
            {"name": name, "description": text} for name, text in airbyte_docs.items()
        ]
        for column in stream.columns:
            entry: dict[str, Any] = {"name": column.name}
            if column.description:
                entry["description"] = column.description
            if column.sql_type:
                entry["data_type"] = column.sql_type.lower()
            columns.append(entry)
        table["columns"] = columns
        tables.append(table)
    source: dict[str, Any] = {
        "name": source_name(connection),
        "description": f"Tables the connection “{text(connection.name)}” loads "
        f"from “{text(connection.source.name)}” into "
        f"“{text(connection.destination.name)}”.",
        "schema": schemas[0] if schemas else (slug(connection.namespace) or "public"),
        "config": {
            "loaded_at_field": "_airbyte_extracted_at",
            "freshness": {
                "warn_after": {"count": 24, "period": "hour"},
                "error_after": {"count": 72, "period": "hour"},
            },
        },
        "tables": tables,
    }
    return _yaml({"version": 2, "sources": [source]})


def _select_item(column: Column) -> str:
    ref = quote(column.name)
    if column.cast:
        return f"{ref}::{column.cast} as {ref}"
    return ref


def _staging_sql(connection: Any, stream: Stream) -> str:
    source = source_name(connection)
    lines = [
        f"-- Stream “{_stream_label(stream)}” of the connection "
        f"“{text(connection.name)}” ({stream.sync_mode} / "
        f"{stream.destination_sync_mode}).",
    ]
    keys = stream.key_columns
    if stream.dedup and keys:
        cursor = stream.cursor_column
        lines.append(
            "-- The latest row per primary key: "
            + (f"the greatest {cursor.name}, then " if cursor else "")
            + "the last extracted."
        )
    lines += [
        "",
        "with source as (",
        f"    select * from {{{{ source('{source}', '{stream.table}') }}}}",
        "),",
        "",
    ]
    relation = "source"
    if stream.dedup and keys:
        order = [f"{quote(cursor.name)} desc nulls last"] if cursor else []
        order.append("_airbyte_extracted_at desc")
        lines += [
            "ranked as (",
            "    select",
            "        *,",
            "        row_number() over (",
            f"            partition by {', '.join(quote(c.name) for c in keys)}",
            f"            order by {', '.join(order)}",
            "        ) as _airbyte_row_number",
            "    from source",
            "),",
            "",
        ]
        relation = "ranked"
    items = [_select_item(c) for c in stream.columns]
    items += [name for name in AIRBYTE_COLUMN_DOCS]
    lines += ["final as (", "    select"]
    lines += [f"        {item}," for item in items[:-1]] + [f"        {items[-1]}"]
    lines.append(f"    from {relation}")
    if relation == "ranked":
        lines.append("    where _airbyte_row_number = 1")
    lines += [")", "", "select * from final", ""]
    return "\n".join(lines)


def _staging_schema(connection: Any, streams: list[Stream]) -> str:
    models = []
    for stream in streams:
        keys = {c.name for c in stream.key_columns}
        columns = []
        for column in stream.columns:
            entry: dict[str, Any] = {"name": column.name}
            if column.description:
                entry["description"] = column.description
            if column.name in keys:
                entry["data_tests"] = (
                    ["not_null", "unique"] if stream.dedup else ["not_null"]
                )
            columns.append(entry)
        columns += [
            {"name": name, "description": text}
            for name, text in AIRBYTE_COLUMN_DOCS.items()
        ]
        what = (
            "one row per primary key, the latest"
            if stream.dedup and keys
            else "every row as loaded"
        )
        models.append(
            {
                "name": stream.model,
                "description": f"Stream “{_stream_label(stream)}”, typed: {what}.",
                "columns": columns,
            }
        )
    return _yaml({"version": 2, "models": models})


def _readme(connection: Any, streams: list[Stream]) -> str:
    source = source_name(connection)
    rows = "\n".join(
        f"| `{s.name}` | `{s.schema}.{s.table}` | `{s.model}` | "
        f"{s.sync_mode} / {s.destination_sync_mode} |"
        for s in streams
    )
    return f"""# {connection.name}

A dbt project generated by Airbyte Console from the connection
“{connection.name}” (source “{connection.source.name}”, destination
“{connection.destination.name}”).

The console builds it after each successful sync of the connection, with
`--select source:{source}+`: the staging models and everything downstream of them.
It writes the profile (`console`) for each run from the project's destination; no
password is stored in these files.

| Stream | Table | Staging model | Sync mode |
| --- | --- | --- | --- |
{rows}

- `models/sources.yml`: the source `{source}`, one table per stream, with the
  columns Airbyte adds (`_airbyte_raw_id`, `_airbyte_extracted_at`, `_airbyte_meta`,
  `_airbyte_generation_id`) and freshness on `_airbyte_extracted_at`.
- `models/staging/`: one view per stream with typed columns. A deduplicated stream
  keeps the latest row per primary key.
- `models/staging/schema.yml`: `not_null` on primary keys, and `unique` on those of
  deduplicated streams.

Add your own models under `models/` and build on the staging ones with
`{{{{ ref('stg_...') }}}}`.
"""


def generate_files(connection: Any) -> dict[str, str]:
    """The files of a dbt project for the connection's selected streams."""
    streams = streams_of(connection)
    descriptor = _descriptor(connection)
    embedded = descriptor is not None and descriptor.table_columns is not None
    files = {
        "dbt_project.yml": _dbt_project(connection),
        "models/sources.yml": _sources(connection, streams, embedded),
        "models/staging/schema.yml": _staging_schema(connection, streams),
        "README.md": _readme(connection, streams),
    }
    for stream in streams:
        files[f"models/staging/{stream.model}.sql"] = _staging_sql(connection, stream)
    return files
