"""`airbyte status` and `airbyte info`: what is running and how it is configured.

`airbyte manage`, `airbyte test` and `airbyte demo` live in their own modules,
imported here so their groups register (the CLI loader imports only ``<app>.cli``).
"""

from __future__ import annotations

import platform
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import django
from django.conf import settings
from django.db import DatabaseError

import airbyte_console
from apps.core.clikit import CliResult, group
from apps.core.masking import MASK
from apps.core.roles import Role
from apps.engines import registry

# Imported for their side effect: each one registers its command group.
from apps.ops import demo_cli, manage_cli, metrics_cli, selftest_cli  # noqa: F401
from apps.ops.engine_health import HealthCheck, engine_targets, run_engine_checks
from apps.ops.health import run_probes
from apps.workspaces.cli import AS_USER, WORKSPACE, cli_membership
from apps.workspaces.models import Workspace

status = group(
    "status", "Database, broker, workers and each workspace's engine, and the version."
)
info = group("info", "The configuration in force, with secrets masked.")


@status.action(
    "show",
    "Show the health of every part, and each workspace's engine.",
    WORKSPACE,
    AS_USER,
    default=True,
)
def status_show(options: dict[str, Any]) -> CliResult:
    results = run_probes(["database", "broker", "workers"])
    checks = {
        r.name: {"ok": r.ok, "detail": r.detail, "latency_ms": r.latency_ms}
        for r in results
    }
    lines = [f"Airbyte Console {airbyte_console.__version__}"]
    for r in results:
        lines.append(
            f"  {r.name:<9} {'ok' if r.ok else 'DOWN':<5} "
            f"{r.detail} ({r.latency_ms} ms)"
        )
    engines: list[HealthCheck] = []
    workspaces: list[dict[str, Any]] = []
    engines_ok = False
    if checks["database"]["ok"]:
        try:
            chosen = _status_workspaces(options)
        except DatabaseError:  # reachable, but never migrated
            lines.append(
                "Engines   unknown: the database has no tables yet "
                "(run `airbyte manage install`)"
            )
        else:
            engines = run_engine_checks(engine_targets(chosen))
            workspaces = [
                {"id": str(w.public_id), "name": w.name, "engine": w.engine}
                for w in chosen
            ]
            lines.append("Engines")
            lines.extend(_engine_lines(engines) or ["  (no workspaces yet)"])
            engines_ok = all(e.ok for e in engines)
    else:
        lines.append("Engines   unknown: the database is down")
    # Workers are reported but do not make the status fail: a web-only host has none.
    healthy = checks["database"]["ok"] and checks["broker"]["ok"] and engines_ok
    data = {
        "healthy": healthy,
        "version": airbyte_console.__version__,
        "engine": {
            "default": registry.DEFAULT_ENGINE,
            "ok": engines_ok,
            "detail": "; ".join(f"{e.name}: {e.detail}" for e in engines)
            or "no workspaces yet",
        },
        "engines": [e.as_dict() for e in engines],
        "workspaces": workspaces,
        **checks,
    }
    return CliResult(data=data, text="\n".join(lines), exit_code=0 if healthy else 1)


def _status_workspaces(options: dict[str, Any]) -> list[Workspace]:
    """The workspace asked for (as the acting user sees it), else all of them."""
    if options.get("workspace"):
        return [cli_membership(options, Role.VIEWER).workspace]
    return list(Workspace.objects.order_by("name"))


def _engine_lines(engines: list[HealthCheck]) -> list[str]:
    lines = []
    for check in engines:
        state = "ok" if check.ok else "DOWN"
        headline = check.headline or check.detail
        lines.append(
            f"  {check.engine:<9} {state:<5} {headline} ({check.latency_ms} ms)"
        )
        lines.extend(f"  {'':<15} {note}" for note in check.notes)
        lines.append(f"  {'':<15} workspaces: {', '.join(check.workspaces)}")
    return lines


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
