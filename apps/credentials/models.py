"""Stored credentials: the payload is encrypted at rest, hints are not."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from encrypted_model_fields.fields import EncryptedTextField

from apps.core.models import BaseModel, WorkspaceQuerySet
from apps.credentials.types import hint_text


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
    # The hosts the credential may be sent to: names and ``*.example.com`` patterns
    # (``apps.credentials.hosts``). Empty means no host yet: a source or destination
    # whose config names a host cannot use it until a workspace admin adds one.
    allowed_hosts = models.JSONField(default=list, blank=True)
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
            # Case-insensitive, like workspace names: "Stripe" and "stripe" in one
            # workspace would be told apart by nobody.
            models.UniqueConstraint(
                "workspace",
                Lower("name"),
                name="credential_name_unique_ci_in_workspace",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def hint_text(self) -> str:
        """A short non-secret line for lists: a username, a host, a key's last 4."""
        return hint_text(self.type, self.hints or {})

    def get_payload(self) -> dict[str, Any]:
        """The decrypted fields; never render or log the result."""
        return json.loads(self.payload) if self.payload else {}

    def set_payload(self, payload: dict[str, Any]) -> None:
        self.payload = json.dumps(payload, sort_keys=True)


class EncryptionCanary(models.Model):
    """One known value encrypted with the current key: start-up decrypts it.

    django-encrypted-model-fields hands back the ciphertext when a valid but wrong
    key is configured, so without this row a wrong key would go unnoticed until a
    save encrypted the ciphertext a second time.
    """

    value = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "encryption canaries"

    def __str__(self) -> str:
        return f"encryption canary {self.pk}"
