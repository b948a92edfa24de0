"""`airbyte workspace create|list|switch`: workspaces from scripts."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import CommandError

from apps.core.clikit import CliResult, arg, cli_user, group, table
from apps.core.roles import Role
from apps.workspaces import selectors, services
from apps.workspaces.models import Membership, Workspace

workspace = group("workspace", "Create, list and switch workspaces.")

AS_USER = arg(
    "--as",
    dest="as_user",
    metavar="EMAIL",
    help="Act as this user (default: the first admin).",
)


def current_workspace_id() -> str | None:
    """The CLI's current workspace, kept in ``var/cli-state.json``."""
    try:
        return json.loads(settings.CONSOLE_CLI_STATE_FILE.read_text()).get("workspace")
    except (OSError, ValueError):
        return None


def _save_current(workspace: Workspace) -> None:
    path = settings.CONSOLE_CLI_STATE_FILE
    path.write_text(
        json.dumps({"workspace": str(workspace.public_id), "name": workspace.name})
    )


def _row(workspace: Workspace, role: str, current: str | None) -> dict[str, Any]:
    return {
        "id": str(workspace.public_id),
        "name": workspace.name,
        "slug": workspace.slug,
        "engine": workspace.engine,
        "role": role,
        "current": str(workspace.public_id) == current,
    }


@workspace.action(
    "create",
    "Create a workspace; the acting user becomes its admin.",
    arg("name", help="The workspace name."),
    AS_USER,
)
def workspace_create(options: dict[str, Any]) -> CliResult:
    user = cli_user(options.get("as_user"))
    try:
        created = services.workspace_create(actor=user, name=options["name"])
    except PermissionDenied as exc:
        raise CommandError(str(exc)) from None
    except ValidationError as exc:
        raise CommandError(" ".join(exc.messages)) from None
    row = _row(created, "admin", current_workspace_id())
    return CliResult(
        data=row, text=f"Created workspace {created.name} ({created.public_id})."
    )


@workspace.action("list", "List the acting user's workspaces.", AS_USER)
def workspace_list(options: dict[str, Any]) -> CliResult:
    user = cli_user(options.get("as_user"))
    current = current_workspace_id()
    rows = [
        _row(m.workspace, m.role, current)
        for m in selectors.workspace_list_for_user(user=user)
    ]
    for row in rows:
        row["current"] = "*" if row["current"] else ""
    text = table(rows, ["current", "name", "role", "engine", "id"])
    data = [{**row, "current": row["current"] == "*"} for row in rows]
    return CliResult(data=data, text=text)


@workspace.action(
    "switch",
    "Make a workspace the CLI's current one (by name, slug or id).",
    arg("name", help="Workspace name, slug or id."),
    AS_USER,
)
def workspace_switch(options: dict[str, Any]) -> CliResult:
    user = cli_user(options.get("as_user"))
    name = options["name"]
    found = _one_membership(user, name, noun="workspace named").workspace
    _save_current(found)
    return CliResult(
        data=_row(found, "", str(found.public_id)),
        text=f"Current workspace: {found.name} ({found.public_id}).",
    )


def _one_membership(user: Any, wanted: str, *, noun: str) -> Membership:
    """The caller's one workspace with this id, name or slug; ambiguity is an error.

    Names are unique only among one user's workspaces as they were created, so
    two of the caller's workspaces (one of them shared with them) may share one.
    """
    found = selectors.workspace_find_for_user(user=user, wanted=wanted)
    if not found:
        raise CommandError(
            f"No {noun} {wanted!r} for {user.get_username()}. "
            "`airbyte workspace list` shows the ones you can use."
        )
    if len(found) > 1:
        ids = ", ".join(str(m.workspace.public_id) for m in found)
        raise CommandError(
            f"{wanted!r} is ambiguous: {len(found)} of your workspaces are called "
            f"that ({ids}). Pass the id instead."
        )
    return found[0]


WORKSPACE = arg(
    "--workspace",
    metavar="NAME_OR_ID",
    help="Workspace name, slug or id (default: the CLI's current workspace).",
)


def cli_membership(options: dict[str, Any], role: str) -> Membership:
    """The acting user's membership in the chosen workspace, if it allows ``role``."""
    user = cli_user(options.get("as_user"))
    wanted = options.get("workspace") or current_workspace_id()
    memberships = Membership.objects.filter(user_id=user.pk).select_related("workspace")
    if not wanted:
        only = list(memberships[:2])
        if len(only) != 1:
            raise CommandError(
                "Which workspace? Pass --workspace NAME_OR_ID or run "
                "`airbyte workspace switch NAME`."
            )
        membership = only[0]
    else:
        membership = _one_membership(user, wanted, noun="workspace")
    if not membership.allows(role):
        raise CommandError(
            f"{user.get_username()} is {membership.role} in {membership.workspace}: "
            f"this needs the {Role(role).label.lower()} role."
        )
    return membership
