"""First-run setup for `make run`: an admin login (printed once) and a demo workspace.

Safe to run on every start: with an admin already there it creates nothing.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import user_create
from apps.audit.context import audit_context
from apps.connectors.catalog import services as catalog_services
from apps.connectors.selectors import definition_ready
from apps.ops.demo import DemoDiscoverFailed, demo_definitions, demo_pipeline_create
from apps.workspaces.models import Workspace
from apps.workspaces.services import workspace_create

DEMO_WORKSPACE = "Demo"


class Command(BaseCommand):
    help = "Create the first admin (once) and a demo workspace."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("Admin exists; nothing to set up.")
            return
        email = settings.CONSOLE_ADMIN_EMAIL or "admin@example.com"
        password = settings.CONSOLE_ADMIN_PASSWORD
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        with audit_context(user_agent="console-bootstrap"):
            try:
                admin = user_create(
                    actor=None, email=email, password=password, is_admin=True
                )
            except ValidationError as exc:
                raise CommandError(
                    "Cannot create the first admin: " + " ".join(exc.messages)
                ) from None
            if not Workspace.objects.filter(name__iexact=DEMO_WORKSPACE).exists():
                workspace = workspace_create(actor=admin, name=DEMO_WORKSPACE)
                self._demo_pipeline(admin, workspace)
        banner = "=" * 64
        self.stdout.write(banner)
        self.stdout.write("  Airbyte Console: your admin login (shown only this once)")
        self.stdout.write(f"    email:    {email}")
        if generated:
            self.stdout.write(f"    password: {password}")
        else:
            self.stdout.write("    password: the one in CONSOLE_ADMIN_PASSWORD")
        self.stdout.write(banner)

    def _demo_pipeline(self, admin: AbstractBaseUser, workspace: Workspace) -> None:
        """Faker into DuckDB, ready to sync: install, discover, connect."""
        definitions = demo_definitions()
        if definitions is None:
            return
        faker, duckdb = definitions
        if not definition_ready(faker):
            self.stdout.write(
                "Installing the faker connector for the demo (about 30 s)..."
            )
            install = catalog_services.connector_install_request(
                actor=admin, definition=faker, enqueue=False
            )
            catalog_services.connector_install_run(install_id=install.pk)
        try:
            demo_pipeline_create(
                actor=admin,
                workspace=workspace,
                faker=faker,
                duckdb=duckdb,
                label="demo",
                count=1000,
                # Not "demo.duckdb": DuckDB names the catalog after the file, and
                # `demo.users` would then be ambiguous with the "demo" schema.
                destination_path="warehouse.duckdb",
                namespace="demo",
            )
        except DemoDiscoverFailed:
            self.stderr.write("The demo source could not be discovered; see its page.")
            return
        self.stdout.write(
            "Demo: Faker to DuckDB is ready to sync in the Demo workspace."
        )
