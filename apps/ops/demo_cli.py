"""`airbyte demo seed`: fill a workspace with realistic rows, for demos and benchmarks.

    manage.py airbyte demo seed --connections 1000 --jobs 100000 \\
        [--workspace NAME] [--as EMAIL] [--days 60] [--random-seed N] [--json]

The workspace defaults to one named "Seeded", created (with the acting user as its
admin) when no workspace has that name; a named workspace that does not exist yet is
created the same way. Seeding needs the admin role there. Each run adds more: new
connections, numbered after the ones already there, each with its own history.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from apps.core.clikit import CliResult, arg, cli_user, group
from apps.core.roles import Role
from apps.ops.seed import DEFAULT_WORKSPACE, demo_seed, seeded_workspace_lookup
from apps.workspaces.cli import AS_USER, cli_membership
from apps.workspaces.models import Membership
from apps.workspaces.services import workspace_create

demo = group("demo", "Demo data: fill a workspace with realistic rows at scale.")


def _membership(options: dict[str, Any]) -> Membership:
    """The acting admin's membership in the target workspace, created if missing."""
    wanted = (options.get("workspace") or DEFAULT_WORKSPACE).strip()
    user = cli_user(options.get("as_user"))
    if seeded_workspace_lookup(wanted, user=user) is None:
        try:
            workspace_create(actor=user, name=wanted)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
    return cli_membership({**options, "workspace": wanted}, Role.ADMIN)


@demo.action(
    "seed",
    "Add sources, destinations, connections and months of job history to a "
    "workspace (each run adds more).",
    arg("--connections", type=int, default=1000, help="New connections (1000)."),
    arg("--jobs", type=int, default=100_000, help="Jobs spread over them (100000)."),
    arg("--days", type=int, default=60, help="How far back the history goes (60)."),
    arg(
        "--random-seed",
        type=int,
        dest="random_seed",
        help="Make the generated rows repeatable.",
    ),
    arg(
        "--workspace",
        metavar="NAME_OR_ID",
        help=f'Workspace name, slug or id (default: "{DEFAULT_WORKSPACE}", '
        "created if missing).",
    ),
    AS_USER,
)
def demo_seed_action(options: dict[str, Any]) -> CliResult:
    membership = _membership(options)
    try:
        result = demo_seed(
            actor=membership.user,
            workspace=membership.workspace,
            connections=options["connections"],
            jobs=options["jobs"],
            days=options["days"],
            random_seed=options.get("random_seed"),
        )
    except ValidationError as exc:
        raise CommandError(" ".join(exc.messages)) from None
    statuses = ", ".join(
        f"{count:,} {status}" for status, count in result.jobs_by_status.items()
    )
    text = "\n".join(
        [
            f"Seeded {result.workspace.name} ({result.workspace.public_id}) "
            f"in {result.seconds:.1f} s:",
            f"  {result.connections:,} connections with {result.streams:,} streams "
            f"(new sources: {result.sources}, new destinations: "
            f"{result.destinations})",
            f"  {result.jobs:,} jobs ({statuses or 'none'}), "
            f"{result.attempts:,} attempts",
            f"  busiest connection: {result.busiest_jobs:,} jobs",
        ]
    )
    return CliResult(data=result.as_dict(), text=text)
