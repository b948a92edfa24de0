"""Forms of the Transforms pages: new projects, settings, schedule, runs, files."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from apps.connections.models import Connection
from apps.connectors.models import Destination
from apps.credentials.models import Credential
from apps.schedules.forms import zone_choices
from apps.transforms.models import DbtProject
from apps.workspaces.models import Workspace

# What a person may start from the project page; compile, show, parse and docs
# have their own buttons where their output is shown.
RUN_COMMANDS = [
    ("build", "build: seeds, models, snapshots and tests in order"),
    ("run", "run: models only"),
    ("test", "test: tests only"),
    ("seed", "seed: load the CSV seeds"),
    ("snapshot", "snapshot"),
]
TRIGGER_COMMANDS = [("build", "build"), ("run", "run"), ("test", "test")]
SELECTOR_HELP = (
    "dbt's --select, e.g. stg_users+ or tag:daily; empty runs the whole project."
)


def _workspace_choices(form: forms.Form, workspace: Workspace) -> None:
    """Limit every picker of the form to the workspace's own objects."""
    if "destination" in form.fields:
        form.fields["destination"].queryset = Destination.objects.for_workspace(
            workspace
        ).order_by("name")
    if "connection" in form.fields:
        form.fields["connection"].queryset = Connection.objects.for_workspace(
            workspace
        ).order_by("name")
    if "git_credential" in form.fields:
        form.fields["git_credential"].queryset = Credential.objects.for_workspace(
            workspace
        ).order_by("name")
    if "project" in form.fields:
        form.fields["project"].queryset = DbtProject.objects.for_workspace(
            workspace
        ).order_by("name")


class WorkspaceForm(forms.Form):
    def __init__(self, *args: Any, workspace: Workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.workspace = workspace
        _workspace_choices(self, workspace)


def _name_field(required: bool) -> forms.CharField:
    return forms.CharField(
        max_length=100,
        required=required,
        help_text="Unique in the workspace."
        + ("" if required else " Empty: named after the connection."),
    )


def _destination_field(required: bool = True) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=Destination.objects.none(),
        to_field_name="public_id",
        required=required,
        empty_label="Choose a destination",
        help_text="dbt builds the models in this destination (PostgreSQL or DuckDB).",
    )


class GenerateForm(WorkspaceForm):
    """A project generated from a connection's streams: one button."""

    connection = forms.ModelChoiceField(
        queryset=Connection.objects.none(),
        to_field_name="public_id",
        empty_label="Choose a connection",
        help_text="One staging model per selected stream, with tests on primary "
        "keys; it runs after each successful sync of the connection.",
    )
    name = _name_field(required=False)


class GitForm(WorkspaceForm):
    """A project pulled from a git repository before each run."""

    name = _name_field(required=True)
    destination = _destination_field()
    git_url = forms.CharField(
        max_length=500,
        label="Repository URL",
        help_text="https://… or git@host:org/repo.git; the folder holding "
        "dbt_project.yml may be the root or one level down.",
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    git_branch = forms.CharField(max_length=200, initial="main", label="Branch")
    git_credential = forms.ModelChoiceField(
        queryset=Credential.objects.none(),
        to_field_name="public_id",
        required=False,
        label="Credential",
        empty_label="None (a public repository)",
        help_text="A token or deploy key from the workspace's credentials.",
    )


class UploadForm(WorkspaceForm):
    """A project from a zip or tar archive."""

    name = _name_field(required=True)
    destination = _destination_field()
    archive = forms.FileField(
        help_text="A .zip, .tar or .tar.gz holding dbt_project.yml (at the top or "
        "in one folder)."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit = getattr(settings, "TRANSFORM_UPLOAD_MAX_BYTES", None)
        if limit:
            self.fields["archive"].help_text += f" At most {limit // 1_000_000} MB."


class SettingsForm(WorkspaceForm):
    """A project's name and destination; for git projects also where it comes from."""

    name = _name_field(required=True)
    destination = _destination_field()
    git_url = GitForm.base_fields["git_url"]
    git_branch = GitForm.base_fields["git_branch"]
    git_credential = GitForm.base_fields["git_credential"]

    def __init__(self, *args: Any, project: DbtProject, **kwargs: Any) -> None:
        kwargs.setdefault(
            "initial",
            {
                "name": project.name,
                "destination": project.destination.public_id
                if project.destination
                else None,
                "git_url": project.git_url,
                "git_branch": project.git_branch,
                "git_credential": project.git_credential.public_id
                if project.git_credential
                else None,
            },
        )
        super().__init__(*args, **kwargs)
        self.project = project
        if project.kind != DbtProject.Kind.GIT:
            for name in ("git_url", "git_branch", "git_credential"):
                del self.fields[name]


class ScheduleForm(forms.Form):
    """Run the project's build on a cron schedule of its own."""

    cron_expression = forms.CharField(
        required=False,
        max_length=120,
        label="Cron expression",
        help_text="5 fields: minute hour day-of-month month day-of-week, e.g. "
        "0 6 * * * for 06:00 every day. Empty: no schedule.",
        widget=forms.TextInput(
            attrs={"placeholder": "0 6 * * *", "spellcheck": "false"}
        ),
    )
    schedule_timezone = forms.ChoiceField(
        label="Time zone", choices=zone_choices, initial="UTC"
    )
    schedule_selector = forms.CharField(
        required=False, max_length=500, label="Select", help_text=SELECTOR_HELP
    )


class RunForm(forms.Form):
    command = forms.ChoiceField(choices=RUN_COMMANDS, initial="build")
    selector = forms.CharField(
        required=False, max_length=500, label="Select", help_text=SELECTOR_HELP
    )


class TriggerForm(WorkspaceForm):
    """Run a project after each successful sync of a connection."""

    connection = forms.ModelChoiceField(
        queryset=Connection.objects.none(),
        to_field_name="public_id",
        empty_label="Choose a connection",
    )
    project = forms.ModelChoiceField(
        queryset=DbtProject.objects.none(),
        to_field_name="public_id",
        empty_label="Choose a dbt project",
    )
    selector = forms.CharField(
        required=False,
        max_length=500,
        label="Select",
        help_text="Empty: the models downstream of what the sync loaded "
        "(source:<the connection's source>+).",
    )
    command = forms.ChoiceField(choices=TRIGGER_COMMANDS, initial="build")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Its fields share names with the run form on the project page.
        kwargs.setdefault("auto_id", "id_trigger_%s")
        super().__init__(*args, **kwargs)


class FileForm(forms.Form):
    """One file of a generated or uploaded project."""

    path = forms.CharField(
        max_length=500,
        help_text="Relative to the project, e.g. models/marts/users.sql.",
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    content = forms.CharField(
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={"rows": 24, "class": "mono code-editor", "spellcheck": "false"}
        ),
    )
