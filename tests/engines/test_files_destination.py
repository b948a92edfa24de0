"""The files destination: its writer on disk and on a real S3 API, its check, its form.

S3 is moto's server (``moto[server]``, requirements-dev.txt) on 127.0.0.1 with
authentication on, so a wrong key, a read-only key and a missing bucket answer as
AWS would. Real syncs through the console are in test_files_destination_sync.py.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from django.urls import reverse

from apps.connectors.catalog.registry import (
    SHIPPED_REGISTRY,
    load_registry_file,
    merge_registry,
    parse_registry,
)
from apps.connectors.models import ConnectorDefinition
from apps.engines import registry
from apps.engines.embedded.destinations import files as files_destination
from apps.engines.embedded.writers import DestinationError, StreamConfig, writer_for
from apps.engines.embedded.writers.files import FilesWriter
from tests.services_plugin import skip_or_fail

WS = "0c0ffee0-1111-4222-8333-444455556666"
FILES_ID = uuid.UUID(files_destination.DESCRIPTOR.definition_id)
SECRET = "Canary-Secret-Key-0123456789"

USERS = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "signed_up": {"type": "string", "format": "date-time"},
        "opens_at": {"type": "string", "airbyte_type": "time_with_timezone"},
        "score": {"type": "number"},
        "tags": {"type": "array"},
    },
}


# ---------------------------------------------------------------------------
# moto's S3 on 127.0.0.1


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    admin_key: tuple[str, str]
    reader_key: tuple[str, str]

    def client(self, key: tuple[str, str] | None = None):
        import boto3

        key_id, secret = key or self.admin_key
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )

    def bucket(self) -> str:
        name = f"files-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        answer = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in answer.get("Contents") or [])

    def read(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()

    def storage(self, bucket: str, path: str = "", key=None) -> dict:
        key_id, secret = key or self.admin_key
        return {
            "storage_type": "S3",
            "s3_bucket_name": bucket,
            "s3_bucket_path": path,
            "s3_bucket_region": "us-east-1",
            "s3_endpoint": self.endpoint,
            "access_key_id": key_id,
            "secret_access_key": secret,
        }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on a free port of 127.0.0.1, with IAM authentication on.

    The first three calls go unauthenticated (moto's INITIAL_NO_AUTH_ACTION_COUNT)
    and make an admin user; everything after is signed and checked: a read-only
    user, the tests' buckets, the writer's uploads.
    """
    try:
        import boto3
        import moto.server  # noqa: F401
    except ImportError:
        skip_or_fail(
            "needs moto[server] and boto3 (pip install -r requirements-dev.txt)"
        )
    port = _free_port()
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        env.pop(name, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("moto_server did not start on 127.0.0.1")
                time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}"
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="AKIABOOTSTRAP",
            aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName="admin")
        admin = iam.create_access_key(UserName="admin")["AccessKey"]
        everything = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(
            UserName="admin", PolicyName="all", PolicyDocument=json.dumps(everything)
        )
        admin_key = (admin["AccessKeyId"], admin["SecretAccessKey"])
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id=admin_key[0],
            aws_secret_access_key=admin_key[1],
        )
        iam.create_user(UserName="reader")
        reader = iam.create_access_key(UserName="reader")["AccessKey"]
        read_only = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:ListBucket"],
                    "Resource": "*",
                }
            ],
        }
        iam.put_user_policy(
            UserName="reader", PolicyName="read", PolicyDocument=json.dumps(read_only)
        )
        yield S3Server(
            endpoint=endpoint,
            admin_key=admin_key,
            reader_key=(reader["AccessKeyId"], reader["SecretAccessKey"]),
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------------------
# Helpers


@pytest.fixture
def files_dir(settings, tmp_path) -> Path:
    settings.FILES_DIR = tmp_path / "files"
    return settings.FILES_DIR


def local_config(files_dir: Path, fmt: str = "Parquet", folder: str = "exports"):
    config = {
        "storage": {"storage_type": "Local", "destination_path": folder},
        "format": {"format_type": fmt},
    }
    return files_destination.prepare_config(config, workspace_id=WS)


def make_writer(config, *streams: StreamConfig, connection_id="conn-1", logs=None):
    return FilesWriter(
        config,
        schema="public",
        streams=list(streams),
        connection_id=connection_id,
        log=(lambda level, text: logs.append(f"{level} {text}"))
        if logs is not None
        else None,
    )


def users(mode: str = "append", generation: int = 1) -> StreamConfig:
    return StreamConfig(
        name="Users",
        namespace=None,
        json_schema=USERS,
        destination_sync_mode=mode,
        generation_id=generation,
    )


def user(i: int, **overrides) -> dict:
    record = {
        "id": i,
        "name": f"user {i}",
        "signed_up": "2026-01-02T03:04:05+02:00",
        "opens_at": "09:30:00+01:00",
        "score": i + 0.5,
        "tags": ["a", i],
    }
    return {**record, **overrides}


def stream_state(cursor: int) -> dict:
    return {
        "type": "STREAM",
        "stream": {
            "stream_descriptor": {"name": "Users"},
            "stream_state": {"cursor": cursor},
        },
    }


def sync(writer: FilesWriter, records: list[dict], *, cursor: int = 1):
    writer.open()
    for record in records:
        writer.write("Users", None, record, 1_767_225_600_000)
    committed = writer.commit(stream_state(cursor))
    finished = writer.finish(success=True)
    return committed, finished


def data_files(root: Path, stream: str = "public/users") -> list[Path]:
    folder = root / stream
    return sorted(folder.iterdir()) if folder.is_dir() else []


def parquet_rows(paths) -> list[dict]:
    import pyarrow.parquet as pq

    rows = []
    for path in paths:
        rows += pq.read_table(path).to_pylist()
    return rows


# ---------------------------------------------------------------------------
# Formats, on local disk


def test_parquet_files_have_typed_columns_and_record_what_did_not_fit(files_dir):
    import pyarrow.parquet as pq

    logs: list[str] = []
    config = local_config(files_dir)
    writer = make_writer(config, users(), logs=logs)

    big = "12345678901234567890.123456789"
    committed, _ = sync(
        writer, [user(1), user(2, id="two", score="lots"), user(3, score=big)]
    )

    root = Path(config["storage"]["destination_path"])
    assert root == (files_dir / WS / "exports").resolve()
    [path] = data_files(root)
    assert path.suffix == ".parquet"
    schema = pq.read_schema(path)
    assert [f.name for f in schema][:5] == [
        "_airbyte_raw_id",
        "_airbyte_extracted_at",
        "_airbyte_meta",
        "_airbyte_generation_id",
        "_airbyte_extra",
    ]
    types = {f.name: str(f.type) for f in schema}
    assert types["id"] == "int64"
    assert types["score"] == "double"
    assert types["signed_up"] == "timestamp[us, tz=UTC]"
    assert types["opens_at"] == "string"  # Parquet has no time with a time zone
    assert types["tags"] == "string"
    first, second, third = sorted(parquet_rows([path]), key=lambda r: r["name"])
    assert first["id"] == 1 and first["score"] == 1.5
    assert first["signed_up"].isoformat() == "2026-01-02T01:04:05+00:00"
    assert first["opens_at"] == "09:30:00+01:00"
    assert json.loads(first["tags"]) == ["a", 1]
    assert json.loads(first["_airbyte_meta"]) == {"changes": []}
    assert first["_airbyte_generation_id"] == 1
    assert second["id"] is None and second["score"] is None
    changes = json.loads(second["_airbyte_meta"])["changes"]
    assert {(c["field"], c["change"], c["value"]) for c in changes} == {
        ("id", "NULLED", "two"),
        ("score", "NULLED", "lots"),
    }
    assert third["score"] == float(big)
    [rounded] = json.loads(third["_airbyte_meta"])["changes"]
    assert rounded == {
        "field": "score",
        "change": "TRUNCATED",
        "reason": "DESTINATION_FIELD_SIZE_LIMITATION",
        "value": big,
    }
    assert committed.records == 3
    assert any("'opens_at' is a time of day with a time zone" in line for line in logs)


def test_json_lines_carry_each_record_whole(files_dir):
    config = local_config(files_dir, "JSONL")
    sync(make_writer(config, users()), [user(1), user(2, id="two")])

    [path] = data_files(Path(config["storage"]["destination_path"]))
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert path.suffix == ".jsonl"
    assert [line["_airbyte_data"]["id"] for line in lines] == [1, "two"]
    assert lines[0]["_airbyte_data"]["tags"] == ["a", 1]
    assert lines[0]["_airbyte_extracted_at"] == 1_767_225_600_000
    assert set(lines[0]) == {
        "_airbyte_raw_id",
        "_airbyte_extracted_at",
        "_airbyte_meta",
        "_airbyte_generation_id",
        "_airbyte_data",
    }


@pytest.mark.parametrize("fmt", ["JSONL", "CSV"])
def test_text_files_can_be_gzipped(files_dir, fmt):
    import gzip

    config = local_config(files_dir, fmt)
    config["format"]["compression_codec"] = "GZIP"
    sync(make_writer(config, users()), [user(1), user(2)])

    [path] = data_files(Path(config["storage"]["destination_path"]))
    assert path.name.endswith(f".{fmt.lower()}.gz")
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert len(lines) == (2 if fmt == "JSONL" else 3)  # CSV has a header row


def test_csv_files_have_a_header_and_text_cells(files_dir):
    config = local_config(files_dir, "CSV")
    exact = "12345678901234567890.123456789"
    sync(
        make_writer(config, users()),
        [user(1, name='say "hi", then\nleave', score=exact)],
    )

    [path] = data_files(Path(config["storage"]["destination_path"]))
    with open(path, newline="", encoding="utf-8") as handle:
        [row] = list(csv.DictReader(handle))
    assert row["id"] == "1"
    assert row["name"] == 'say "hi", then\nleave'
    assert row["signed_up"] == "2026-01-02T03:04:05+02:00"
    assert row["score"] == exact  # CSV is text: every digit is kept
    assert json.loads(row["tags"]) == ["a", 1]
    assert row["_airbyte_extra"] == ""


# ---------------------------------------------------------------------------
# Modes, state and failures


def test_append_keeps_older_files_and_the_state(files_dir):
    config = local_config(files_dir)
    root = Path(config["storage"]["destination_path"])

    sync(make_writer(config, users()), [user(1), user(2)], cursor=2)
    sync(make_writer(config, users()), [user(3)], cursor=3)

    assert len(data_files(root)) == 2
    assert sorted(r["id"] for r in parquet_rows(data_files(root))) == [1, 2, 3]
    assert make_writer(config, users()).read_state() == [stream_state(3)]


def test_overwrite_replaces_the_folder_only_when_the_sync_succeeds(files_dir):
    config = local_config(files_dir)
    root = Path(config["storage"]["destination_path"])
    sync(make_writer(config, users("overwrite")), [user(1), user(2)])
    before = data_files(root)

    failing = make_writer(config, users("overwrite", generation=2))
    failing.open()
    for i in range(10, 15):
        failing.write("Users", None, user(i), 0)
    failing.commit(stream_state(15))  # committed into staging, not yet visible
    assert data_files(root) == before
    failing.finish(success=False)

    assert data_files(root) == before
    assert sorted(r["id"] for r in parquet_rows(before)) == [1, 2]
    assert not (root / "_airbyte_staging").exists()
    _, finished = sync(make_writer(config, users("overwrite", 3)), [user(7)])
    assert sorted(r["id"] for r in parquet_rows(data_files(root))) == [7]
    assert finished.records == 1
    assert not any(p.exists() for p in before)


def test_a_swap_cut_short_is_finished_by_the_next_attempt(files_dir, monkeypatch):
    config = local_config(files_dir)
    root = Path(config["storage"]["destination_path"])
    sync(make_writer(config, users("overwrite")), [user(1)])
    writer = make_writer(config, users("overwrite", generation=2))
    writer.open()
    writer.write("Users", None, user(2), 0)

    def die(self):
        raise KeyboardInterrupt("the worker died")

    monkeypatch.setattr(FilesWriter, "_finish_swaps", die)
    with pytest.raises(KeyboardInterrupt):
        writer.finish(success=True)
    monkeypatch.undo()
    # The worker died after writing the swap down: the old file is still there.
    assert [r["id"] for r in parquet_rows(data_files(root))] == [1]

    make_writer(config, users("overwrite", generation=3)).open()

    assert [r["id"] for r in parquet_rows(data_files(root))] == [2]


def test_a_swap_that_fails_midway_is_finished_not_undone(files_dir, monkeypatch):
    from apps.engines.embedded.writers.files_storage import LocalStorage

    config = local_config(files_dir)
    root = Path(config["storage"]["destination_path"])
    sync(make_writer(config, users("overwrite")), [user(1)])
    writer = make_writer(config, users("overwrite", generation=2))
    writer.open()
    writer.write("Users", None, user(2), 0)
    writer.commit(stream_state(2))
    writer.write("Users", None, user(3), 0)  # a second staged file
    moves = []
    real_move = LocalStorage.move

    def flaky_move(self, source, target):
        if moves:
            raise OSError(5, "Input/output error")
        moves.append(source)
        real_move(self, source, target)

    monkeypatch.setattr(LocalStorage, "move", flaky_move)
    with pytest.raises(DestinationError, match="Input/output error"):
        writer.finish(success=True)
    monkeypatch.undo()
    assert sorted(r["id"] for r in parquet_rows(data_files(root))) == [1, 2]

    make_writer(config, users("overwrite", generation=3)).open()

    assert sorted(r["id"] for r in parquet_rows(data_files(root))) == [2, 3]
    assert not (root / "_airbyte_staging").exists()


def test_staged_files_a_dead_worker_left_are_not_synced_twice(files_dir):
    config = local_config(files_dir)
    root = Path(config["storage"]["destination_path"])
    sync(make_writer(config, users("overwrite")), [user(1)])
    dead = make_writer(config, users("overwrite", generation=2))
    dead.open()
    dead.write("Users", None, user(2), 0)
    dead.commit(stream_state(2))  # staged; then the worker dies: no finish, no abort
    assert len(list((root / "_airbyte_staging").rglob("*.parquet"))) == 1

    # The retry's source starts over (a full refresh) and sends 2 again.
    sync(make_writer(config, users("overwrite", generation=2)), [user(2), user(3)])

    assert sorted(r["id"] for r in parquet_rows(data_files(root))) == [2, 3]
    assert not (root / "_airbyte_staging").exists()


def test_a_failed_append_keeps_what_was_committed(files_dir):
    config = local_config(files_dir, "JSONL")
    root = Path(config["storage"]["destination_path"])
    writer = make_writer(config, users())
    writer.open()
    writer.write("Users", None, user(1), 0)
    writer.commit(stream_state(1))
    writer.write("Users", None, user(2), 0)  # never committed
    writer.finish(success=False)

    lines = [
        orjson.loads(line)
        for path in data_files(root)
        for line in path.read_bytes().splitlines()
    ]
    assert [line["_airbyte_data"]["id"] for line in lines] == [1]
    assert make_writer(config, users()).read_state() == [stream_state(1)]
    assert not (root / "_airbyte_tmp").exists()


def test_dedup_is_refused_with_the_reason(files_dir):
    writer = make_writer(local_config(files_dir), users("append_dedup"))

    with pytest.raises(DestinationError) as refused:
        writer.open()

    assert refused.value.failure_type == "config_error"
    assert "Append + Deduped" in refused.value.message
    assert "files are only ever added" in refused.value.message
    assert files_destination.DESCRIPTOR.spec.supported_destination_sync_modes == (
        "overwrite",
        "append",
    )


def test_reset_deletes_the_streams_files_and_state(files_dir):
    config = local_config(files_dir)
    root = Path(config["storage"]["destination_path"])
    sync(make_writer(config, users()), [user(1)])

    make_writer(config, users()).truncate(["Users"])

    assert data_files(root) == []
    assert make_writer(config, users()).read_state() == []


def test_local_folders_stay_in_the_workspace_folder(files_dir):
    check = files_destination.check
    base = {"format": {"format_type": "CSV"}}

    def local(path):
        return {**base, "storage": {"storage_type": "Local", "destination_path": path}}

    good = check(local("team/exports"), workspace_id=WS)
    climb = check(local("../../outside"), workspace_id=WS)
    absolute = check(local("/etc"), workspace_id=WS)
    other = check(local(str(files_dir / str(uuid.uuid4()) / "x")), workspace_id=WS)

    assert good.ok, good.message
    assert (files_dir / WS / "team" / "exports").is_dir()
    assert list((files_dir / WS / "team" / "exports").iterdir()) == []
    assert not climb.ok and "outside this workspace's files folder" in climb.message
    assert (
        not absolute.ok and "outside this workspace's files folder" in absolute.message
    )
    assert not other.ok and "another workspace's files folder" in other.message


def test_a_local_check_names_a_folder_it_cannot_write(files_dir):
    (files_dir / WS).mkdir(parents=True)
    (files_dir / WS / "exports").write_text("a file, not a folder")

    result = files_destination.check(
        {
            "storage": {"storage_type": "Local", "destination_path": "exports"},
            "format": {"format_type": "Parquet"},
        },
        workspace_id=WS,
    )

    assert not result.ok
    assert "Cannot write in the folder" in result.message
    assert "exports" in result.message


# ---------------------------------------------------------------------------
# S3 (moto)


def test_check_says_which_field_of_the_chosen_option_is_wrong(files_dir):
    s3 = {
        "storage_type": "S3",
        "access_key_id": "AKIAEXAMPLE",
        "secret_access_key": SECRET,
    }
    no_bucket = files_destination.check(
        {"storage": s3, "format": {"format_type": "CSV"}}, workspace_id=WS
    )
    bad_format = files_destination.check(
        {
            "storage": {**s3, "s3_bucket_name": "exports"},
            "format": {"format_type": "XML"},
        },
        workspace_id=WS,
    )

    assert not no_bucket.ok
    assert no_bucket.message == "storage: 's3_bucket_name' is a required property"
    assert not bad_format.ok
    assert bad_format.message == (
        "format.format_type: choose one of Parquet, JSONL, CSV, not 'XML'."
    )
    assert SECRET not in no_bucket.message + bad_format.message


def test_s3_check_writes_and_deletes_a_probe(s3_server):
    bucket = s3_server.bucket()
    config = {
        "storage": s3_server.storage(bucket, "data/sync"),
        "format": {"format_type": "Parquet"},
    }

    result = files_destination.check(config, workspace_id=WS)

    assert result.ok, result.message
    assert result.message == f"s3://{bucket}/data/sync is writable."
    assert s3_server.keys(bucket) == []


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("read_only_key", "refused the request (AccessDenied)"),
        ("wrong_secret", "refused the secret access key (SignatureDoesNotMatch)"),
        ("unknown_key", "does not know this access key ID (InvalidAccessKeyId)"),
        ("missing_bucket", "does not exist"),
    ],
)
def test_s3_check_says_why_a_bucket_refuses_writes(s3_server, case, expected):
    bucket = s3_server.bucket()
    key = {
        "read_only_key": s3_server.reader_key,
        "wrong_secret": (s3_server.admin_key[0], SECRET),
        "unknown_key": ("AKIANOSUCHKEY0000000", SECRET),
        "missing_bucket": s3_server.admin_key,
    }[case]
    name = "no-such-bucket-here" if case == "missing_bucket" else bucket
    config = {
        "storage": s3_server.storage(name, key=key),
        "format": {"format_type": "CSV"},
    }

    result = files_destination.check(config, workspace_id=WS)

    assert not result.ok
    assert f"S3 bucket {name!r}" in result.message
    assert expected in result.message
    assert SECRET not in result.message
    assert s3_server.admin_key[1] not in result.message


def test_s3_unreachable_endpoint_is_a_clear_failure(files_dir):
    storage = {
        "storage_type": "S3",
        "s3_bucket_name": "exports",
        "s3_endpoint": f"http://127.0.0.1:{_free_port()}",
        "access_key_id": "AKIAEXAMPLE",
        "secret_access_key": SECRET,
    }

    result = files_destination.check(
        {"storage": storage, "format": {"format_type": "CSV"}}, workspace_id=WS
    )

    assert not result.ok
    assert "Cannot reach the S3 endpoint for bucket 'exports'" in result.message
    assert SECRET not in result.message


def test_s3_overwrite_and_append_and_a_refused_write(s3_server):
    bucket = s3_server.bucket()
    config = {
        "storage": s3_server.storage(bucket, "lake"),
        "format": {"format_type": "CSV"},
    }
    sync(make_writer(config, users("overwrite")), [user(1), user(2)])
    first = s3_server.keys(bucket, "lake/public/users/")
    sync(make_writer(config, users("overwrite", 2)), [user(3)])
    second = s3_server.keys(bucket, "lake/public/users/")
    read_only = {
        **config,
        "storage": s3_server.storage(bucket, "lake", key=s3_server.reader_key),
    }
    refused = make_writer(read_only, users("overwrite", 3))

    with pytest.raises(DestinationError) as error:
        sync(refused, [user(4)])

    assert len(first) == 1 and len(second) == 1 and first != second
    body = s3_server.read(bucket, second[0]).decode()
    assert [row["id"] for row in csv.DictReader(body.splitlines())] == ["3"]
    assert "AccessDenied" in error.value.message
    assert error.value.failure_type == "config_error"
    assert s3_server.keys(bucket, "lake/public/users/") == second
    assert s3_server.keys(bucket, "lake/_airbyte_staging/") == []
    state = orjson.loads(s3_server.read(bucket, "lake/_airbyte_state/conn-1.json"))
    assert state["swap"] == {}


# ---------------------------------------------------------------------------
# The catalog and the form


@pytest.mark.django_db
def test_files_is_in_the_catalog_and_its_form_renders(admin, workspace, login):
    merge_registry(
        parse_registry(load_registry_file(SHIPPED_REGISTRY)),
        model=ConnectorDefinition,
    )

    row = ConnectorDefinition.objects.get(definition_id=FILES_ID)
    client = login(admin)
    create = reverse("connectors:destination_create", args=[workspace.public_id])
    form = client.get(create, {"definition": row.public_id})

    assert (row.kind, row.builtin) == ("destination", "files")
    assert row.engines == ["embedded"]
    assert registry.destination("files") is files_destination.DESCRIPTOR
    assert writer_for("files") is FilesWriter
    assert "Files (Parquet, JSON lines, CSV)" in client.get(create).text
    assert form.status_code == 200
    for text in ("Local folder", "S3 bucket name", "Secret access key", "JSON lines"):
        assert text in form.text
    assert 'name="cfg__storage__storage_type"' in form.text  # the Local | S3 choice
    assert 'name="cfg__storage__1__s3_bucket_name"' in form.text
    assert 'name="cfg__format__format_type"' in form.text


def test_files_offers_no_dbt_target():
    with pytest.raises(ValueError, match="a files destination has none"):
        files_destination.DESCRIPTOR.dbt_profile({}, workspace_id=WS)
