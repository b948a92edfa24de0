"""The files destination's staging belongs to one connection.

A review proved that two connections syncing a stream of the same name into one
files destination shared ``_airbyte_staging/<schema>/<table>/``: the second one's
``open`` deleted the files the first had staged while it ran, and the first then
swapped in part of its rows but reported all of them as committed. Staging is now
``_airbyte_staging/<connection id>/<schema>/<table>/``.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from apps.engines.embedded.writers.files import FilesWriter
from tests.engines import test_files_destination as files_tests
from tests.engines.test_files_destination import (
    data_files,
    local_config,
    make_writer,
    parquet_rows,
    stream_state,
    user,
    users,
)

# The fixtures of the files destination's own tests, shared rather than copied.
files_dir = files_tests.files_dir
s3_server = files_tests.s3_server


def _ids(root: Path) -> list[int]:
    return sorted(r["id"] for r in parquet_rows(data_files(root)))


@pytest.mark.parametrize("other_mode", ["append", "overwrite"])
def test_a_second_connection_opening_keeps_the_first_connections_staged_files(
    files_dir, other_mode
):
    config = local_config(files_dir)
    root = Path(config["storage"]["destination_path"])
    a = make_writer(config, users("overwrite"), connection_id="conn-a")
    a.open()
    for i in (1, 2, 3):
        a.write("Users", None, user(i), 0)
    a.commit(stream_state(3))

    # Another connection syncs a stream also called Users into the same folder
    # and starts (then stops) while A runs.
    b = make_writer(config, users(other_mode), connection_id="conn-b")
    b.open()
    b.abort()
    a.write("Users", None, user(4), 0)
    a.commit(stream_state(4))
    result = a.finish(success=True)

    # Everything A reports as committed is in the stream's folder.
    assert result.records == 4
    assert _ids(root) == [1, 2, 3, 4]
    assert not (root / "_airbyte_staging").exists()


def test_two_connections_overwriting_one_stream_swap_only_their_own_files(files_dir):
    config = local_config(files_dir)
    root = Path(config["storage"]["destination_path"])
    a = make_writer(config, users("overwrite"), connection_id="conn-a")
    b = make_writer(config, users("overwrite"), connection_id="conn-b")
    a.open()
    b.open()
    for i in (1, 2):
        a.write("Users", None, user(i), 0)
    a.commit(stream_state(2))
    b.write("Users", None, user(100), 0)
    b.commit(stream_state(100))
    staging = root / "_airbyte_staging"
    assert sorted(p.relative_to(staging).as_posix() for p in staging.glob("*/*/*")) == [
        "conn-a/public/users",
        "conn-b/public/users",
    ]

    # B fails: only B's staged files go.
    b.finish(success=False)
    a.write("Users", None, user(3), 0)
    result = a.finish(success=True)

    assert result.records == 3
    assert _ids(root) == [1, 2, 3]
    assert not (root / "_airbyte_staging").exists()


def test_a_dead_attempts_staged_files_go_only_for_its_own_connection(files_dir):
    config = local_config(files_dir)
    root = Path(config["storage"]["destination_path"])
    dead = make_writer(config, users("overwrite"), connection_id="conn-a")
    dead.open()
    dead.write("Users", None, user(1), 0)
    dead.commit(stream_state(1))  # staged; the worker dies: no finish, no abort
    b = make_writer(config, users("overwrite"), connection_id="conn-b")
    b.open()
    b.write("Users", None, user(100), 0)
    b.commit()

    # conn-a's next attempt cleans conn-a's staging and starts over.
    retry = make_writer(config, users("overwrite"), connection_id="conn-a")
    retry.open()
    retry.write("Users", None, user(1), 0)
    retry.write("Users", None, user(2), 0)
    assert retry.finish(success=True).records == 2
    assert _ids(root) == [1, 2]

    assert b.finish(success=True).records == 1
    assert _ids(root) == [100]


def test_a_swap_written_down_before_staging_was_per_connection_is_finished(
    files_dir, monkeypatch
):
    """A worker that died mid-swap under the old layout: the next attempt moves in
    exactly the files its swap names from the shared staging folder."""
    config = local_config(files_dir)
    root = Path(config["storage"]["destination_path"])
    first = make_writer(config, users("overwrite"), connection_id="conn-a")
    first.open()
    first.write("Users", None, user(1), 0)
    first.finish(success=True)
    writer = make_writer(config, users("overwrite"), connection_id="conn-a")
    writer.open()
    writer.write("Users", None, user(2), 0)

    def die(self):
        raise KeyboardInterrupt("the worker died")

    monkeypatch.setattr(FilesWriter, "_finish_swaps", die)
    with pytest.raises(KeyboardInterrupt):
        writer.finish(success=True)
    monkeypatch.undo()
    # Put the staged file where the old layout kept it, next to a file of another
    # connection's that must stay where it is.
    staged = root / "_airbyte_staging" / "conn-a" / "public" / "users"
    (name,) = [p.name for p in staged.iterdir()]
    legacy = root / "_airbyte_staging" / "public" / "users"
    legacy.mkdir(parents=True)
    (staged / name).rename(legacy / name)
    (legacy / "20260101T000000Z_othercon_00001.parquet").write_bytes(b"theirs")

    make_writer(config, users("overwrite"), connection_id="conn-a").open()

    assert _ids(root) == [2]
    assert [p.name for p in legacy.iterdir()] == [
        "20260101T000000Z_othercon_00001.parquet"
    ]


def test_on_s3_a_second_connection_keeps_the_first_connections_staged_files(
    s3_server,
):
    bucket = s3_server.bucket()
    config = {
        "storage": s3_server.storage(bucket, "lake"),
        "format": {"format_type": "JSONL"},
    }
    a = make_writer(config, users("overwrite"), connection_id="conn-a")
    a.open()
    a.write("Users", None, user(1), 0)
    a.commit(stream_state(1))
    b = make_writer(config, users("overwrite"), connection_id="conn-b")
    b.open()
    b.abort()
    a.write("Users", None, user(2), 0)
    result = a.finish(success=True)

    keys = s3_server.keys(bucket, "lake/public/users/")
    ids = [
        orjson.loads(line)["_airbyte_data"]["id"]
        for key in keys
        for line in s3_server.read(bucket, key).splitlines()
    ]
    assert result.records == 2
    assert sorted(ids) == [1, 2]
    assert s3_server.keys(bucket, "lake/_airbyte_staging/") == []
