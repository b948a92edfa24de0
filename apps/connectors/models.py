"""The connector catalog, and the sources and destinations built from it."""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from encrypted_model_fields.fields import EncryptedTextField

from apps.core.models import BaseModel, WorkspaceQuerySet
from apps.engines.base import VERSION_RE, ConnectorRef


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
    # The newest version the last registry refresh offered. ``pypi_version`` is the
    # pinned one the console installs and runs; a refresh does not move the pin of an
    # installed connector, so a sync never changes version behind a user's back.
    latest_version = models.CharField(max_length=50, blank=True)
    # The console script that speaks the Airbyte protocol; empty means the name
    # derived from the package (``airbyte-source-faker`` -> ``source-faker``).
    entrypoint = models.CharField(max_length=100, blank=True)
    # A destination written by the console itself (no package): "postgres", "duckdb".
    builtin = models.CharField(max_length=30, blank=True)
    # Which engines can run it: a list drawn from Workspace.Engine values.
    engines = models.JSONField(default=list, blank=True)
    icon = models.CharField(max_length=100, blank=True)
    # The registry's ``iconUrl``: fetched once into the console's icon cache.
    icon_url = models.URLField(max_length=500, blank=True)
    # Airbyte's ``supportLevel``: certified, community, archived ("" when unsaid).
    support_level = models.CharField(max_length=20, blank=True)
    # Airbyte's manifest-only connectors (``language: manifest-only``) and those
    # published from the connector builder: a YAML manifest per version, kept in
    # ConnectorManifest and run by the CDK's declarative runner. ``pypi_version``
    # is then the manifest's version.
    manifest_only = models.BooleanField(default=False)
    # Why the last ``spec`` probe of the pinned version failed on this host (a
    # connector that installs but cannot start on this Python): shown on the
    # catalog, never hidden. Cleared by a probe that works.
    spec_error = models.TextField(blank=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_installable(self) -> bool:
        """Something to install before it runs: a PyPI package, a manifest or a
        Docker image (``ConnectorRef.installable``); built-ins have nothing."""
        return self.ref.installable

    @property
    def docs_link(self) -> str:
        """The documentation URL if it is a web address, else "" (never a link
        to ``javascript:`` or another scheme a registry or a manifest supplied)."""
        url = self.documentation_url or ""
        return url if url.startswith(("https://", "http://")) else ""

    @property
    def is_declarative_manifest(self) -> bool:
        """The low-code source whose streams come from a user's YAML manifest."""
        return self.entrypoint == DECLARATIVE_MANIFEST_ENTRYPOINT

    @property
    def ref(self) -> ConnectorRef:
        """The plain data an engine runs this connector from."""
        return ConnectorRef(
            kind=self.kind,
            name=self.name,
            definition_id=str(self.definition_id),
            package=self.pypi_package,
            version=self.pypi_version,
            entrypoint=self.entrypoint,
            builtin=self.builtin,
            manifest=self.is_declarative_manifest,
            manifest_only=self.manifest_only,
            docker_repository=self.docker_repository,
        )


DECLARATIVE_MANIFEST_ENTRYPOINT = "source-declarative-manifest"


class ConnectorManifest(BaseModel):
    """One version of a manifest-only connector: its YAML manifest and components.

    Downloaded from the registry's CDN on install (``origin=registry``) or
    published from the connector builder and ``airbyte cdk deploy``
    (``origin=builder``). A version, once stored, never changes: a new manifest is
    a new version, so a sync never runs something other than what was tested.
    """

    class Origin(models.TextChoices):
        REGISTRY = "registry", "Registry"
        BUILDER = "builder", "Connector builder"

    definition = models.ForeignKey(
        ConnectorDefinition, on_delete=models.CASCADE, related_name="manifests"
    )
    version = models.CharField(max_length=50)
    manifest = models.JSONField()
    # ``components.py`` for manifests with custom Python components ("" if none).
    components = models.TextField(blank=True)
    # sha256 over the manifest (canonical JSON) and the components text.
    digest = models.CharField(max_length=64)
    origin = models.CharField(
        max_length=10, choices=Origin.choices, default=Origin.REGISTRY
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["definition", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["definition", "version"], name="connector_manifest_version"
            ),
        ]

    def __str__(self) -> str:
        return f"manifest of {self.definition} {self.version}"


class RegistryFetch(BaseModel):
    """One fetch of the connector registry: from where, when, and how it went.

    The catalog is the last good fetch merged into ConnectorDefinition; a failed
    fetch changes nothing and is kept here so the catalog page can say "the
    registry did not answer at 02:00; the catalog is from yesterday 02:00".
    """

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    # The URL or file the registry was read from.
    location = models.CharField(max_length=500)
    status = models.CharField(max_length=10, choices=Status.choices)
    error = models.TextField(blank=True)
    # How many entries the registry held, and what the merge did (MergeReport).
    entries = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"registry fetch from {self.location} ({self.status})"


class ConnectorInstall(BaseModel):
    """One install or uninstall of a connector package, with its progress and log."""

    class Operation(models.TextChoices):
        INSTALL = "install", "Install"
        UNINSTALL = "uninstall", "Uninstall"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.PENDING, Status.RUNNING)

    definition = models.ForeignKey(
        ConnectorDefinition, on_delete=models.CASCADE, related_name="installs"
    )
    operation = models.CharField(
        max_length=10, choices=Operation.choices, default=Operation.INSTALL
    )
    version = models.CharField(max_length=50, blank=True)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    # What the install is doing now, for the progress line on the catalog page.
    phase = models.CharField(max_length=200, blank=True)
    # The tail of pip's output, capped (see LOG_LIMIT); never holds secrets.
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    LOG_LIMIT = 64 * 1024

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One install or uninstall at a time per connector: a second click while
            # one runs is refused instead of racing it.
            models.UniqueConstraint(
                fields=["definition"],
                condition=models.Q(status__in=["pending", "running"]),
                name="connector_install_one_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.definition} {self.version} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class ConnectorSpecCache(BaseModel):
    """A connector's ``spec`` output, run once per definition and version."""

    definition = models.ForeignKey(
        ConnectorDefinition, on_delete=models.CASCADE, related_name="spec_cache"
    )
    version = models.CharField(max_length=50)
    spec = models.JSONField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["definition", "version"], name="connector_spec_once_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"spec of {self.definition} {self.version}"


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
    # The id of the same object on an Airbyte server (airbyte engine only).
    remote_id = models.CharField(max_length=64, blank=True)
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

    @property
    def connector_ref(self) -> ConnectorRef:
        """The connector this row runs: its definition's, at the catalog's version."""
        return self.definition.ref


class Source(ConnectorConfig):
    """A configured source; its discovered catalog is cached here."""

    credentials = models.ManyToManyField(
        "credentials.Credential", blank=True, related_name="sources"
    )
    catalog = models.JSONField(null=True, blank=True)
    catalog_discovered_at = models.DateTimeField(null=True, blank=True)
    # The last "Refresh schema": pending while a worker runs discover, then its result.
    discover_status = models.CharField(max_length=20, blank=True)
    discover_message = models.TextField(blank=True)
    # The connector version this source runs. The catalog is shared by every
    # workspace, so a staff upgrade moves only the default for new sources; each
    # source keeps its own pin until its admins move it. Blank means the
    # definition's pinned version (rows made outside the services).
    connector_version = models.CharField(max_length=50, blank=True)

    class Meta(ConnectorConfig.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "name"], name="source_name_unique_in_workspace"
            ),
        ]

    def clean(self) -> None:
        super().clean()
        if self.connector_version and not VERSION_RE.match(self.connector_version):
            raise ValidationError(
                {
                    "connector_version": (
                        f"{self.connector_version!r} is not a valid version."
                    )
                }
            )

    @property
    def pinned_version(self) -> str:
        """The version this source runs: its own pin, else the catalog's."""
        return self.connector_version or self.definition.pypi_version

    @property
    def connector_ref(self) -> ConnectorRef:
        """The connector this source runs, at its pinned version."""
        return replace(self.definition.ref, version=self.pinned_version)


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


class ConnectorDraftCheck(BaseModel):
    """A "Test connection" of a form not saved yet: its config, run by a worker.

    The form asks for one, polls it, and saves only a config whose test passed (or,
    on "Save anyway", one whose test failed, marked so). ``digest`` fingerprints
    the config, secrets and credentials tested, so a save after an edit is tested
    again; ``target`` is the source or destination being edited, if any.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Testing"
        SUCCEEDED = "succeeded", "Passed"
        FAILED = "failed", "Failed"

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=12, choices=ConnectorDefinition.Kind.choices)
    definition = models.ForeignKey(
        ConnectorDefinition, on_delete=models.CASCADE, related_name="+"
    )
    # The connector version to test (a source's chosen pin); blank: the catalog's.
    version = models.CharField(max_length=50, blank=True)
    target_id = models.UUIDField(null=True, blank=True)
    config = models.JSONField(default=dict, blank=True)
    secrets = EncryptedTextField(blank=True, default="")
    credential_refs = models.JSONField(default=dict, blank=True)
    digest = models.CharField(max_length=64)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    message = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"test of a new {self.kind} ({self.definition})"

    @property
    def connector_ref(self) -> ConnectorRef:
        """The connector the test runs, at the chosen version."""
        ref = self.definition.ref
        return replace(ref, version=self.version) if self.version else ref
