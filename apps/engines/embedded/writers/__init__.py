"""Destination writers of the embedded engine (PostgreSQL and DuckDB).

``writer_for("postgres" | "duckdb")`` is the class for a builtin destination; the
interface and its guarantees are documented in ``writers/base.py``.
"""

from __future__ import annotations

from apps.engines.embedded.writers.base import (
    CommitResult,
    DestinationError,
    DestinationWriter,
    StreamConfig,
    StreamCounts,
)
from apps.engines.embedded.writers.typing import decode_json

__all__ = [
    "CommitResult",
    "DestinationError",
    "DestinationWriter",
    "StreamConfig",
    "StreamCounts",
    "decode_json",
    "writer_for",
]


def writer_for(builtin: str) -> type[DestinationWriter]:
    """The writer class for a destination's ``builtin`` name."""
    # Imported here so that using one backend never imports the other's driver.
    if builtin == "postgres":
        from apps.engines.embedded.writers.postgres import PostgresWriter

        return PostgresWriter
    if builtin == "duckdb":
        from apps.engines.embedded.writers.duckdb import DuckDBWriter

        return DuckDBWriter
    raise DestinationError(
        f"The embedded engine has no writer for destination {builtin!r}.",
        failure_type="config_error",
    )
