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


def check_generated_runs(project, admin, *, count, source_schema, model_schema):
    """Runs of a project generated from a synced users+products connection.

    ``count(relation)`` counts the rows of a quoted relation in the destination.
    The build passes and matches the synced rows; a model with a SQL error fails
    the run with the reason and leaves the view built before as it was; a failing
    ``unique`` test fails the run and names the test and its rows.
    """
    Status = TransformRun.Status
    # The parse a new project asks for fills the project's graph for its pages.
    parse = run_pending(project)
    assert parse.status == Status.SUCCEEDED, parse.failure_message
    project.refresh_from_db()
    models = {
        n["name"] for n in project.graph["nodes"] if n["resource_type"] == "model"
    }
    assert models == {"stg_users", "stg_products"}

    build = run_now(project, admin)

    assert build.status == Status.SUCCEEDED, build.failure_message
    nodes = {n.name: n for n in build.nodes.all()}
    assert nodes["stg_users"].status == "success"
    assert nodes["stg_products"].status == "success"
    tests = [n for n in nodes.values() if n.resource_type == "test"]
    assert tests and {t.status for t in tests} == {"pass"}
    assert build.stats == {"success": 2, "pass": len(tests)}
    synced = count(f'"{source_schema}"."users"')
    assert synced > 0
    assert count(f'"{model_schema}"."stg_users"') == synced
    assert count(f'"{model_schema}"."stg_products"') == count(
        f'"{source_schema}"."products"'
    )

    # A model with a SQL error: the run fails and says where; the view built
    # before stays as it was.
    path = "models/staging/stg_users.sql"
    good_sql = project.files.get(path=path).content
    assert '"id"::bigint' in good_sql
    set_file(project, path, good_sql.replace('"id"::bigint', "no_such_column::bigint"))

    broken = run_now(project, admin)

    assert broken.status == Status.FAILED
    assert "stg_users" in broken.failure_message
    assert "no_such_column" in broken.failure_message
    nodes = {n.name: n for n in broken.nodes.all()}
    assert nodes["stg_users"].status == "error"
    assert nodes["stg_products"].status == "success"
    assert count(f'"{model_schema}"."stg_users"') == synced
    assert "no_such_column" in broken.log

    # A failing unique test fails the run and names the test and its rows.
    set_file(project, path, good_sql)
    set_file(
        project,
        "models/doubled.sql",
        "select id from {{ ref('stg_users') }}\n"
        "union all\nselect id from {{ ref('stg_users') }}\n",
    )
    set_file(
        project,
        "models/doubled.yml",
        "version: 2\nmodels:\n  - name: doubled\n"
        "    columns:\n      - name: id\n        data_tests: [unique]\n",
    )

    failing = run_now(project, admin)

    assert failing.status == Status.FAILED
    unique = failing.nodes.get(name__startswith="unique_doubled_id")
    assert unique.status == "fail"
    assert unique.failures == synced
    assert f"{unique.name} failed with {synced} failing rows" in failing.failure_message
    assert failing.nodes.get(name="doubled").status == "success"
    return synced
