"""dbt targets for destinations an Airbyte server writes (issue #14, item 7).

After a mirrored sync succeeds, the console runs the same transforms against the
destination from its own workers. It can when it reaches the destination's
database with the settings Airbyte holds: destination-postgres takes the same
keys as the console's own PostgreSQL destination, with SSL as an object. A DuckDB
file written by an Airbyte server lives inside that server, out of the console's
reach. Discovered by ``TransformsConfig.ready()`` (``autodiscover_modules``).
"""

from __future__ import annotations

from typing import Any

from apps.transforms.profiles import (
    ProfileError,
    ProfileSupport,
    register_engine_profiles,
)

# Airbyte's SSL modes that need no certificate file on the console's side.
PLAIN_SSL_MODES = ("disable", "allow", "prefer", "require")
CONNECT_TIMEOUT = 10


def postgres_profile(config: dict[str, Any], *, workspace_id: str) -> dict[str, Any]:
    """A dbt-postgres target from Airbyte's destination-postgres configuration."""
    tunnel = config.get("tunnel_method") or {}
    if isinstance(tunnel, dict) and tunnel.get("tunnel_method") not in (
        None,
        "",
        "NO_TUNNEL",
    ):
        raise ProfileError(
            "This destination reaches its database through an SSH tunnel, which "
            "the Airbyte server opens for its syncs; dbt runs from the console and "
            "connects directly. Give the console a direct route to the database."
        )
    ssl = config.get("ssl_mode")
    mode = ssl.get("mode") if isinstance(ssl, dict) else ssl
    if not mode:
        mode = "require" if config.get("ssl") else "prefer"
    if mode not in PLAIN_SSL_MODES:
        raise ProfileError(
            f"The destination's SSL mode “{mode}” needs certificate files that dbt "
            f"cannot take from the console; use one of {', '.join(PLAIN_SSL_MODES)}."
        )
    return {
        "type": "postgres",
        "host": config["host"],
        "port": int(config.get("port") or 5432),
        "user": config["username"],
        "password": config.get("password") or "",
        "dbname": config["database"],
        "schema": config.get("schema") or "public",
        "sslmode": mode,
        "connect_timeout": CONNECT_TIMEOUT,
    }


register_engine_profiles(
    "airbyte",
    ProfileSupport(
        builders={"postgres": ("postgres", postgres_profile)},
        note=(
            "A DuckDB file written by an Airbyte server stays inside that server, "
            "where the console's dbt cannot open it."
        ),
    ),
)
