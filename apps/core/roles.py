"""Workspace roles and what each may do.

Roles are ordered: each one may do everything the roles below it may do.
viewer reads; runner also starts and cancels syncs; editor also creates and changes
configuration; admin also manages members, workspace settings and the audit trail.
"""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    RUNNER = "runner", "Runner"
    EDITOR = "editor", "Editor"
    ADMIN = "admin", "Admin"


_RANK = {Role.VIEWER: 0, Role.RUNNER: 1, Role.EDITOR: 2, Role.ADMIN: 3}

ROLE_DESCRIPTIONS = {
    Role.VIEWER: "Sees everything in the workspace except the audit trail.",
    Role.RUNNER: "Also starts and cancels syncs.",
    Role.EDITOR: "Also creates and changes sources, destinations and connections.",
    Role.ADMIN: "Also manages members, workspace settings and sees the audit trail.",
}


def role_allows(role: str, required: str) -> bool:
    """True when ``role`` is ``required`` or above it."""
    return _RANK[Role(role)] >= _RANK[Role(required)]
