"""A sync of workspace B never touches workspace A's DuckDB file (issue #13, item 2).

The report: B pointed a destination at A's file and a sync replaced A's 500-row
``users`` with B's 7 rows. Here the real faker connector syncs into DuckDB for
both workspaces, through the console's own sync path.
"""

from __future__ import annotations

import uuid
from unittest import mock

import duckdb
import pytest

from apps.connections import services
from apps.connections.execution import sync_run
from apps.connections.models import SyncJob
from apps.connectors.models import Destination, Source
from apps.core.roles import Role
from tests.engines.fixtures import DUCKDB_ID, definition
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _sync(connection, actor) -> SyncJob:
    with mock.patch("apps.connections.tasks.sync_job_task.apply_async"):
        job = services.sync_request(
            connection=connection, trigger="manual", actor=actor
        )
    sync_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def _users(path) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute("select count(*) from faker.users").fetchone()[0]


def _pipeline(actor, workspace, catalog_source, *, count: int, path: str):
    source = Source.objects.create(
        workspace=workspace,
        name=f"Faker {uuid.uuid4().hex[:6]}",
        definition=catalog_source.definition,
        config={**catalog_source.config, "count": count},
        catalog=catalog_source.catalog,
    )
    destination = Destination.objects.create(
        workspace=workspace,
        name=f"Duck {uuid.uuid4().hex[:6]}",
        definition=definition(DUCKDB_ID),
        config={"destination_path": path},
    )
    return services.connection_create(
        actor=actor,
        workspace=workspace,
        name=f"C {uuid.uuid4().hex[:6]}",
        source=source,
        destination=destination,
        streams=[{"name": "users"}],
        namespace="faker",
    )


def test_a_sync_of_workspace_b_never_touches_workspace_a_s_table(
    admin, workspace, faker_source, settings, tmp_path
):
    settings.DUCKDB_DIR = tmp_path
    b_workspace = WorkspaceFactory(name="Beta Team")
    b_admin = UserFactory(email="admin@beta.test")
    MembershipFactory(user=b_admin, workspace=b_workspace, role=Role.ADMIN)
    template = faker_source(count=500)
    a = _pipeline(admin, workspace, template, count=500, path="warehouse.duckdb")
    assert _sync(a, admin).status == SyncJob.Status.SUCCEEDED
    a_file = tmp_path / str(workspace.public_id) / "warehouse.duckdb"
    assert _users(a_file) == 500

    climbing = _pipeline(
        b_admin,
        b_workspace,
        template,
        count=7,
        path=f"../{workspace.public_id}/warehouse.duckdb",
    )
    refused = _sync(climbing, b_admin)
    same_name = _pipeline(
        b_admin, b_workspace, template, count=7, path="warehouse.duckdb"
    )
    own = _sync(same_name, b_admin)

    assert refused.status == SyncJob.Status.FAILED
    assert refused.failure_type == "config_error"
    assert "is in another workspace's DuckDB folder" in refused.failure_message
    assert own.status == SyncJob.Status.SUCCEEDED, own.failure_message
    assert _users(tmp_path / str(b_workspace.public_id) / "warehouse.duckdb") == 7
    assert _users(a_file) == 500
