"""`airbyte status` and `airbyte info`: what is running and how it is configured."""

from __future__ import annotations

import platform
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import django
from django.conf import settings

import airbyte_console
from apps.core.clikit import CliResult, group
from apps.core.health import run_probes
from apps.core.masking import MASK

status = group("status", "Engine, database, broker and workers, and the version.")
info = group("info", "The configuration in force, with secrets masked.")


@status.action("show", "Show the health of every part.", default=True)
def status_show(options: dict[str, Any]) -> CliResult:
    results = run_probes(["database", "broker", "workers"])
    checks = {
        r.name: {"ok": r.ok, "detail": r.detail, "latency_ms": r.latency_ms}
        for r in results
    }
    data = {
        "version": airbyte_console.__version__,
        "engine": {
            "default": "embedded",
            "ok": True,
            "detail": "connectors run in this console",
        },
        **checks,
    }
    # Workers are reported but do not make the status fail: a web-only host has none.
    healthy = checks["database"]["ok"] and checks["broker"]["ok"]
    lines = [f"Airbyte Console {airbyte_console.__version__}"]
    lines.append(f"  {'engine':<9} ok    embedded (default)")
    for r in results:
        lines.append(
            f"  {r.name:<9} {'ok' if r.ok else 'DOWN':<5} "
            f"{r.detail} ({r.latency_ms} ms)"
        )
    return CliResult(
        data={"healthy": healthy, **data},
        text="\n".join(lines),
        exit_code=0 if healthy else 1,
    )


def mask_url(url: str) -> str:
    """A URL with its password replaced by the mask."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", f":{MASK}@")
    return urlunsplit(parts._replace(netloc=netloc))


@info.action("show", "Show the configuration (secrets masked).", default=True)
def info_show(options: dict[str, Any]) -> CliResult:
    database = settings.DATABASES["default"]
    data = {
        "version": airbyte_console.__version__,
        "python": platform.python_version(),
        "django": django.get_version(),
        "data_dir": str(settings.DATA_DIR),
        "debug": settings.DEBUG,
        "allowed_hosts": settings.ALLOWED_HOSTS,
        "database": {
            "vendor": database["ENGINE"].rsplit(".", 1)[-1],
            "name": str(database.get("NAME", "")),
            "host": database.get("HOST", ""),
            "user": database.get("USER", ""),
            "password": MASK if database.get("PASSWORD") else "",
        },
        "broker": mask_url(settings.CELERY_BROKER_URL),
        "secret_key": MASK,
        "field_encryption_keys": [MASK] * len(settings.FIELD_ENCRYPTION_KEY),
        "metrics_token": MASK if settings.METRICS_TOKEN else "",
        "https": settings.SECURE_HTTPS,
    }
    width = max(len(k) for k in data)
    text = "\n".join(f"{key:<{width}}  {value}" for key, value in data.items())
    return CliResult(data=data, text=text)
