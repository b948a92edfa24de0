"""First-run setup for `make run`: an admin login (printed once) and a demo workspace.

Safe to run on every start: with an admin already there it creates nothing.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.services import user_create
from apps.audit.context import audit_context
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
                workspace_create(actor=admin, name=DEMO_WORKSPACE)
        banner = "=" * 64
        self.stdout.write(banner)
        self.stdout.write("  Airbyte Console: your admin login (shown only this once)")
        self.stdout.write(f"    email:    {email}")
        if generated:
            self.stdout.write(f"    password: {password}")
        else:
            self.stdout.write("    password: the one in CONSOLE_ADMIN_PASSWORD")
        self.stdout.write(banner)
