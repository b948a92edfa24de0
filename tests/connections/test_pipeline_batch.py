"""`airbyte pipeline batch`: many connections, at most N at once, a summary, and
a non-zero exit when any failed; a bad file stops before anything starts."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.connections import services
from apps.connections.models import SyncJob
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db


def _batch(workspace, user, path, *extra):
    call_command(
        "airbyte",
        "pipeline",
        "batch",
        "--file",
        str(path),
        "--workspace",
        str(workspace.public_id),
        "--as",
        user.email,
        *extra,
    )


@pytest.mark.django_db(transaction=True)
def test_two_at_a_time_with_one_failure_exits_non_zero_and_shows_all(
    capsys,
    tmp_path,
    runner,
    workspace,
    worker,
    faker_source,
    duckdb_destination,
    make_connection,
):
    def connection(name, count):
        made = make_connection(
            faker_source(count=count), duckdb_destination, [{"name": "users"}]
        )
        made.name = name
        made.save()
        return made

    first = connection("Alpha", 300)
    broken = connection("Broken", 10)
    source = broken.source
    source.config["count"] = 0  # faker's spec: minimum 1 (a config error)
    source.save()
    third = connection("Gamma", 300)
    batch_file = tmp_path / "nightly.txt"
    batch_file.write_text(
        f"# nightly\n{first.public_id}\n\nbroken\n{third.name}\n", encoding="utf-8"
    )
    worker("batch")

    with pytest.raises(SystemExit) as exited:
        _batch(workspace, runner, batch_file, "--parallel", "2", "--wait")

    assert exited.value.code == 1
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:4]}
    assert out.splitlines()[0].split() == [
        "CONNECTION",
        "JOB",
        "STATUS",
        "RECORDS",
        "DURATION_S",
    ]
    assert rows["Alpha"][2:4] == ["succeeded", "300"]
    assert rows["Broken"][2:4] == ["failed", "0"]
    assert rows["Gamma"][2:4] == ["succeeded", "300"]
    assert "3 connections: 2 succeeded, 1 failed." in out
    jobs = {j.connection.name: j for j in SyncJob.objects.select_related("connection")}
    assert rows["Gamma"][1] == str(jobs["Gamma"].public_id)
    # Gamma was only asked for once one of the first two had ended.
    assert jobs["Gamma"].created_at >= min(
        jobs["Alpha"].finished_at, jobs["Broken"].finished_at
    )


@pytest.fixture
def pair(workspace):
    return [
        ConnectionFactory(workspace=workspace, name="Alpha"),
        ConnectionFactory(workspace=workspace, name="Beta"),
    ]


def test_unknown_names_stop_the_batch_before_anything_starts(
    tmp_path, runner, workspace, pair
):
    path = tmp_path / "b.json"
    path.write_text(json.dumps(["Alpha", "nope", "Beta", "missing"]))

    with pytest.raises(CommandError) as error:
        _batch(workspace, runner, path)

    assert "Nothing was started" in str(error.value)
    assert "no connection 'nope'" in str(error.value)
    assert "no connection 'missing'" in str(error.value)
    assert not SyncJob.objects.exists()


def test_a_paused_or_repeated_connection_is_refused(tmp_path, runner, workspace, pair):
    pair[1].status = "paused"
    pair[1].save()
    path = tmp_path / "b.txt"
    path.write_text("Alpha\nalpha\nBeta\n")

    with pytest.raises(CommandError) as error:
        _batch(workspace, runner, path)

    assert "Alpha is listed twice" in str(error.value)
    assert "Beta is paused" in str(error.value)
    assert not SyncJob.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "lists no connection"),
        ("# only a comment\n\n", "lists no connection"),
        ("[1, 2]", "must hold connection ids or names"),
        ('["Alpha",', "is not valid JSON"),
    ],
)
def test_a_bad_file_is_a_clear_error(tmp_path, runner, workspace, content, message):
    path = tmp_path / "b.txt"
    path.write_text(content)

    with pytest.raises(CommandError, match=message):
        _batch(workspace, runner, path)


def test_a_missing_file_is_a_clear_error(tmp_path, runner, workspace):
    with pytest.raises(CommandError, match="No such file"):
        _batch(workspace, runner, tmp_path / "nope.txt")


def test_a_viewer_cannot_start_a_batch(tmp_path, viewer, workspace, pair):
    path = tmp_path / "b.txt"
    path.write_text("Alpha\n")

    with pytest.raises(CommandError, match="needs the runner role"):
        _batch(workspace, viewer, path)
    assert not SyncJob.objects.exists()


def test_parallel_must_be_positive(tmp_path, runner, workspace, pair):
    path = tmp_path / "b.txt"
    path.write_text("Alpha\n")

    with pytest.raises(CommandError, match="--parallel must be at least 1"):
        _batch(workspace, runner, path, "--parallel", "0")


def test_a_negative_timeout_is_refused_before_anything_starts(
    tmp_path, runner, workspace, pair
):
    path = tmp_path / "b.txt"
    path.write_text("Alpha\n")

    with pytest.raises(CommandError, match="--timeout must be 0"):
        _batch(workspace, runner, path, "--wait", "--timeout", "-5")
    assert not SyncJob.objects.exists()


def test_a_file_too_big_to_be_a_batch_is_refused(tmp_path, runner, workspace, pair):
    path = tmp_path / "b.txt"
    path.write_text("Alpha\n" * 200_000)

    with pytest.raises(CommandError, match="is larger than 1,024 KB"):
        _batch(workspace, runner, path)
    assert not SyncJob.objects.exists()


def test_a_connection_that_cannot_start_in_its_turn_is_reported_and_the_rest_go_on(
    tmp_path, runner, workspace, pair, monkeypatch, capsys
):
    # Beta passed the check, then was paused before its turn came.
    def sync_request(*, connection, trigger, actor):
        if connection.name == "Beta":
            raise services.ConnectionNotActive("The connection is paused.")
        return SyncJob.objects.create(
            connection=connection, trigger=trigger, status=SyncJob.Status.SUCCEEDED
        )

    monkeypatch.setattr(services, "sync_request", sync_request)
    path = tmp_path / "b.txt"
    path.write_text("Beta\nAlpha\n")

    with pytest.raises(SystemExit) as exit_:
        _batch(workspace, runner, path, "--wait")

    out = capsys.readouterr().out
    assert exit_.value.code == 1
    assert "Beta: The connection is paused." in out
    assert "2 connections: 1 succeeded, 1 failed." in out
    assert SyncJob.objects.filter(connection=pair[0]).count() == 1
