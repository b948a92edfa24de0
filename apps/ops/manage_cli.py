"""`airbyte manage install|start|stop|restart|status|prune`: the console's own parts.

For the embedded engine, ``install`` migrates the database and installs the
connectors the demo uses; ``start``, ``stop`` and ``restart`` act on the console's
worker processes (a Celery worker and beat, in the background, see
``apps.ops.processes``). An Airbyte server is not the console's to install or run:
``install`` prints the abctl steps and checks that the configured servers answer.
``prune`` removes what is past its retention (``apps.ops.retention``).
"""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.core.clikit import CliResult, arg, cli_user, group, table
from apps.engines import registry
from apps.ops import processes, retention
from apps.ops.engine_health import DEFAULT_CONNECTORS
from apps.workspaces.cli import AS_USER

manage = group(
    "manage",
    "Install the console, start, stop or restart its worker processes, and prune "
    "what is past its retention.",
)

NAMES = arg(
    "--only",
    choices=list(processes.PROCESSES),
    help="Act on one process only (default: the worker and beat).",
)
NO_BEAT = arg(
    "--no-beat",
    action="store_true",
    help="Leave beat out (run exactly one beat per deployment).",
)
CONCURRENCY = arg(
    "--concurrency", type=int, default=2, help="Celery worker processes (2)."
)
TIMEOUT = arg(
    "--timeout",
    type=float,
    default=processes.STOP_TIMEOUT,
    help="Seconds to wait for a graceful stop before killing (30).",
)


def progress(line: str) -> None:
    """Progress goes to stderr, so ``--json`` output on stdout stays clean."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _acting_user(options: dict[str, Any]) -> AbstractBaseUser | None:
    """``--as EMAIL``, else the first admin; on a fresh install there may be none."""
    if options.get("as_user"):
        return cli_user(options["as_user"])
    return (
        get_user_model()
        .objects.filter(is_active=True, is_superuser=True)
        .order_by("pk")
        .first()
    )


def _engines_in_use() -> set[str]:
    from apps.workspaces.models import Workspace

    used = set(Workspace.objects.values_list("engine", flat=True).distinct())
    return used or {registry.DEFAULT_ENGINE}


def install_connectors(actor: AbstractBaseUser | None) -> list[dict[str, Any]]:
    """Install the default connectors here, in this process; skip installed ones."""
    from apps.connectors.catalog import services as catalog_services
    from apps.connectors.catalog.selectors import installed_version
    from apps.connectors.models import ConnectorDefinition, ConnectorInstall

    rows = []
    for package in DEFAULT_CONNECTORS:
        definition = ConnectorDefinition.objects.filter(pypi_package=package).first()
        if definition is None:
            rows.append(
                {
                    "package": package,
                    "status": "failed",
                    "error": f"{package} is not in the catalog.",
                }
            )
            continue
        version = definition.pypi_version
        if (
            registry.get_engine().installed(definition.ref)
            and installed_version(definition=definition) == version
        ):
            progress(f"{package} {version} is already installed.")
            rows.append({"package": package, "version": version, "status": "present"})
            continue
        progress(f"Installing {package} {version} (about 30 s)...")
        try:
            install = catalog_services.connector_install_request(
                actor=actor, definition=definition, enqueue=False
            )
        except (ValidationError, PermissionDenied) as exc:
            # PermissionDenied: `--as` a user who is not console staff.
            error = (
                " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            )
            rows.append(
                {
                    "package": package,
                    "version": version,
                    "status": "failed",
                    "error": error,
                }
            )
            continue
        catalog_services.connector_install_run(install_id=install.pk, echo=progress)
        install.refresh_from_db()
        failed = install.status != ConnectorInstall.Status.SUCCEEDED
        rows.append(
            {
                "package": package,
                "version": version,
                "status": "failed" if failed else "installed",
                "error": install.error,
            }
        )
    return rows


@manage.action(
    "install",
    "Migrate the database and install the default connectors (embedded engine); "
    "for an Airbyte server, print the abctl steps and check it answers.",
    arg(
        "--engine",
        choices=["auto", *registry.engine_names()],
        default="auto",
        help="Which engine to prepare (default: the ones the workspaces use).",
    ),
    arg(
        "--no-connectors",
        action="store_true",
        help="Migrate only; do not install the default connectors.",
    ),
    arg(
        "--url",
        default="",
        help="Check that an Airbyte server answers at this address (not saved).",
    ),
    AS_USER,
)
def manage_install(options: dict[str, Any]) -> CliResult:
    progress("Applying database migrations...")
    call_command("migrate", interactive=False, verbosity=1, stdout=sys.stderr)
    engine = options["engine"]
    engines = _engines_in_use() if engine == "auto" else {engine}
    remote = {name for name in engines if registry.engine_class(name).remote}
    if options.get("url"):
        # An address to check is a remote engine's server.
        remote |= {
            n for n in registry.engine_names() if registry.engine_class(n).remote
        }
        engines |= remote
    data: dict[str, Any] = {"migrated": True, "engines": sorted(engines)}
    lines = ["Database migrated."]
    ok = True
    local = engines - remote
    if local:
        if options["no_connectors"]:
            data["connectors"] = []
            lines.append("Connectors: skipped (--no-connectors).")
        else:
            rows = install_connectors(_acting_user(options))
            data["connectors"] = rows
            for row in rows:
                if row["status"] == "failed":
                    ok = False
                    lines.append(f"Connector {row['package']}: FAILED: {row['error']}")
                else:
                    state = "installed" if row["status"] == "installed" else "present"
                    lines.append(
                        f"Connector {row['package']} {row['version']}: {state}."
                    )
    for name in sorted(remote):
        report = registry.engine_class(name).manage_install(
            url=options.get("url") or ""
        )
        if report is not None:
            data[name], more, reachable = report
            lines.extend(more)
            ok = ok and reachable
    if _acting_user({}) is None:
        lines.append(
            "No admin login exists yet: `python manage.py console_bootstrap` creates "
            "one (and prints its password once)."
        )
    if local:
        lines.append("Next: `airbyte manage start` runs the worker and beat.")
    data["ok"] = ok
    return CliResult(data=data, text="\n".join(lines), exit_code=0 if ok else 1)


def _names(options: dict[str, Any]) -> list[str]:
    if options.get("only"):
        return [options["only"]]
    names = list(processes.PROCESSES)
    if options.get("no_beat"):
        names.remove("beat")
    return names


def _engine_notes() -> list[str]:
    """What each engine says about processes start/stop does not run (a server)."""
    notes = []
    for name in registry.engine_names():
        note = registry.engine_class(name).process_note()
        if note:
            notes.append(note)
    return notes


def _process_result(states: list[processes.ProcessState], action: str) -> CliResult:
    lines = [f"{state.name:<7} {state.message}" for state in states]
    lines.extend(_engine_notes())
    ok = all(state.ok for state in states)
    data = {
        "action": action,
        "ok": ok,
        "run_dir": str(processes.run_dir()),
        "processes": [state.as_dict() for state in states],
    }
    return CliResult(data=data, text="\n".join(lines), exit_code=0 if ok else 1)


@manage.action(
    "start",
    "Start the Celery worker and beat in the background (pidfiles and logs in "
    "DATA_DIR/run).",
    NAMES,
    NO_BEAT,
    CONCURRENCY,
)
def manage_start(options: dict[str, Any]) -> CliResult:
    states = processes.start(_names(options), concurrency=options["concurrency"])
    return _process_result(states, "start")


@manage.action(
    "stop",
    "Stop the worker and beat that `manage start` started (SIGTERM, then SIGKILL).",
    NAMES,
    NO_BEAT,
    TIMEOUT,
)
def manage_stop(options: dict[str, Any]) -> CliResult:
    states = processes.stop(_names(options), timeout=options["timeout"])
    return _process_result(states, "stop")


@manage.action(
    "restart",
    "Stop, then start, the worker and beat.",
    NAMES,
    NO_BEAT,
    CONCURRENCY,
    TIMEOUT,
)
def manage_restart(options: dict[str, Any]) -> CliResult:
    names = _names(options)
    stopped = processes.stop(names, timeout=options["timeout"])
    failed = [s for s in stopped if not s.ok]
    if failed:
        raise CommandError(
            "Not restarting: " + "; ".join(f"{s.name} {s.message}" for s in failed)
        )
    started = processes.start(names, concurrency=options["concurrency"])
    result = _process_result(started, "restart")
    stop_lines = [f"{s.name:<7} {s.message}" for s in stopped]
    result.text = "\n".join([*stop_lines, result.text])
    result.data["stopped"] = [s.as_dict() for s in stopped]
    return result


@manage.action("status", "Whether the worker and beat `manage start` ran are up.")
def manage_status(options: dict[str, Any]) -> CliResult:
    states = [processes.process_status(name) for name in processes.PROCESSES]
    return _process_result(states, "status")


@manage.action(
    "prune",
    "Remove jobs, attempt logs, ticks, webhook deliveries and notifications past "
    "their retention (RETENTION_* settings), in small batches; audit events are "
    "never pruned.",
    arg(
        "--dry-run",
        action="store_true",
        help="Count what would be removed; change nothing.",
    ),
)
def manage_prune(options: dict[str, Any]) -> CliResult:
    report = retention.retention_prune(dry_run=options["dry_run"])
    rows = [
        {
            "kind": kind.label,
            "rows": kind.rows,
            "kept for": f"{kind.days} days ({kind.setting})"
            if kind.days
            else f"for ever ({kind.setting}=0)",
        }
        for kind in report.kinds
    ]
    if report.dry_run:
        head = f"Would remove {report.total} rows (dry run: nothing was changed)."
    else:
        head = f"Removed {report.total} rows."
    lines = [head, table(rows, ["kind", "rows", "kept for"])]
    if not report.complete:
        lines.append("Stopped at the time budget; run it again to go on.")
    lines.append(
        f"Kept whatever their age: active jobs, the last {settings.RETENTION_MIN_JOBS} "
        "jobs of each connection and its last successful one, and audit events."
    )
    return CliResult(data=report.as_dict(), text="\n".join(lines))
