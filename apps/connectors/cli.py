"""CLI groups: `connectors` (the catalog) and `content` (sources, destinations)."""

from __future__ import annotations

from apps.connectors import catalog_cli, content_cli  # noqa: F401 - they register groups
