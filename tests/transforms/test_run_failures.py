"""Bad input ends a run with a reason a user can act on, and breaks nothing else
(issue #14, Bad input): a project that does not parse, a destination that is down,
a run longer than the limit, a destination dbt cannot build in, a project folder
without dbt_project.yml."""

from __future__ import annotations

import pytest

from apps.connectors.models import Destination
from apps.transforms.models import TransformRun
from tests.engines.fixtures import POSTGRES_ID, definition
from tests.transforms.runs_helpers import (
    dbt_project_yml,
    duckdb_destination,
    make_project,
    run_now,
    set_file,
)
from tests.transforms.test_run_lifecycle import SLOW_MODEL, pg_schema  # noqa: F401

Status = TransformRun.Status


@pytest.fixture
def duck(workspace, settings, tmp_path, dbt_settings):
    from apps.engines.embedded.destinations.duckdb import resolve_duckdb_path

    settings.DUCKDB_DIR = tmp_path / "duck"
    settings.TRANSFORMS_DIR = tmp_path / "transforms"
    resolve_duckdb_path(
        "warehouse.duckdb", workspace_id=str(workspace.public_id)
    ).parent.mkdir(parents=True, exist_ok=True)
    return duckdb_destination(workspace)


def test_a_project_that_does_not_parse_fails_and_keeps_its_last_graph(
    admin, workspace, duck
):
    project = make_project(
        workspace,
        duck,
        {
            "dbt_project.yml": dbt_project_yml("shop"),
            "models/orders.sql": "select 1 as id\n",
        },
    )
    parsed = run_now(project, admin, command="parse")
    assert parsed.status == Status.SUCCEEDED, parsed.failure_message
    project.refresh_from_db()
    graph = project.graph
    set_file(project, "models/orders.sql", "select {{ 1 + }} as id\n")

    broken = run_now(project, admin)

    assert broken.status == Status.FAILED
    assert "orders.sql" in broken.failure_message
    assert not broken.nodes.exists()
    project.refresh_from_db()
    assert project.graph == graph  # the pages keep showing the last good parse


def test_a_folder_without_dbt_project_yml_says_so(admin, workspace, duck):
    project = make_project(workspace, duck, {"models/orders.sql": "select 1\n"})
    run = run_now(project, admin)
    assert run.status == Status.FAILED
    assert "dbt_project.yml" in run.failure_message
    assert run.failure_message in run.log


def test_a_project_without_a_destination_says_what_to_do(admin, workspace):
    project = make_project(workspace, None, {"dbt_project.yml": dbt_project_yml()})
    run = run_now(project, admin)
    assert run.status == Status.FAILED
    assert run.failure_message == (
        "The project has no destination: choose one in the project's settings."
    )


def test_a_destination_that_is_down_fails_the_run_with_dbt_s_reason(
    admin, workspace, settings, tmp_path, dbt_settings
):
    settings.TRANSFORMS_DIR = tmp_path / "transforms"
    down = Destination.objects.create(
        workspace=workspace,
        name="Down",
        definition=definition(POSTGRES_ID),
        config={
            "host": "127.0.0.1",
            "port": 9,
            "database": "dw",
            "schema": "analytics",
            "username": "loader",
            "ssl_mode": "disable",
        },
    )
    project = make_project(
        workspace,
        down,
        {
            "dbt_project.yml": dbt_project_yml("shop"),
            "models/orders.sql": "select 1 as id\n",
        },
    )
    run = run_now(project, admin)
    assert run.status == Status.FAILED
    assert '"127.0.0.1", port 9 failed' in run.failure_message
    assert "Connection refused" in run.failure_message


@pytest.mark.django_db(transaction=True)
def test_a_run_longer_than_the_limit_is_stopped_and_says_so(
    admin,
    workspace,
    settings,
    tmp_path,
    pg_schema,  # noqa: F811
    dbt_settings,
):
    from tests.transforms.runs_helpers import postgres_destination

    settings.TRANSFORMS_DIR = tmp_path / "transforms"
    settings.TRANSFORM_RUN_TIMEOUT_SECONDS = 8
    project = make_project(
        workspace,
        postgres_destination(workspace, pg_schema),
        {"dbt_project.yml": dbt_project_yml("slow"), "models/slow.sql": SLOW_MODEL},
    )
    run = run_now(project, admin)
    assert run.status == Status.FAILED
    assert run.failure_message == (
        "dbt ran longer than 8 s and was stopped (TRANSFORM_RUN_TIMEOUT_SECONDS)."
    )
    assert run.duration_seconds < 40


def test_a_model_error_reads_without_the_worker_s_paths(admin, workspace, duck):
    project = make_project(
        workspace,
        duck,
        {
            "dbt_project.yml": dbt_project_yml("shop"),
            "models/orders.sql": "select no_such_column from (select 1 as id)\n",
        },
    )
    run = run_now(project, admin)
    assert run.status == Status.FAILED
    assert run.failure_message.startswith("1 of 1 nodes failed.\nmodel orders failed:")
    assert "no_such_column" in run.failure_message
    assert "compiled code at" not in run.failure_message
    assert str(project.public_id) not in run.failure_message  # its folder here
