"""`manage.py airbyte <group> <action> [options]`: the console's command line."""

from __future__ import annotations

import importlib
import sys
from typing import Any

from django.apps import apps as django_apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from apps.audit.context import audit_context
from apps.core.clikit import GROUPS, to_json


def _load_groups() -> None:
    for config in django_apps.get_app_configs():
        if config.name.startswith("apps."):
            try:
                importlib.import_module(f"{config.name}.cli")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.cli":
                    raise


class Command(BaseCommand):
    help = (
        "Manage the console from scripts: airbyte <group> <action>. "
        "Every action takes --json; `airbyte <group> --help` lists its actions."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        _load_groups()
        groups = parser.add_subparsers(dest="group", metavar="<group>", required=True)
        for name in sorted(GROUPS):
            group = GROUPS[name]
            group_parser = groups.add_parser(
                name, help=group.help, description=group.help
            )
            actions = group_parser.add_subparsers(
                dest="action", metavar="<action>", required=group.default is None
            )
            if group.default:
                group_parser.add_argument(
                    "--json", action="store_true", help="Print JSON."
                )
                for argument in group.actions[group.default].arguments:
                    group_parser.add_argument(*argument.flags, **argument.options)
            for action in group.actions.values():
                if action.name == group.default and len(group.actions) == 1:
                    continue
                action_parser = actions.add_parser(
                    action.name, help=action.help, description=action.help
                )
                action_parser.add_argument(
                    "--json", action="store_true", help="Print JSON for scripts."
                )
                for argument in action.arguments:
                    action_parser.add_argument(*argument.flags, **argument.options)

    def handle(self, *args: Any, **options: Any) -> None:
        group = GROUPS[options["group"]]
        action = group.actions[options.get("action") or group.default]
        with audit_context(ip="", user_agent="airbyte-cli"):
            result = action.handler(options)
        if options.get("json"):
            self.stdout.write(to_json(result.data))
        elif result.text:
            self.stdout.write(result.text)
        if result.exit_code:
            sys.exit(result.exit_code)

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            try:
                return super().execute(*args, **options)
            except DatabaseError as exc:  # down, or never migrated
                raise CommandError(
                    f"Cannot use the database: {exc}".strip()
                    + " (is it running, and migrated? `airbyte manage install`)"
                ) from None
        except CommandError as exc:
            if options.get("json"):
                self.stderr.write(to_json({"error": str(exc)}))
                sys.exit(exc.returncode or 1)
            raise
