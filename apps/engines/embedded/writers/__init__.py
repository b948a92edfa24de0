"""Destination writers of the embedded engine (PostgreSQL and DuckDB).

``writer_for(builtin)`` is the class of a registered built-in destination (its
descriptor in ``destinations/`` names it); the interface and its guarantees are
documented in ``writers/base.py``.
"""

from __future__ import annotations

from apps.engines import registry
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
    # The descriptor imports its class only now, so that using one backend never
    # imports the other's driver.
    descriptor = registry.destination(builtin)
    if descriptor is None:
        raise DestinationError(
            f"The embedded engine has no writer for destination {builtin!r}.",
            failure_type="config_error",
        )
    return descriptor.writer()
