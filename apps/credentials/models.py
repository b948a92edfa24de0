"""Stored credentials: the payload is encrypted at rest, hints are not."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from encrypted_model_fields.fields import EncryptedTextField

from apps.core.models import BaseModel, WorkspaceQuerySet


class Credential(BaseModel):
    """A named secret a workspace reuses across sources and destinations."""

    class Type(models.TextChoices):
        API_KEY = "api_key", "API key"
        BASIC_AUTH = "basic_auth", "Username and password"
        OAUTH2 = "oauth2", "OAuth 2.0 client"
        DATABASE = "database", "Database login"
        GENERIC = "generic", "Key/value pairs"

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="credentials"
    )
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=20, choices=Type.choices)
    # JSON object of the credential's fields, encrypted as one Fernet token.
    payload = EncryptedTextField()
    # Non-secret hints shown in lists: a username, the last 4 characters of a key.
    hints = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    rotated_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "name"], name="credential_name_unique_in_workspace"
            ),
        ]

    def __str__(self) -> str:
        return self.name
