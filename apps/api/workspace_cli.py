"""`airbyte workspace export|import`: a workspace as a YAML file, and back.

Export needs the viewer role (no secret is ever in the file); import needs the
admin role, because a file can add members and change their roles. ``${env:NAME}``
references are read from the environment of this command, except the variables
that configure the console itself (its secret key, encryption keys, database
URL...): this command runs with the console's environment, and a file must not be
able to send those into a connector's config.
"""

from __future__ import annotations

import os
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from apps.api.workspace_code import (
    ImportRefused,
    workspace_export,
    workspace_import,
    workspace_plan,
)
from apps.core.clikit import CliResult, arg, group
from apps.core.roles import Role
from apps.workspaces.cli import AS_USER, WORKSPACE, cli_membership

workspace = group("workspace", "Create, list and switch workspaces.")


@workspace.action(
    "export",
    "Write the workspace as YAML: credentials, sources, destinations, connections "
    "with their streams and schedules, webhooks, transforms and members. Secrets "
    "are never written: each is a reference, ${credential:NAME} or ${env:NAME}.",
    arg("--output", metavar="FILE", help="Write here instead of stdout."),
    arg("--format", choices=["yaml", "json"], default="yaml"),
    WORKSPACE,
    AS_USER,
)
def workspace_export_action(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.VIEWER)
    text = workspace_export(
        membership.workspace, format=options.get("format") or "yaml"
    )
    output = options.get("output")
    if output and output != "-":
        try:
            Path(output).write_text(text)
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror}.") from None
        return CliResult(
            data={"workspace": str(membership.workspace.public_id), "output": output},
            text=f"Wrote {membership.workspace.name} to {output}.",
        )
    return CliResult(data={"document": text}, text=text.rstrip("\n"))


# A reader of airbyte_console/env.py called with a variable's name: every setting
# is read that way (the house rule), so the settings file names them all.
_SETTING_READ = re.compile(r"\benv\.\w+\(\s*[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']")
# Read by other means than settings.py, or spelled in the plural there.
_ALSO_CONSOLE = frozenset(
    {"DJANGO_SETTINGS_MODULE", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "PYTHONPATH"}
)


@cache
def console_env_names() -> frozenset[str]:
    """The variables the console's settings read, each with its ``NAME_FILE``."""
    source = Path(settings.BASE_DIR, "airbyte_console", "settings.py").read_text()
    names = set(_SETTING_READ.findall(source)) | _ALSO_CONSOLE
    return frozenset(names | {f"{name}_FILE" for name in names})


def _read(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None


@workspace.action(
    "import",
    "Apply a workspace file: print the plan (create / update / delete / unchanged, "
    "field by field), then apply it. Objects match by name. Nothing changes when a "
    "secret is missing or a connector unknown. Objects the file leaves out are kept "
    "unless --prune is given.",
    arg("file", help="The YAML file, or - for stdin."),
    arg("--dry-run", action="store_true", help="Print the plan only."),
    arg(
        "--prune",
        action="store_true",
        help="Delete what the workspace has and the file does not (never you).",
    ),
    WORKSPACE,
    AS_USER,
)
def workspace_import_action(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.ADMIN)
    text = _read(options["file"])
    kwargs = {
        "workspace": membership.workspace,
        "text": text,
        "environ": dict(os.environ),
        "prune": bool(options.get("prune")),
        "protected_env": console_env_names(),
    }
    if options.get("dry_run"):
        plan = workspace_plan(actor=membership.user, **kwargs)
        if not plan.ok:
            return CliResult(data=plan.as_dict(), text=plan.text(), exit_code=1)
        return CliResult(
            data=plan.as_dict(), text=plan.text() + "\n(dry run: nothing was changed)"
        )
    try:
        plan = workspace_import(actor=membership.user, **kwargs)
    except ImportRefused as exc:
        data = exc.plan.as_dict() if exc.plan else {"ok": False}
        data["problems"] = exc.problems
        lines = ["Nothing was changed. Fix these first:"]
        lines += [f"  ✗ {problem}" for problem in exc.problems]
        return CliResult(data=data, text="\n".join(lines), exit_code=1)
    done = "Applied." if plan.has_changes else "Nothing to do."
    return CliResult(data=plan.as_dict(), text=f"{plan.text()}\n{done}")
