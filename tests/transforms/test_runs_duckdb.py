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
from apps.transforms.services.projects import project_create_generated
from tests.connections.conftest import (  # noqa: F401 - fixtures
    duckdb_destination,
    faker_source,
    make_connection,
)
from tests.connections.test_sync_embedded import run_now as sync_now
from tests.transforms.runs_helpers import check_generated_runs

pytestmark = pytest.mark.django_db(transaction=True)


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
    from apps.engines.embedded.destinations.duckdb import resolve_duckdb_path

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
    path = resolve_duckdb_path(
        "warehouse.duckdb", workspace_id=str(workspace.public_id)
    )

    def count(relation: str) -> int:
        with duckdb.connect(str(path), read_only=True) as conn:
            return conn.execute(f"select count(*) from {relation}").fetchone()[0]

    synced = check_generated_runs(
        project, admin, count=count, source_schema=schema, model_schema="main"
    )
    assert synced == 150
