"""The `manage.py airbyte <group> <action>` command line: a small registry.

Each app that offers commands has a ``cli.py`` that declares a group and its actions;
``apps/ops/management/commands/airbyte.py`` finds them all (it lives in ops, the top
layer, because it runs every action inside the audit context). An action is a function
``(options) -> CliResult``: it returns data, and the command prints it as text or,
with ``--json``, as JSON. Bad input raises ``CommandError`` with a message that says
what is wrong; the command prints it to stderr and exits non-zero.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

if TYPE_CHECKING:
    # Only for the annotation: report_startup_error runs when the app registry
    # failed to load, and importing a model then would raise.
    from django.contrib.auth.models import AbstractBaseUser


@dataclass
class CliResult:
    """What an action produced: data for ``--json``, text for people, an exit code."""

    data: Any
    text: str = ""
    exit_code: int = 0


@dataclass(frozen=True)
class Argument:
    flags: tuple[str, ...]
    options: dict[str, Any]


def arg(*flags: str, **options: Any) -> Argument:
    """One argparse argument for an action."""
    return Argument(flags, options)


@dataclass
class Action:
    name: str
    help: str
    handler: Callable[[dict[str, Any]], CliResult]
    arguments: tuple[Argument, ...]


@dataclass
class Group:
    name: str
    help: str
    actions: dict[str, Action] = field(default_factory=dict)
    # A group such as `status` runs its default action when no action is named.
    default: str | None = None

    def action(
        self, name: str, help: str, *arguments: Argument, default: bool = False
    ) -> Callable[[Callable[[dict[str, Any]], CliResult]], Callable]:
        def register(handler: Callable[[dict[str, Any]], CliResult]) -> Callable:
            self.actions[name] = Action(name, help, handler, arguments)
            if default:
                self.default = name
            return handler

        return register


GROUPS: dict[str, Group] = {}


def group(name: str, help: str) -> Group:
    """Declare (or extend) a command group."""
    if name not in GROUPS:
        GROUPS[name] = Group(name, help)
    return GROUPS[name]


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Plain aligned columns for people; scripts use ``--json``."""
    if not rows:
        return "(none)"
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in columns)]
    for row in rows:
        lines.append("  ".join(str(row.get(c, "")).ljust(widths[c]) for c in columns))
    return "\n".join(line.rstrip() for line in lines)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str, sort_keys=False)


def report_startup_error(error: Exception, argv: list[str]) -> int:
    """Print a configuration error that stopped start-up; return the exit code.

    A wrong ``FIELD_ENCRYPTION_KEY`` or a bad setting is raised while Django loads
    (``ImproperlyConfigured``), before any command, including this CLI, could
    report it: ``manage.py`` calls this instead of letting a traceback out. Its
    message already says what is wrong and what to do; a traceback adds only noise.
    Under ``--json`` the error is a JSON object, as every CLI error is.
    """
    message = " ".join(str(error).split()) or error.__class__.__name__
    if "--json" in argv:
        sys.stderr.write(to_json({"error": message, "kind": "configuration"}) + "\n")
    else:
        sys.stderr.write(f"Cannot start: {message}\n")
    return 1


def cli_user(email: str | None) -> AbstractBaseUser:
    """The user the CLI acts as: ``--as EMAIL``, else the first superuser."""
    users = get_user_model().objects.filter(is_active=True)
    if email:
        user = (
            users.filter(email__iexact=email).first()
            or users.filter(username=email).first()
        )
        if user is None:
            raise CommandError(f"No active user with the email {email}.")
        return user
    user = users.filter(is_superuser=True).order_by("pk").first()
    if user is None:
        raise CommandError(
            "No admin user exists yet: run `make run` once, or pass --as EMAIL."
        )
    return user
