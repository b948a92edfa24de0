"""Airbyte's Config API (``/api/v1``): an Airbyte client's calls, and the brief's."""

from __future__ import annotations

from ninja import Router


def routers() -> list[tuple[str, Router]]:
    """The Config API's routers and their path prefixes under ``v1/``."""
    from apps.api.config import connections, connectors, definitions, health, jobs
    from apps.api.public import applications

    return [
        ("", health.router),
        ("", applications.config_router),
        ("", definitions.router),
        ("", connectors.router),
        ("", connections.router),
        ("", jobs.router),
    ]
