"""Where the console's writers put a connection's streams, for destination descriptors.

The review step of a new connection and a generated dbt project both need the real
``(schema, table)`` of each stream and the columns its table gets, without
importing the writers. Every built-in destination names them the same way (the
writers share ``writers/base.py``); only the column types differ, by writer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def table_names(
    streams: list[tuple[str | None, str]], *, schema: str, prefix: str
) -> dict[tuple[str | None, str], tuple[str, str]]:
    """``(schema, table)`` the writer uses for each ``(namespace, name)`` stream."""
    from apps.engines.embedded.writers.base import StreamConfig
    from apps.engines.embedded.writers.base import table_names as layout

    configs = [
        StreamConfig(
            name=name,
            namespace=namespace or None,
            json_schema={},
            destination_sync_mode="append",
        )
        for namespace, name in streams
    ]
    return layout(configs, schema=schema or "public", prefix=prefix or "")


def table_columns_for(
    writer: Callable[[], type],
) -> Callable[[dict[str, Any]], list[tuple[str, str, str]]]:
    """``table_columns(json_schema)`` for one writer: ``(field, column, type)``."""

    def table_columns(json_schema: dict[str, Any]) -> list[tuple[str, str, str]]:
        from apps.engines.embedded.writers.base import AIRBYTE_COLUMNS
        from apps.engines.embedded.writers.typing import columns_for_schema

        types = writer().type_names
        return [
            (column.field, column.name, types[column.type])
            for column in columns_for_schema(json_schema, reserved=AIRBYTE_COLUMNS)
        ]

    return table_columns
