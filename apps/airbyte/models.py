"""The Airbyte server a workspace drives, kept in the database."""

from __future__ import annotations

from django.db import models
from encrypted_model_fields.fields import EncryptedTextField

from apps.core.models import BaseModel


class AirbyteServer(BaseModel):
    """Where a workspace on the airbyte engine sends its work, and how it signs in.

    The secrets (an application's client secret, or a basic-auth password for old
    installs) are encrypted at rest like every other secret. The ``server_*`` fields
    are what the last "Test connection" learned from ``instance_configuration``.
    """

    class Auth(models.TextChoices):
        APPLICATION = "application", "Application client id and secret"
        BASIC = "basic", "Basic auth (old installs)"
        NONE = "none", "None (server started with --disable-auth)"

    workspace = models.OneToOneField(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="airbyte_server"
    )
    url = models.URLField(max_length=300)
    auth = models.CharField(
        max_length=12, choices=Auth.choices, default=Auth.APPLICATION
    )
    client_id = models.CharField(max_length=200, blank=True)
    client_secret = EncryptedTextField(blank=True, default="")
    username = models.CharField(max_length=200, blank=True)
    password = EncryptedTextField(blank=True, default="")
    # The Airbyte workspace the console's sources, destinations and connections live in.
    remote_workspace_id = models.CharField(max_length=64, blank=True)
    remote_workspace_name = models.CharField(max_length=200, blank=True)
    # What the last test found.
    server_version = models.CharField(max_length=50, blank=True)
    server_edition = models.CharField(max_length=50, blank=True)
    server_auth_mode = models.CharField(max_length=20, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True)
    last_check_message = models.TextField(blank=True)
    # The connector definitions the server offers (ids), refreshed with each test.
    definition_ids = models.JSONField(default=list, blank=True)
    last_import_at = models.DateTimeField(null=True, blank=True)
    last_import_summary = models.JSONField(default=dict, blank=True)

    class Meta:
        # The table keeps the name it had when this model lived in ``engines``.
        db_table = "engines_airbyteserver"

    def __str__(self) -> str:
        return f"{self.url} for {self.workspace}"
