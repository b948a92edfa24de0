"""`airbyte tokens|applications create|list|revoke`: API credentials from scripts.

A new token or client secret is printed once, by ``create``; nothing else prints
one, because the console keeps only hashes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.utils import timezone

# `airbyte workspace export|import` live in their own module; the command finds
# only `<app>.cli`, so importing it here registers them.
from apps.api import (
    selectors,
    services,
    workspace_cli,  # noqa: F401
)
from apps.api.models import ApiApplication, ApiCredential, PersonalAccessToken
from apps.core.clikit import CliResult, arg, cli_user, group, table
from apps.workspaces.cli import AS_USER

tokens = group("tokens", "Personal access tokens for the API: create, list, revoke.")
applications = group(
    "applications", "API applications (client id + secret): create, list, revoke."
)

NAME = arg("name", help="What uses it, so you know what breaks when you revoke it.")
EXPIRES = arg(
    "--expires-days",
    type=int,
    default=90,
    metavar="DAYS",
    help="Days until it stops working (default 90; 0: never).",
)
COLUMNS = ["id", "name", "status", "expires_at", "last_used_at", "last_used_ip"]


def _row(obj: ApiCredential) -> dict[str, Any]:
    row: dict[str, Any] = {"id": str(obj.public_id), "name": obj.name}
    if isinstance(obj, ApiApplication):
        row["client_id"] = obj.client_id
    else:
        row["prefix"] = obj.prefix
    row.update(
        status=obj.status,
        created_at=obj.created_at,
        expires_at=obj.expires_at,
        last_used_at=obj.last_used_at,
        last_used_ip=obj.last_used_ip,
    )
    return row


# A hundred years: beyond that the date overflows, and 0 already means never.
MAX_EXPIRY_DAYS = 36500


def _expiry(days: int) -> Any:
    if not 0 <= days <= MAX_EXPIRY_DAYS:
        raise CommandError(
            f"--expires-days must be between 0 (never) and {MAX_EXPIRY_DAYS}."
        )
    return timezone.now() + timedelta(days=days) if days else None


def _create(options: dict[str, Any], create: Any) -> tuple[ApiCredential, str]:
    user = cli_user(options.get("as_user"))
    try:
        return create(
            actor=user,
            name=options["name"],
            expires_at=_expiry(options["expires_days"]),
        )
    except ValidationError as exc:
        raise CommandError(" ".join(exc.messages)) from None


def _find(rows: Any, key: str, what: str) -> Any:
    # By id, or by name among the ones that still work.
    match = rows.filter(public_id=key).first() if _is_uuid(key) else None
    match = match or rows.filter(name__iexact=key, revoked_at__isnull=True).first()
    if match is None:
        raise CommandError(f"No {what} {key!r} of yours: see the list command.")
    return match


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


@tokens.action("create", "Create a token; it is printed once.", NAME, EXPIRES, AS_USER)
def token_create(options: dict[str, Any]) -> CliResult:
    token, raw = _create(options, services.token_create)
    row = {**_row(token), "token": raw}
    return CliResult(
        row,
        f"Token “{token.name}” created. Store it now, it is not shown again:\n{raw}",
    )


@tokens.action("list", "List your tokens (never the tokens themselves).", AS_USER)
def token_list(options: dict[str, Any]) -> CliResult:
    user = cli_user(options.get("as_user"))
    rows = [_row(t) for t in selectors.token_list(owner=user)]
    return CliResult(rows, table(rows, ["id", "prefix", *COLUMNS[1:]]))


@tokens.action(
    "revoke",
    "Revoke a token: it stops working at once.",
    arg("token", help="The token's id, or its name."),
    AS_USER,
)
def token_revoke(options: dict[str, Any]) -> CliResult:
    user = cli_user(options.get("as_user"))
    token: PersonalAccessToken = _find(
        selectors.token_list(owner=user), options["token"], "token"
    )
    services.token_revoke(actor=user, token=token)
    return CliResult(_row(token), f"Token “{token.name}” revoked.")


@applications.action(
    "create",
    "Create an application; its secret is printed once.",
    NAME,
    EXPIRES,
    AS_USER,
)
def application_create(options: dict[str, Any]) -> CliResult:
    application, secret = _create(options, services.application_create)
    row = {**_row(application), "client_secret": secret}
    return CliResult(
        row,
        f"Application “{application.name}” created. Store the secret now, it is "
        f"not shown again:\nclient_id:     {application.client_id}\n"
        f"client_secret: {secret}",
    )


@applications.action("list", "List your applications (never a secret).", AS_USER)
def application_list(options: dict[str, Any]) -> CliResult:
    user = cli_user(options.get("as_user"))
    rows = [_row(a) for a in selectors.application_list(owner=user)]
    return CliResult(rows, table(rows, ["id", "client_id", *COLUMNS[1:]]))


@applications.action(
    "revoke",
    "Revoke an application: its secret and bearer tokens stop working at once.",
    arg("application", help="The application's id, or its name."),
    AS_USER,
)
def application_revoke(options: dict[str, Any]) -> CliResult:
    user = cli_user(options.get("as_user"))
    application: ApiApplication = _find(
        selectors.application_list(owner=user), options["application"], "application"
    )
    services.application_revoke(actor=user, application=application)
    return CliResult(_row(application), f"Application “{application.name}” revoked.")
