"""`airbyte credentials store|list|remove|rotate-key`: credentials from scripts.

Nothing here prints a secret: rows carry names, types and non-secret hints only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import CommandError

from apps.core.clikit import CliResult, arg, cli_user, group, table
from apps.core.roles import Role
from apps.credentials import selectors, services
from apps.credentials.models import Credential
from apps.workspaces.cli import AS_USER, WORKSPACE, cli_membership

credentials = group("credentials", "Store, list and remove credentials; rotate keys.")


def _errors_text(exc: ValidationError) -> str:
    """One line per problem, each naming its field: `api_key: API key is required.`"""
    if not hasattr(exc, "error_dict"):
        return " ".join(exc.messages)
    lines = []
    for field, errors in exc.error_dict.items():
        for message in ValidationError(errors).messages:
            lines.append(
                message if field == NON_FIELD_ERRORS else f"{field}: {message}"
            )
    return "\n".join(lines)


def _row(credential: Credential) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": str(credential.public_id),
        "name": credential.name,
        "type": credential.type,
        "hints": credential.hints,
        "allowed_hosts": list(credential.allowed_hosts or []),
        "details": credential.hint_text,
        "rotated_at": credential.rotated_at,
        "last_used_at": credential.last_used_at,
    }
    if hasattr(credential, "source_count"):
        row["sources"] = credential.source_count
        row["destinations"] = credential.destination_count
    return row


def _read_fields(path: str) -> dict[str, Any]:
    try:
        raw = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
    except UnicodeDecodeError:
        raise CommandError(f"{path} is not UTF-8 text.") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        # The position only, never the text around it: that may be the secret.
        where = "stdin" if path == "-" else path
        raise CommandError(
            f"{where} is not valid JSON (line {exc.lineno}, column {exc.colno})."
        ) from None
    if not isinstance(data, dict):
        raise CommandError(
            "The file must hold a JSON object of the credential's fields."
        )
    return data


@credentials.action(
    "store",
    "Store a credential from a JSON file of its fields. A credential of that name "
    "is updated: give every field, a secret given as ********** keeps its value.",
    arg("--name", required=True, help="The credential's name in the workspace."),
    arg(
        "--type",
        required=True,
        choices=[value for value, _ in Credential.Type.choices],
        help="The credential type.",
    ),
    arg("--file", required=True, help="JSON object of the fields; - reads stdin."),
    arg(
        "--allowed-hosts",
        default=None,
        help="Where it may be sent: comma-separated host names or *.example.com "
        "patterns. Changing them on a stored credential needs the admin role.",
    ),
    WORKSPACE,
    AS_USER,
)
def credentials_store(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.EDITOR)
    fields = _read_fields(options["file"])
    user: AbstractBaseUser = membership.user
    existing = selectors.credential_get_by_name(
        workspace=membership.workspace, name=options["name"]
    )
    try:
        if existing is None:
            credential = services.credential_create(
                actor=user,
                workspace=membership.workspace,
                name=options["name"],
                type=options["type"],
                fields=fields,
                allowed_hosts=options.get("allowed_hosts") or "",
            )
            verb = "Stored"
        else:
            if existing.type != options["type"]:
                raise CommandError(
                    f"“{existing.name}” is a {existing.type} credential; remove it "
                    f"first to store a {options['type']} one under that name."
                )
            hosts = options.get("allowed_hosts")
            if hosts is not None and not membership.allows(Role.ADMIN):
                raise CommandError(
                    "Only a workspace admin can change where a stored credential "
                    "may be sent; leave out --allowed-hosts."
                )
            credential = services.credential_update(
                actor=user,
                credential=existing,
                name=existing.name,
                fields=fields,
                allowed_hosts=hosts,
            )
            verb = "Updated"
    except ValidationError as exc:
        raise CommandError(_errors_text(exc)) from None
    row = _row(credential)
    return CliResult(
        data={**row, "created": existing is None},
        text=f"{verb} credential {credential.name} ({credential.type}) in "
        f"{membership.workspace.name}.",
    )


@credentials.action("list", "List the workspace's credentials.", WORKSPACE, AS_USER)
def credentials_list(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.VIEWER)
    rows = [_row(c) for c in selectors.credential_list(workspace=membership.workspace)]
    shown = [
        {**r, "used_by": r["sources"] + r["destinations"], "details": r["details"]}
        for r in rows
    ]
    return CliResult(
        data=rows, text=table(shown, ["name", "type", "details", "used_by", "id"])
    )


@credentials.action(
    "remove",
    "Remove a credential no source or destination uses.",
    arg("--name", required=True, help="The credential's name."),
    WORKSPACE,
    AS_USER,
)
def credentials_remove(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.EDITOR)
    credential = selectors.credential_get_by_name(
        workspace=membership.workspace, name=options["name"]
    )
    if credential is None:
        raise CommandError(
            f"No credential named {options['name']!r} in {membership.workspace.name}."
        )
    try:
        services.credential_delete(actor=membership.user, credential=credential)
    except ValidationError as exc:
        raise CommandError(_errors_text(exc)) from None
    return CliResult(
        data={
            "id": str(credential.public_id),
            "name": credential.name,
            "removed": True,
        },
        text=f"Removed credential {credential.name}.",
    )


@credentials.action(
    "rotate-key",
    "Re-encrypt every secret under the first FIELD_ENCRYPTION_KEY.",
    AS_USER,
)
def credentials_rotate_key(options: dict[str, Any]) -> CliResult:
    user = cli_user(options.get("as_user"))
    if not user.is_superuser:
        raise CommandError(
            "Only a console administrator (superuser) can rotate the encryption key."
        )
    try:
        counts = services.encryption_rotate_keys(actor=user)
    except ValidationError as exc:
        raise CommandError(_errors_text(exc)) from None
    total = sum(counts.values())
    lines = [f"{label}: {n} row(s) re-encrypted" for label, n in counts.items()]
    lines.append(
        f"{total} row(s) re-encrypted under the first key."
        + (
            " Every value now decrypts with the first key alone: the old keys can be "
            "removed from FIELD_ENCRYPTION_KEY."
        )
    )
    return CliResult(data={"rows": counts, "total": total}, text="\n".join(lines))
