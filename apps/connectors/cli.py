"""CLI groups: `connectors` (the catalog) and `content` (sources, destinations)."""

from __future__ import annotations

# Importing these modules registers the `connectors` and `content` groups.
from apps.connectors import content_cli  # noqa: F401
from apps.connectors.catalog import cli  # noqa: F401
