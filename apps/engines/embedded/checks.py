"""System checks of the embedded engine: is the connector sandbox in force?

Registered on import (from ``EmbeddedEngineConfig.ready``). Without the sandbox a
connector runs as the console's user and can read its keys and database, so a
production deployment (``check --deploy``) is warned; choosing ``bwrap`` where it
is not installed is an error every command reports.
"""

from __future__ import annotations

import shutil
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register

from apps.engines import sandbox

SANDBOX_OFF_ID = "engines_embedded.W001"
BWRAP_MISSING_ID = "engines_embedded.E001"


@register(Tags.security, deploy=True)
def check_sandbox_on(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when connectors would run unsandboxed in production."""
    if sandbox.enabled():
        return []
    return [
        Warning(
            "CONNECTOR_SANDBOX is none: connectors run as the console's user and can "
            "read its secret keys, database and every workspace's files.",
            hint="Install bubblewrap (apt-get install bubblewrap) and set "
            "CONNECTOR_SANDBOX=bwrap (the default where bwrap is installed).",
            id=SANDBOX_OFF_ID,
        )
    ]


@register(Tags.security)
def check_bwrap_installed(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """CONNECTOR_SANDBOX=bwrap needs the program; say so before a connector runs."""
    if not sandbox.enabled() or shutil.which(sandbox.BWRAP):
        return []
    return [
        Error(
            "CONNECTOR_SANDBOX is bwrap, but bubblewrap (bwrap) is not on PATH, so "
            "no connector can start.",
            hint="Install bubblewrap (apt-get install bubblewrap), or set "
            "CONNECTOR_SANDBOX=none to run connectors unsandboxed.",
            id=BWRAP_MISSING_ID,
        )
    ]
