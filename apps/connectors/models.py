"""The connector catalog, and the sources and destinations built from it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from encrypted_model_fields.fields import EncryptedTextField

from apps.core.models import BaseModel, WorkspaceQuerySet


class ConnectorDefinition(BaseModel):
    """One connector in the catalog, in the shape of Airbyte's connector registry."""

    class Kind(models.TextChoices):
        SOURCE = "source", "Source"
        DESTINATION = "destination", "Destination"

    class ReleaseStage(models.TextChoices):
        GENERALLY_AVAILABLE = "generally_available", "Generally available"
        BETA = "beta", "Beta"
        ALPHA = "alpha", "Alpha"
        CUSTOM = "custom", "Custom"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    # Airbyte's sourceDefinitionId / destinationDefinitionId.
    definition_id = models.UUIDField(unique=True)
    name = models.CharField(max_length=200)
    docker_repository = models.CharField(max_length=200, blank=True)
    docker_image_tag = models.CharField(max_length=50, blank=True)
    # remoteRegistries.pypi.packageName and the version the console installs; empty
    # for the built-in destinations, which are the console's own writers.
    pypi_package = models.CharField(max_length=200, blank=True)
    pypi_version = models.CharField(max_length=50, blank=True)
    documentation_url = models.URLField(max_length=500, blank=True)
    release_stage = models.CharField(
        max_length=30, choices=ReleaseStage.choices, default=ReleaseStage.ALPHA
    )
    # Which engines can run it: a list drawn from Workspace.Engine values.
    engines = models.JSONField(default=list, blank=True)
    icon = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name


class ConnectorConfig(BaseModel):
    """Abstract: a configured connector in a workspace (a source or a destination).

    ``config`` holds the non-secret part of the connector's configuration; the fields
    its spec marks ``airbyte_secret`` live in ``secrets``, a JSON object keyed by the
    field's JSON pointer, encrypted as one Fernet token. A secret may instead point at
    a stored Credential (``credential_refs``: pointer -> {credential, key}).
    """

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE)
    name = models.CharField(max_length=200)
    definition = models.ForeignKey(ConnectorDefinition, on_delete=models.PROTECT)
    config = models.JSONField(default=dict, blank=True)
    secrets = EncryptedTextField(blank=True, default="")
    credential_refs = models.JSONField(default=dict, blank=True)
    last_check_status = models.CharField(max_length=20, blank=True)
    last_check_message = models.TextField(blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Source(ConnectorConfig):
    """A configured source; its discovered catalog is cached here."""

    credentials = models.ManyToManyField(
        "credentials.Credential", blank=True, related_name="sources"
    )
    catalog = models.JSONField(null=True, blank=True)
    catalog_discovered_at = models.DateTimeField(null=True, blank=True)

    class Meta(ConnectorConfig.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "name"], name="source_name_unique_in_workspace"
            ),
        ]


class Destination(ConnectorConfig):
    """A configured destination: PostgreSQL or DuckDB for the embedded engine."""

    credentials = models.ManyToManyField(
        "credentials.Credential", blank=True, related_name="destinations"
    )

    class Meta(ConnectorConfig.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "name"],
                name="destination_name_unique_in_workspace",
            ),
        ]
