from __future__ import annotations

import os
from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_migrate


class CredentialsConfig(AppConfig):
    name = "apps.credentials"
    label = "credentials"

    def ready(self) -> None:
        from apps.credentials import checks as key_checks

        checks.register(key_checks.check_encryption_key)
        post_migrate.connect(_ensure_canary, sender=self)
        # A test session never uses the database DATABASE_URL names (pytest-django
        # creates its own), so a developer's database written with another key
        # must not stop the tests. Subprocess tests unset PYTEST_VERSION.
        if not os.environ.get("PYTEST_VERSION"):
            key_checks.startup_key_check()


def _ensure_canary(using: str = "default", **kwargs: Any) -> None:
    # `migrate` on a fresh database creates the canary under the key in force, so
    # the first real start already has something to check.
    from django.core.exceptions import ImproperlyConfigured

    from apps.credentials.checks import key_problem

    problem = key_problem(using)
    if problem is not None:
        raise ImproperlyConfigured(problem)
