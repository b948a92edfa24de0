"""`airbyte schedule create|list|pause|resume|remove`: schedules from scripts."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from apps.connections.models import Connection
from apps.core.clikit import CliResult, arg, group, table
from apps.core.roles import Role
from apps.schedules import selectors, services, timing
from apps.schedules.models import Schedule
from apps.workspaces.cli import AS_USER, WORKSPACE, cli_membership

schedule_group = group("schedule", "Sync connections on a cron or interval schedule.")

NAME = arg("name", help="The schedule's name (or id).")


def _row(schedule: Schedule) -> dict[str, Any]:
    next_run = selectors.next_run_for(schedule.connection)
    return {
        "id": str(schedule.public_id),
        "name": schedule.name,
        "connection": schedule.connection.name,
        "connection_id": str(schedule.connection.public_id),
        "kind": schedule.kind,
        "cron": schedule.cron_expression or None,
        "every": timing.describe_every(schedule.interval_minutes)
        if schedule.interval_minutes
        else None,
        "timezone": schedule.timezone,
        "paused": schedule.paused,
        "next_run": next_run.astimezone(schedule.zone).isoformat()
        if next_run
        else None,
    }


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def _connection(workspace, wanted: str) -> Connection:
    rows = Connection.objects.for_workspace(workspace)
    try:
        found = rows.filter(public_id=UUID(str(wanted))).first()
    except ValueError:
        found = rows.filter(name__iexact=str(wanted)).first()
    if found is None:
        raise CommandError(
            f"No connection {wanted!r} in {workspace}. "
            "`airbyte content list --type connections` shows them."
        )
    return found


def _schedule(workspace, name: str) -> Schedule:
    found = selectors.schedule_by_name(workspace=workspace, name=name)
    if found is None:
        raise CommandError(
            f"No schedule {name!r} in {workspace}. `airbyte schedule list` shows them."
        )
    return found


@schedule_group.action(
    "create",
    "Schedule a connection's syncs by cron (--cron) or interval (--every).",
    arg("--name", required=True, help="A name, unique in the workspace."),
    arg(
        "--connection-id",
        dest="connection_id",
        required=True,
        metavar="ID_OR_NAME",
        help="The connection to sync (its id or name).",
    ),
    arg("--cron", metavar="EXPR", help="5-field cron expression, e.g. '0 0 * * *'."),
    arg(
        "--every",
        metavar="DURATION",
        help="Sync N after the previous sync ended: 30m, 6h, 1h30m, 1d.",
    ),
    arg(
        "--timezone",
        default="UTC",
        metavar="ZONE",
        help="IANA time zone the cron expression is read in (default UTC).",
    ),
    WORKSPACE,
    AS_USER,
)
def schedule_create(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.EDITOR)
    cron, every = options.get("cron"), options.get("every")
    if bool(cron) == bool(every):
        raise CommandError("Pass exactly one of --cron EXPR or --every DURATION.")
    connection = _connection(membership.workspace, options["connection_id"])
    try:
        # Parsed inside the try: a bad or too long interval is a one-line error.
        interval_minutes = timing.parse_every(every) if every else None
        created = services.schedule_create(
            actor=membership.user,
            workspace=membership.workspace,
            connection=connection,
            name=options["name"],
            kind=Schedule.Kind.CRON if cron else Schedule.Kind.INTERVAL,
            cron_expression=cron or "",
            interval_minutes=interval_minutes,
            timezone_name=options.get("timezone") or "UTC",
        )
    except ValidationError as exc:
        raise CommandError(_errors(exc)) from None
    row = _row(created)
    return CliResult(
        data=row,
        text=f"Created schedule {created.name}: {created.description}; "
        f"next run {row['next_run']}.",
    )


@schedule_group.action("list", "List the workspace's schedules.", WORKSPACE, AS_USER)
def schedule_list(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.VIEWER)
    rows = [_row(s) for s in selectors.schedule_list(workspace=membership.workspace)]
    shown = [
        {
            **row,
            "runs": row["cron"]
            or (f"every {row['every']}" if row["every"] else "manual"),
            "state": "paused" if row["paused"] else "active",
            "next_run": row["next_run"] or "",
        }
        for row in rows
    ]
    text = table(
        shown, ["name", "connection", "runs", "timezone", "state", "next_run", "id"]
    )
    return CliResult(data=rows, text=text)


@schedule_group.action(
    "pause", "Stop a schedule from starting syncs.", NAME, WORKSPACE, AS_USER
)
def schedule_pause(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.EDITOR)
    found = _schedule(membership.workspace, options["name"])
    paused = services.schedule_pause(actor=membership.user, schedule=found)
    return CliResult(data=_row(paused), text=f"Paused schedule {paused.name}.")


@schedule_group.action(
    "resume",
    "Start a paused schedule again from now (missed runs are not replayed).",
    NAME,
    WORKSPACE,
    AS_USER,
)
def schedule_resume(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.EDITOR)
    found = _schedule(membership.workspace, options["name"])
    resumed = services.schedule_resume(actor=membership.user, schedule=found)
    row = _row(resumed)
    return CliResult(
        data=row, text=f"Resumed schedule {resumed.name}; next run {row['next_run']}."
    )


@schedule_group.action(
    "remove", "Delete a schedule (the connection stays).", NAME, WORKSPACE, AS_USER
)
def schedule_remove(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.EDITOR)
    found = _schedule(membership.workspace, options["name"])
    row = _row(found)
    services.schedule_delete(actor=membership.user, schedule=found)
    return CliResult(
        data={**row, "removed": True}, text=f"Removed schedule {found.name}."
    )
