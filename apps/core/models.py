"""Shared model base: a UUID ``public_id`` for URLs and timestamps; no domain logic."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Self

from django.db import models

if TYPE_CHECKING:
    from apps.workspaces.models import Workspace


class WorkspaceQuerySet(models.QuerySet):
    """The one scoping primitive: every workspace-owned list starts here."""

    def for_workspace(self, workspace: Workspace) -> Self:
        return self.filter(workspace=workspace)


class BaseModel(models.Model):
    """Abstract base: database id for joins, ``public_id`` for URLs, timestamps."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
