"""Helpers for the run tests (H3): small hand-written projects and running them here."""

from __future__ import annotations

from unittest import mock

from apps.connectors.models import Destination
from apps.transforms.models import DbtProject, ProjectFile, TransformRun
from apps.transforms.services.runs import transform_run_execute, transform_run_request
from tests.engines.fixtures import DUCKDB_ID, POSTGRES_ID, definition


def dbt_project_yml(name: str = "acme") -> str:
    return (
        f"name: {name}\n"
        "version: '1.0'\n"
        "config-version: 2\n"
        "profile: console\n"
        "model-paths: ['models']\n"
        "models:\n"
        f"  {name}:\n"
        "    +materialized: table\n"
    )


def duckdb_destination(workspace, *, name: str = "Duck") -> Destination:
    """A DuckDB destination (the caller points settings.DUCKDB_DIR somewhere)."""
    return Destination.objects.create(
        workspace=workspace,
        name=name,
        definition=definition(DUCKDB_ID),
        config={"destination_path": "warehouse.duckdb"},
    )


def postgres_destination(workspace, schema: str, *, name: str = "PG") -> Destination:
    return Destination.objects.create(
        workspace=workspace,
        name=name,
        definition=definition(POSTGRES_ID),
        config={
            "host": "127.0.0.1",
            "port": 5432,
            "database": "postgres",
            "schema": schema,
            "username": "postgres",
            "ssl_mode": "disable",
        },
    )


def make_project(
    workspace, destination, files: dict[str, str], *, name: str = "Acme models"
) -> DbtProject:
    """An uploaded-kind project whose files are these rows."""
    project = DbtProject.objects.create(
        workspace=workspace,
        name=name,
        kind=DbtProject.Kind.UPLOAD,
        destination=destination,
    )
    for path, content in files.items():
        ProjectFile.objects.create(project=project, path=path, content=content)
    return project


def set_file(project: DbtProject, path: str, content: str) -> None:
    ProjectFile.objects.update_or_create(
        project=project, path=path, defaults={"content": content}
    )


def request(project, actor=None, **kwargs) -> TransformRun:
    """Request a run without a broker (the test runs it itself)."""
    with mock.patch("apps.transforms.tasks.transform_run_task.apply_async"):
        return transform_run_request(project=project, actor=actor, **kwargs)


def run_now(project, actor=None, **kwargs) -> TransformRun:
    """Request a run and run it here, as a worker would."""
    run = request(project, actor, **kwargs)
    transform_run_execute(run.pk)
    run.refresh_from_db()
    return run


def run_pending(project) -> TransformRun | None:
    """Run the project's pending run (the parse a new project asks for), if any."""
    run = project.runs.filter(status=TransformRun.Status.PENDING).first()
    if run is None:
        return None
    transform_run_execute(run.pk)
    run.refresh_from_db()
    return run
