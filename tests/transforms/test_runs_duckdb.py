"""A real faker sync into DuckDB, then runs of its generated project with real dbt:
the build passes and matches the synced rows; a model with a SQL error fails the
run with the reason and leaves the previous view as it was; a failing ``unique``
test fails the run and says which (issue #14 items 2, 3 and Bad input)."""

from __future__ import annotations

import uuid
from unittest import mock

import duckdb
import pytest

from apps.connections.models import SyncJob
from apps.transforms.models import TransformRun
from apps.transforms.services.projects import project_create_generated
from tests.connections.conftest import (  # noqa: F401 - fixtures
    duckdb_destination,
    faker_source,
    make_connection,
)
from tests.connections.test_sync_embedded import run_now as sync_now
from tests.transforms.runs_helpers import run_now, run_pending, set_file

pytestmark = pytest.mark.django_db(transaction=True)
Status = TransformRun.Status


def test_generated_project_builds_after_a_real_sync_and_reports_bad_sql_and_tests(
    admin,
    workspace,
    settings,
    tmp_path,
    faker_source,  # noqa: F811
    duckdb_destination,  # noqa: F811
    make_connection,  # noqa: F811
    dbt_settings,
):
    settings.TRANSFORMS_DIR = tmp_path / "transforms"
    schema = f"faker_{uuid.uuid4().hex[:6]}"
    connection = make_connection(
        faker_source(count=150, always_updated=False),
        duckdb_destination,
        [
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
            },
            {"name": "products"},
        ],
        namespace=schema,
    )
    job = sync_now(connection, admin)
    assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message
    with mock.patch("apps.transforms.tasks.transform_run_task.apply_async"):
        project = project_create_generated(connection=connection, actor=admin)

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
    synced = _count(workspace, f'"{schema}".users')
    assert synced == 150
    assert _count(workspace, "main.stg_users") == synced
    assert _count(workspace, "main.stg_products") == _count(
        workspace, f'"{schema}".products'
    )

    # A model with a SQL error: the run fails and says where; the view built
    # before stays as it was.
    path = "models/staging/stg_users.sql"
    good_sql = project.files.get(path=path).content
    set_file(project, path, good_sql.replace('"id"::bigint', "no_such_column::bigint"))

    broken = run_now(project, admin)

    assert broken.status == Status.FAILED
    assert "stg_users" in broken.failure_message
    assert "no_such_column" in broken.failure_message
    nodes = {n.name: n for n in broken.nodes.all()}
    assert nodes["stg_users"].status == "error"
    assert nodes["stg_products"].status == "success"
    assert _count(workspace, "main.stg_users") == synced
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


def _count(workspace, relation: str) -> int:
    from apps.engines.embedded.destinations.duckdb import resolve_duckdb_path

    path = resolve_duckdb_path(
        "warehouse.duckdb", workspace_id=str(workspace.public_id)
    )
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(f"select count(*) from {relation}").fetchone()[0]
