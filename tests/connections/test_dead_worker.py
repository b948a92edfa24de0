"""After a worker dies: its attempt is failed at once, its connector stopped, its
private files (plaintext configs) swept (#13 item 8)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid

import pytest

from apps.connections import lifecycle
from apps.connections.models import SyncAttempt, SyncJob
from apps.engines.embedded import scratch
from apps.engines.embedded.runner import private_files
from tests.factories import ConnectionFactory

HOST = socket.gethostname()


def dead_pid() -> int:
    """The pid of a process that has exited and been waited for."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.fixture
def running(db):
    def make(worker: str, pgid: int | None = None) -> SyncAttempt:
        job = SyncJob.objects.create(
            public_id=uuid.uuid4(), connection=ConnectionFactory(), trigger="manual"
        )
        attempt = lifecycle.attempt_claim(job_id=job.pk)
        SyncAttempt.objects.filter(pk=attempt.pk).update(
            worker=worker, connector_pgid=pgid
        )
        return attempt

    return make


def test_an_attempt_whose_worker_process_is_gone_is_failed_at_once(running):
    gone = running(f"{HOST}:{dead_pid()}")
    alive = running(f"{HOST}:{os.getpid()}")
    elsewhere = running(f"another-host:{dead_pid()}")

    reaped = lifecycle.reap_stale_attempts()

    assert reaped == 1
    gone.refresh_from_db()
    assert gone.status == SyncAttempt.Status.FAILED
    assert "its process on this host is gone" in gone.failure_message
    # Retried, resuming from the last committed state.
    assert SyncJob.objects.get(pk=gone.job_id).status == SyncJob.Status.INCOMPLETE
    for attempt in (alive, elsewhere):
        attempt.refresh_from_db()
        assert attempt.status == SyncAttempt.Status.RUNNING


def test_the_reaper_kills_the_connector_a_dead_worker_left(running):
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )
    try:
        running(f"{HOST}:{dead_pid()}", pgid=orphan.pid)

        lifecycle.reap_stale_attempts()

        assert orphan.wait(timeout=10) == -9
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


def test_a_process_that_leads_no_group_is_never_killed(running):
    # A pid reused by something that is not a process group leader is left alone.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        running(f"{HOST}:{dead_pid()}", pgid=bystander.pid)
        lifecycle.reap_stale_attempts()
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_private_files_live_in_this_worker_s_folder():
    with private_files(config={"password": "s3cret"}) as (directory, files):
        assert directory.parent == scratch.worker_dir()
        assert oct(files["config"].stat().st_mode & 0o777) == "0o600"
    assert not directory.exists()


def test_the_sweep_removes_what_dead_workers_left_and_nothing_else():
    dead = scratch.root() / f"{HOST}-{dead_pid()}"
    (dead / "run-x").mkdir(parents=True)
    (dead / "run-x" / "config.json").write_text('{"password": "s3cret"}')
    mine = scratch.worker_dir()
    other_host = scratch.root() / "some-other-host-1"
    other_host.mkdir(exist_ok=True)
    try:
        assert scratch.sweep() >= 1
        assert not dead.exists()
        assert mine.exists()
        assert other_host.exists()  # not this host's to judge
    finally:
        other_host.rmdir()
