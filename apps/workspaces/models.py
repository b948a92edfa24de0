"""Workspaces and who belongs to them."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import BaseModel
from apps.core.roles import Role, role_allows


class Workspace(BaseModel):
    """A team's space: its members, configuration and history; one engine each."""

    class Engine(models.TextChoices):
        EMBEDDED = "embedded", "Embedded"
        AIRBYTE = "airbyte", "Airbyte server"

    # Neither is unique across the console: a console-wide check would tell anyone
    # which names other teams use. The services keep them unique among the
    # workspaces the acting user belongs to, and the CLI resolves a name among the
    # caller's own workspaces only (URLs carry the public id).
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=110)
    engine = models.CharField(
        max_length=20, choices=Engine.choices, default=Engine.EMBEDDED
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MembershipQuerySet(models.QuerySet):
    def admins(self) -> MembershipQuerySet:
        return self.filter(role=Role.ADMIN)


class Membership(BaseModel):
    """A user's role in one workspace."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["user__email"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "workspace"], name="membership_user_workspace_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    def allows(self, required: str) -> bool:
        return role_allows(self.role, required)

    @property
    def can_run(self) -> bool:
        return self.allows(Role.RUNNER)

    @property
    def can_edit(self) -> bool:
        return self.allows(Role.EDITOR)

    @property
    def is_admin(self) -> bool:
        return self.allows(Role.ADMIN)
