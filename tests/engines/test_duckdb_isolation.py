"""Each workspace's DuckDB files are its own (issue #13, item 2).

Workspace A keeps a 500-row ``users`` table in its folder; workspace B's admin
points a destination at that file every way a path can (a climb out with ``..``,
A's absolute path, a symlink planted in B's folder) and is refused with a message
that says why, while A's table keeps its 500 rows. Files saved before workspaces
had folders move into the one workspace that names them, or wait for an admin.
"""

from __future__ import annotations

import logging
from pathlib import Path
from unittest import mock

import duckdb
import pytest
from django.urls import reverse

from apps.connectors import services
from apps.connectors.models import Destination
from apps.core.roles import Role
from apps.engines.embedded.destinations.duckdb import resolve_duckdb_path
from apps.engines.embedded.engine import EmbeddedEngine
from tests.engines.fixtures import DUCKDB_ID, definition
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

A_ROWS = 500


def _users(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute("select count(*) from main.users").fetchone()[0]


def _make_users(path: Path, rows: int, *, in_wal: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as conn:
        if in_wal:  # the rows stay in the .wal beside the file, as after a crash
            conn.execute("PRAGMA disable_checkpoint_on_shutdown")
            conn.execute("SET checkpoint_threshold = '1TB'")
        conn.execute(
            "create table main.users as select range as id from range(?)", [rows]
        )
    return path


@pytest.fixture
def duckdb_dir(settings, tmp_path) -> Path:
    settings.DUCKDB_DIR = tmp_path / "duckdb"
    settings.DUCKDB_ALLOW_ANY_PATH = False
    return tmp_path / "duckdb"


@pytest.fixture
def a_file(workspace, duckdb_dir) -> Path:
    """Workspace A's warehouse, as its destination made it, with 500 users."""
    path = duckdb_dir / str(workspace.public_id) / "warehouse.duckdb"
    return _make_users(path, A_ROWS)


@pytest.fixture
def b_workspace(db):
    return WorkspaceFactory(name="Beta Team")


@pytest.fixture
def b_admin(b_workspace):
    user = UserFactory(email="admin@beta.test")
    MembershipFactory(user=user, workspace=b_workspace, role=Role.ADMIN)
    return user


def _b_destination_saved_and_checked(client, b_workspace, path: str) -> Destination:
    """What B's admin does: save the form (which asks for a check), run the check."""
    with mock.patch("apps.connectors.tasks.connector_check_task.delay_on_commit"):
        response = client.post(
            reverse("connectors:destination_create", args=[b_workspace.public_id]),
            {
                "definition": definition(DUCKDB_ID).public_id,
                "name": "Duck",
                "cfg__destination_path": path,
            },
        )
    assert response.status_code == 302, response.text[:2000]
    destination = Destination.objects.get(workspace=b_workspace, name="Duck")
    services.connector_check_run(kind="destination", pk=destination.pk)
    destination.refresh_from_db()
    return destination


@pytest.mark.parametrize("how", ["dot-dot", "absolute", "symlink", "symlinked folder"])
def test_workspace_b_cannot_point_a_destination_at_workspace_a_s_file(
    how, workspace, a_file, duckdb_dir, b_workspace, b_admin, login
):
    b_folder = duckdb_dir / str(b_workspace.public_id)
    b_folder.mkdir(parents=True)
    if how == "dot-dot":
        path = f"../{workspace.public_id}/warehouse.duckdb"
    elif how == "absolute":
        path = str(a_file)
    elif how == "symlink":
        (b_folder / "mine.duckdb").symlink_to(a_file)
        path = "mine.duckdb"
    else:
        (b_folder / "team").symlink_to(a_file.parent, target_is_directory=True)
        path = "team/warehouse.duckdb"
    client = login(b_admin)

    destination = _b_destination_saved_and_checked(client, b_workspace, path)

    assert destination.last_check_status == "failed"
    assert "is in another workspace's DuckDB folder" in (destination.last_check_message)
    assert str(b_folder.resolve()) in destination.last_check_message
    page = client.get(
        reverse(
            "connectors:destination_detail",
            args=[b_workspace.public_id, destination.public_id],
        )
    )
    assert "is in another workspace" in page.text
    assert _users(a_file) == A_ROWS


def test_the_relative_name_workspace_a_uses_is_a_separate_file_in_b(
    workspace, a_file, duckdb_dir, b_workspace, b_admin, login
):
    destination = _b_destination_saved_and_checked(
        login(b_admin), b_workspace, "warehouse.duckdb"
    )

    b_file = duckdb_dir / str(b_workspace.public_id) / "warehouse.duckdb"
    assert destination.last_check_status == "succeeded", destination.last_check_message
    assert str(b_file.resolve()) in destination.last_check_message
    assert b_file.exists() and b_file.resolve() != a_file.resolve()
    assert _users(a_file) == A_ROWS


def test_two_workspaces_with_the_same_relative_name_get_two_files(
    workspace, b_workspace, duckdb_dir
):
    a = resolve_duckdb_path("team/w.duckdb", workspace_id=str(workspace.public_id))
    b = resolve_duckdb_path("team/w.duckdb", workspace_id=str(b_workspace.public_id))

    assert a == (duckdb_dir / str(workspace.public_id) / "team/w.duckdb").resolve()
    assert b == (duckdb_dir / str(b_workspace.public_id) / "team/w.duckdb").resolve()
    assert a != b


def test_an_absolute_path_in_the_workspace_s_own_folder_is_fine(workspace, duckdb_dir):
    own = duckdb_dir / str(workspace.public_id) / "x.duckdb"

    result = EmbeddedEngine(workspace).check(
        definition(DUCKDB_ID), {"destination_path": str(own)}
    )

    assert result.ok, result.message
    assert own.exists()


def test_a_path_outside_every_duckdb_folder_names_the_escape_hatch(
    workspace, duckdb_dir, tmp_path, settings
):
    outside = tmp_path / "elsewhere" / "x.duckdb"
    engine = EmbeddedEngine(workspace)

    refused = engine.check(definition(DUCKDB_ID), {"destination_path": str(outside)})
    climbing = engine.check(
        definition(DUCKDB_ID), {"destination_path": "../../elsewhere/x.duckdb"}
    )
    settings.DUCKDB_ALLOW_ANY_PATH = True
    allowed = engine.check(definition(DUCKDB_ID), {"destination_path": str(outside)})

    assert not refused.ok
    assert "outside this workspace's DuckDB folder" in refused.message
    assert "DUCKDB_ALLOW_ANY_PATH" in refused.message
    assert not climbing.ok
    assert "outside this workspace's DuckDB folder" in climbing.message
    assert allowed.ok, allowed.message


def test_a_workspace_folder_that_is_a_symlink_is_refused(
    workspace, a_file, duckdb_dir, b_workspace
):
    (duckdb_dir / str(b_workspace.public_id)).symlink_to(
        a_file.parent, target_is_directory=True
    )

    result = EmbeddedEngine(b_workspace).check(
        definition(DUCKDB_ID), {"destination_path": "warehouse.duckdb"}
    )

    assert not result.ok
    assert "is a symbolic link" in result.message
    assert _users(a_file) == A_ROWS


def test_a_check_without_a_workspace_places_no_file(duckdb_dir):
    result = EmbeddedEngine().check(
        definition(DUCKDB_ID), {"destination_path": "warehouse.duckdb"}
    )

    assert not result.ok
    assert "no workspace was given" in result.message
    assert not duckdb_dir.exists()


# -- files saved before each workspace had a folder -------------------------------


def _destination(workspace, path: str) -> Destination:
    return Destination.objects.create(
        workspace=workspace,
        name=f"Duck {path}",
        definition=definition(DUCKDB_ID),
        config={"destination_path": path},
    )


@pytest.mark.parametrize("allow_any_path", [False, True])
def test_a_shared_file_moves_into_the_one_workspace_that_names_it(
    allow_any_path, workspace, b_workspace, duckdb_dir, caplog, settings
):
    settings.DUCKDB_ALLOW_ANY_PATH = allow_any_path
    shared = _make_users(duckdb_dir / "old.duckdb", A_ROWS, in_wal=True)
    assert (duckdb_dir / "old.duckdb.wal").exists()
    _destination(workspace, "old.duckdb")
    _destination(b_workspace, "other.duckdb")

    with caplog.at_level(logging.WARNING):
        result = EmbeddedEngine(workspace).check(
            definition(DUCKDB_ID), {"destination_path": "old.duckdb"}
        )

    moved = duckdb_dir / str(workspace.public_id) / "old.duckdb"
    assert result.ok, result.message
    assert not shared.exists()
    assert not (duckdb_dir / "old.duckdb.wal").exists()
    assert _users(moved) == A_ROWS  # the rows in the .wal came along
    assert "Moved the shared DuckDB file" in caplog.text
    # Once moved, it stays: the next resolve finds it in the workspace's folder.
    again = resolve_duckdb_path("old.duckdb", workspace_id=str(workspace.public_id))
    assert again == moved.resolve()


def test_a_shared_file_two_workspaces_name_waits_for_an_admin(
    workspace, b_workspace, duckdb_dir, caplog
):
    shared = _make_users(duckdb_dir / "old.duckdb", A_ROWS)
    _destination(workspace, "old.duckdb")
    _destination(b_workspace, "./old.duckdb")

    with caplog.at_level(logging.WARNING):
        a = EmbeddedEngine(workspace).check(
            definition(DUCKDB_ID), {"destination_path": "old.duckdb"}
        )
        b = EmbeddedEngine(b_workspace).check(
            definition(DUCKDB_ID), {"destination_path": "./old.duckdb"}
        )

    for result in (a, b):
        assert not result.ok
        assert "a destination in another workspace names it too" in result.message
        assert "An administrator must move" in result.message
        assert str(b_workspace.public_id) not in a.message  # no other tenant named
    assert _users(shared) == A_ROWS
    assert not (duckdb_dir / str(workspace.public_id) / "old.duckdb").exists()
    assert str(b_workspace.public_id) in caplog.text  # the admin's log says who


def test_a_file_in_another_workspace_s_folder_is_never_adopted(
    workspace, a_file, b_workspace, duckdb_dir
):
    # B names A's folder as a relative sub-folder of its own: a new file in B's.
    name = f"{workspace.public_id}/warehouse.duckdb"
    _destination(b_workspace, name)

    path = resolve_duckdb_path(name, workspace_id=str(b_workspace.public_id))

    assert path == (duckdb_dir / str(b_workspace.public_id) / name).resolve()
    assert _users(a_file) == A_ROWS
    assert not path.exists()


def test_a_shared_file_stays_put_when_nobody_can_say_who_names_it(
    workspace, duckdb_dir
):
    shared = _make_users(duckdb_dir / "old.duckdb", A_ROWS)

    with mock.patch("apps.engines.registry.destination_configs", return_value=None):
        result = EmbeddedEngine(workspace).check(
            definition(DUCKDB_ID), {"destination_path": "old.duckdb"}
        )

    assert not result.ok
    assert "cannot see which workspaces name it" in result.message
    assert _users(shared) == A_ROWS
