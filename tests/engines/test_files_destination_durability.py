"""The files destination: CSV keeps NULL and the empty string apart, and a local
folder's parts reach the disk before the state that covers them.

A host crash cannot be staged here, so the durability tests record the calls the
writer makes (fsync, rename) and assert their order: the part file is fsynced
before it is renamed into place, its folder before the state file is written, and
the state file and its folder after. That is what POSIX asks for a rename to
survive a crash; that the disk honours fsync is not something a test can show.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import psycopg
import pytest

from tests.engines import test_files_destination as files_tests
from tests.engines.test_files_destination import (
    data_files,
    local_config,
    make_writer,
    stream_state,
    sync,
    user,
    users,
)
from tests.engines.writers.conftest import PG_DSN, pg_available

# The writer's tests' FILES_DIR fixture.
files_dir = files_tests.files_dir


# ---------------------------------------------------------------------------
# CSV: NULL is an empty field, the empty string is ""


def test_csv_keeps_an_empty_string_and_null_apart(files_dir):
    config = local_config(files_dir, "CSV")
    sync(
        make_writer(config, users()),
        [user(1, name=""), user(2, name=None), user(3, name='a "quoted", name')],
    )

    [path] = data_files(Path(config["storage"]["destination_path"]))
    lines = path.read_bytes().decode("utf-8").split("\r\n")
    header = lines[0].split(",")
    name = header.index("name")
    assert lines[1].split(",")[name] == '""'
    assert lines[2].split(",")[name] == ""
    rows = duckdb.sql(
        f"SELECT id, name FROM read_csv('{path}', header=true, "
        "allow_quoted_nulls=false) ORDER BY id"
    ).fetchall()
    assert rows == [(1, ""), (2, None), (3, 'a "quoted", name')]


def test_postgres_copy_reads_the_csv_empty_string_and_null_apart(files_dir):
    if not pg_available():
        pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    config = local_config(files_dir, "CSV")
    sync(make_writer(config, users()), [user(1, name=""), user(2, name=None)])
    [path] = data_files(Path(config["storage"]["destination_path"]))
    header = path.read_bytes().decode("utf-8").split("\r\n")[0].split(",")

    columns = ", ".join(f'"{c}" text' for c in header)
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f"CREATE TEMPORARY TABLE users_csv ({columns})")
        with conn.cursor().copy(
            "COPY users_csv FROM STDIN WITH (FORMAT csv, HEADER true)"
        ) as copy:
            copy.write(path.read_bytes())
        rows = conn.execute(
            "SELECT id, name, name IS NULL FROM users_csv ORDER BY id"
        ).fetchall()
    assert rows == [("1", "", False), ("2", None, True)]


# ---------------------------------------------------------------------------
# A local folder: fsync before rename, folders before the state


@pytest.fixture
def disk_calls(monkeypatch):
    """Every fsync (by path) and rename the process makes, in order."""
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(source, target, **kwargs):
        calls.append(("rename", f"{os.fspath(source)} -> {os.fspath(target)}"))
        return real_replace(source, target, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return calls


def _index(calls, kind: str, test) -> int:
    for position, (what, path) in enumerate(calls):
        if what == kind and test(path):
            return position
    raise AssertionError(f"no {kind} matching in {calls}")


def test_a_commit_makes_its_part_and_folders_durable_before_the_state(
    files_dir, disk_calls
):
    config = local_config(files_dir, "CSV")
    root = Path(config["storage"]["destination_path"]).resolve()
    writer = make_writer(config, users())
    writer.open()
    writer.write("Users", None, user(1), 0)
    disk_calls.clear()
    writer.commit(stream_state(1))

    [part] = data_files(root)
    stream_folder, state_folder = str(part.parent), str(root / "_airbyte_state")
    part_synced = _index(disk_calls, "fsync", lambda p: p.endswith(part.name))
    part_renamed = _index(disk_calls, "rename", lambda p: p.endswith(str(part)))
    folder_synced = _index(disk_calls, "fsync", lambda p: p == stream_folder)
    state_synced = _index(disk_calls, "fsync", lambda p: p.endswith(".tmp"))
    state_renamed = _index(
        disk_calls, "rename", lambda p: p.endswith(f"{state_folder}/conn-1.json")
    )
    state_folder_synced = max(
        i for i, call in enumerate(disk_calls) if call == ("fsync", state_folder)
    )
    assert (
        part_synced
        < part_renamed
        < folder_synced
        < state_synced
        < state_renamed
        < state_folder_synced
    )
    # The stream's folders were made by this commit: their parents' entries are
    # synced before the state too.
    for made in (root / "public", root):
        assert _index(disk_calls, "fsync", lambda p, m=made: p == str(m)) < (
            state_synced
        )

    # The next commit syncs only what changed: one part, its folder, the state.
    writer.write("Users", None, user(2), 0)
    disk_calls.clear()
    writer.commit(stream_state(2))
    writer.finish(success=True)
    synced = [path for what, path in disk_calls if what == "fsync"]
    assert synced.count(stream_folder) == 1
    assert str(root) not in synced and str(root / "public") not in synced
    assert len(data_files(root)) == 2


def test_an_overwrite_swap_is_durable_before_the_state_that_ends_it(
    files_dir, disk_calls
):
    config = local_config(files_dir)
    root = Path(config["storage"]["destination_path"]).resolve()
    sync(make_writer(config, users("overwrite")), [user(1)])
    disk_calls.clear()
    sync(make_writer(config, users("overwrite", generation=2)), [user(2)])

    [part] = data_files(root)
    moved_in = _index(
        disk_calls,
        "rename",
        lambda p: "_airbyte_staging" in p and p.endswith(f"-> {part}"),
    )
    folder_synced = next(
        i
        for i, call in enumerate(disk_calls)
        if i > moved_in and call == ("fsync", str(part.parent))
    )
    last_state = max(
        i
        for i, (what, path) in enumerate(disk_calls)
        if what == "rename" and path.endswith("conn-1.json")
    )
    # The moved-in file and the deleted old one are on disk before the state
    # file that strikes the swap off.
    assert moved_in < folder_synced < last_state
