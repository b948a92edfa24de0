"""`airbyte transform ... --wait` on PostgreSQL, with a real Celery worker running dbt.

Apart from test_cli.py so that pytest-xdist (--dist loadfile) runs the two slow
stories at once.
"""

from __future__ import annotations

import os

import pytest

from apps.transforms.models import TransformRun
from tests.connections.conftest import (  # noqa: F401 - fixtures
    faker_source,
    make_connection,
    pg_rows,
    pg_schema,
    postgres_destination,
)
from tests.transforms.cli_helpers import (  # noqa: F401 - transforms_dirs is a fixture
    sync_now,
    transform,
    transform_json,
    transforms_dirs,
)
from tests.transforms.conftest import TEST_DBT_DIR


@pytest.mark.django_db(transaction=True)
def test_postgres_run_wait_follows_a_real_worker(
    admin,
    workspace,
    faker_source,  # noqa: F811
    postgres_destination,  # noqa: F811
    make_connection,  # noqa: F811
    pg_schema,  # noqa: F811
    transforms_dirs,  # noqa: F811
    worker,
    monkeypatch,
    settings,
    capsys,
):
    connection = make_connection(
        faker_source(count=100),
        postgres_destination,
        [{"name": "users"}],
        namespace=pg_schema,
    )
    sync_now(connection, admin)
    # The worker process reads its folders from the environment.
    monkeypatch.setenv("DBT_DIR", str(TEST_DBT_DIR))
    monkeypatch.setenv("TRANSFORMS_DIR", str(settings.TRANSFORMS_DIR))
    worker()

    code, data = transform_json(
        capsys,
        admin,
        workspace,
        "init",
        "--name",
        "pgshop",
        "--connection",
        connection.name,
        "--wait",
        "--timeout",
        "180",
    )
    assert code == 0, data
    assert data["parse"]["status"] == "succeeded"
    code, out, err = transform(
        capsys,
        admin,
        workspace,
        "run",
        "--project",
        "pgshop",
        "--wait",
        "--timeout",
        "180",
    )
    assert code == 0, out + err
    assert "Run #2 (build) of pgshop succeeded" in out
    # --wait printed dbt's lines as the worker stored them.
    assert "OK created sql view model" in err
    run = TransformRun.objects.get(project__name="pgshop", number=2)
    assert run.worker and not run.worker.endswith(f":{os.getpid()}"), (
        "the worker ran it, not this process"
    )
    assert run.nodes.get(name="stg_users").status == "success"
    assert pg_rows(f'select count(*) from "{pg_schema}".stg_users') == [(100,)]
