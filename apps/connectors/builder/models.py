"""A connector being built in a workspace: its manifest draft, test config, last run."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from encrypted_model_fields.fields import EncryptedTextField

from apps.connectors.models import ConnectorDefinition
from apps.core.models import BaseModel, WorkspaceQuerySet


class BuilderProject(BaseModel):
    """One low-code connector of a workspace: the draft the builder page edits.

    ``manifest_text`` is the YAML exactly as typed, saved even when it does not
    parse, so no edit is ever lost. ``test_config`` is the config "Test" runs
    with, JSON encrypted as a whole (it holds the API key). ``definition`` is the
    catalog entry its publishes made: a connector published from a project is
    seen by the project's workspace only. The last Validate or Test run lives on
    the row (``run_*``): the page polls it while a worker runs it.
    """

    class RunKind(models.TextChoices):
        VALIDATE = "validate", "Validate"
        TEST_READ = "test_read", "Test"

    class RunStatus(models.TextChoices):
        PENDING = "pending", "Queued"
        # Claimed by one worker (a conditional UPDATE from pending): a second
        # delivery of the same task finds nothing to claim.
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=100)
    manifest_text = models.TextField(blank=True)
    test_config = EncryptedTextField(blank=True, default="")
    stream = models.CharField(max_length=200, blank=True)
    definition = models.OneToOneField(
        ConnectorDefinition,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="builder_project",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The last Validate / Test: a new request replaces it (a new run_id), and a
    # worker records only the run it claimed.
    run_id = models.UUIDField(null=True, blank=True)
    run_kind = models.CharField(max_length=20, choices=RunKind.choices, blank=True)
    run_status = models.CharField(max_length=20, choices=RunStatus.choices, blank=True)
    # The manifest digest the run was about: "Publish" needs a passed run of the
    # manifest as it is now.
    run_digest = models.CharField(max_length=64, blank=True)
    run_stream = models.CharField(max_length=200, blank=True)
    run_result = models.JSONField(null=True, blank=True)
    run_message = models.TextField(blank=True)
    run_requested_at = models.DateTimeField(null=True, blank=True)
    run_finished_at = models.DateTimeField(null=True, blank=True)
    # Set while a publish runs (claimed with a conditional UPDATE before the
    # Airbyte server is called): a second tab's publish is refused, not doubled.
    publishing_at = models.DateTimeField(null=True, blank=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "name"], name="builder_project_name_per_workspace"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def run_pending(self) -> bool:
        """Queued or running: the page keeps polling."""
        return self.run_status in (self.RunStatus.PENDING, self.RunStatus.RUNNING)
