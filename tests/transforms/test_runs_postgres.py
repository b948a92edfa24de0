"""A real faker sync into PostgreSQL, then runs of its generated project with real
dbt (see ``check_generated_runs``), and the airbyte engine's destination-postgres
settings turned into the same kind of dbt target (issue #14 items 3 and 7)."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from apps.connections.models import SyncJob
from apps.connectors.models import Destination
from apps.transforms.profiles import ProfileError, adapter_for, profile_for
from apps.transforms.services.projects import project_create_generated
from tests.connections.conftest import (  # noqa: F401 - fixtures
    faker_source,
    make_connection,
    pg_rows,
    pg_schema,
    postgres_destination,
)
from tests.connections.test_sync_embedded import run_now as sync_now
from tests.engines.fixtures import DUCKDB_ID, POSTGRES_ID, definition
from tests.transforms.runs_helpers import check_generated_runs, make_project


@pytest.mark.django_db(transaction=True)
def test_generated_project_builds_after_a_real_sync_and_reports_bad_sql_and_tests(
    admin,
    settings,
    tmp_path,
    faker_source,  # noqa: F811
    postgres_destination,  # noqa: F811
    pg_schema,  # noqa: F811
    make_connection,  # noqa: F811
    dbt_settings,
):
    settings.TRANSFORMS_DIR = tmp_path / "transforms"
    connection = make_connection(
        faker_source(count=120, always_updated=False),
        postgres_destination,
        [
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
            },
            {"name": "products"},
        ],
        namespace=pg_schema,
    )
    job = sync_now(connection, admin)
    assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message
    with mock.patch("apps.transforms.tasks.transform_run_task.apply_async"):
        project = project_create_generated(connection=connection, actor=admin)

    def count(relation: str) -> int:
        return pg_rows(f"select count(*) from {relation}")[0][0]

    synced = check_generated_runs(
        project, admin, count=count, source_schema=pg_schema, model_schema=pg_schema
    )
    assert synced == 120


# -- the airbyte engine (item 7) -------------------------------------------------------


@pytest.fixture
def airbyte_workspace(workspace):
    workspace.engine = "airbyte"
    workspace.save(update_fields=["engine"])
    return workspace


def _airbyte_destination(workspace, definition_id, config, secrets=None):
    return Destination.objects.create(
        workspace=workspace,
        name="Warehouse",
        definition=definition(definition_id),
        config=config,
        secrets=json.dumps(secrets or {}),
    )


AIRBYTE_PG = {
    "host": "db.internal",
    "port": 5433,
    "database": "dw",
    "schema": "analytics",
    "username": "loader",
    "ssl_mode": {"mode": "require"},
    "tunnel_method": {"tunnel_method": "NO_TUNNEL"},
}


def test_an_airbyte_postgres_destination_gets_a_dbt_target(airbyte_workspace):
    destination = _airbyte_destination(
        airbyte_workspace, POSTGRES_ID, AIRBYTE_PG, {"/password": "pw-from-airbyte"}
    )
    project = make_project(airbyte_workspace, destination, {})

    adapter, profile, secrets = profile_for(project)

    assert adapter == adapter_for(project) == "postgres"
    assert profile == {
        "type": "postgres",
        "host": "db.internal",
        "port": 5433,
        "user": "loader",
        "password": "pw-from-airbyte",
        "dbname": "dw",
        "schema": "analytics",
        "sslmode": "require",
        "connect_timeout": 10,
    }
    assert "pw-from-airbyte" in secrets


@pytest.mark.parametrize(
    ("definition_id", "config", "words"),
    [
        (
            DUCKDB_ID,
            {"destination_path": "/local/dw.duckdb"},
            "Supported destination types: PostgreSQL. A DuckDB file written by "
            "an Airbyte server stays inside that server",
        ),
        (
            POSTGRES_ID,
            {**AIRBYTE_PG, "tunnel_method": {"tunnel_method": "SSH_KEY_AUTH"}},
            "through an SSH tunnel",
        ),
        (
            POSTGRES_ID,
            {**AIRBYTE_PG, "ssl_mode": {"mode": "verify-full"}},
            "SSL mode “verify-full” needs certificate files",
        ),
    ],
)
def test_an_airbyte_destination_dbt_cannot_reach_says_why(
    airbyte_workspace, definition_id, config, words
):
    project = make_project(
        airbyte_workspace,
        _airbyte_destination(airbyte_workspace, definition_id, config),
        {},
    )
    with pytest.raises(ProfileError) as refused:
        profile_for(project)
    assert words in refused.value.message


def test_the_embedded_engine_builds_both_adapters_targets(
    workspace, settings, tmp_path
):
    settings.DUCKDB_DIR = tmp_path
    duck = make_project(
        workspace,
        _airbyte_destination(workspace, DUCKDB_ID, {"destination_path": "dw.duckdb"}),
        {},
        name="Duck",
    )
    adapter, profile, _ = profile_for(duck)
    assert adapter == "duckdb"
    assert profile["path"] == str(tmp_path / str(workspace.public_id) / "dw.duckdb")
    nowhere = make_project(workspace, None, {}, name="Nowhere")
    with pytest.raises(ProfileError, match="has no destination"):
        adapter_for(nowhere)


@pytest.mark.django_db(transaction=True)
def test_after_a_mirrored_airbyte_sync_the_console_builds_in_its_postgres(
    admin,
    airbyte_workspace,
    settings,
    tmp_path,
    pg_schema,  # noqa: F811
    dbt_settings,
    django_capture_on_commit_callbacks,
):
    import uuid

    from apps.connections import lifecycle
    from apps.transforms.models import TransformRun, TransformTrigger
    from apps.transforms.services.runs import transform_run_execute
    from tests.factories import ConnectionFactory
    from tests.transforms.runs_helpers import dbt_project_yml

    settings.TRANSFORMS_DIR = tmp_path / "transforms"
    # Airbyte's destination-postgres settings, on a database the console reaches.
    destination = _airbyte_destination(
        airbyte_workspace,
        POSTGRES_ID,
        {
            **AIRBYTE_PG,
            "host": "127.0.0.1",
            "port": 5432,
            "database": "postgres",
            "schema": pg_schema,
            "username": "postgres",
            "ssl_mode": {"mode": "disable"},
        },
    )
    connection = ConnectionFactory(
        workspace=airbyte_workspace, destination=destination, name="Mirrored"
    )
    project = make_project(
        airbyte_workspace,
        destination,
        {
            "dbt_project.yml": dbt_project_yml("mirrored"),
            "models/daily.sql": "select 1 as id union all select 2\n",
        },
    )
    TransformTrigger.objects.create(
        workspace=airbyte_workspace,
        connection=connection,
        project=project,
        selector="daily",
    )
    job = SyncJob.objects.create(
        public_id=uuid.uuid4(), connection=connection, trigger="manual", remote_id="41"
    )
    job = SyncJob.objects.select_related("connection__workspace").get(pk=job.pk)
    # The poll of the server's job ends it; the transforms follow after the commit.
    with (
        mock.patch("apps.transforms.tasks.transform_run_task.apply_async") as sent,
        django_capture_on_commit_callbacks(execute=True),
    ):
        lifecycle.job_finish(job=job, status=SyncJob.Status.SUCCEEDED)
    run = project.runs.get(sync_job=job)
    sent.assert_called_once()

    transform_run_execute(run.pk)

    run.refresh_from_db()
    assert run.status == TransformRun.Status.SUCCEEDED, run.failure_message
    assert pg_rows(f'select count(*) from "{pg_schema}".daily') == [(2,)]
