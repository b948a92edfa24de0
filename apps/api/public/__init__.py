"""Airbyte's Public API (``/api/public/v1``), one router per resource."""

from __future__ import annotations

from ninja import Router


def routers() -> list[tuple[str, Router]]:
    """The Public API's routers and their path prefixes under ``public/v1/``."""
    from apps.api.public import (
        applications,
        connections,
        destinations,
        health,
        jobs,
        sources,
        streams,
        workspaces,
    )

    return [
        ("", health.router),
        ("", applications.router),
        ("", workspaces.router),
        ("", sources.router),
        ("", destinations.router),
        ("", connections.router),
        ("", jobs.router),
        ("", streams.router),
    ]
