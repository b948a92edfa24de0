"""`airbyte manage install|start|stop|restart|status`."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from apps.airbyte.models import AirbyteServer
from apps.audit.models import AuditEvent
from apps.connectors.models import ConnectorInstall
from apps.ops import processes
from apps.workspaces.models import Workspace
from tests.cli_runner import airbyte
from tests.engines.fixtures import CONNECTORS_DIR, FAKER_ID, definition
from tests.factories import UserFactory


@pytest.fixture
def superuser(db):
    return UserFactory(email="root@acme.test", is_superuser=True, is_staff=True)


@pytest.fixture
def run_dir(settings, tmp_path):
    settings.CONSOLE_RUN_DIR = tmp_path / "run"
    return settings.CONSOLE_RUN_DIR


# --- install -----------------------------------------------------------------------


def test_install_migrates_and_installs_faker_once(
    superuser, real_connectors, faker_installed, capsys
):
    faker = definition(FAKER_ID)
    code, out, err = airbyte(capsys, "manage", "install")
    assert code == 0, out + err
    assert "Applying database migrations" in err
    assert "No migrations to apply" in err
    assert "Connector airbyte-source-faker 7.2.1: installed." in out
    install = ConnectorInstall.objects.get(definition=faker)
    assert install.status == ConnectorInstall.Status.SUCCEEDED
    # Safe to run twice: the second run finds faker and changes nothing.
    code, out, _ = airbyte(capsys, "manage", "install", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["connectors"] == [
        {"package": "airbyte-source-faker", "version": "7.2.1", "status": "present"}
    ]
    assert ConnectorInstall.objects.filter(definition=faker).count() == 1
    assert AuditEvent.objects.filter(action="connector.install").count() == 1


def test_install_without_connectors_only_migrates(superuser, capsys):
    code, out, _ = airbyte(capsys, "manage", "install", "--no-connectors")
    assert code == 0
    assert "Connectors: skipped (--no-connectors)." in out
    assert not ConnectorInstall.objects.exists()


def test_install_on_a_fresh_database_says_how_to_get_an_admin(db, capsys):
    code, out, _ = airbyte(capsys, "manage", "install", "--no-connectors")
    assert code == 0
    assert "console_bootstrap" in out


def test_install_for_airbyte_explains_abctl_and_checks_the_server(
    workspace, superuser, airbyte_fake, capsys
):
    workspace.engine = Workspace.Engine.AIRBYTE
    workspace.save(update_fields=["engine"])
    AirbyteServer.objects.create(
        workspace=workspace,
        url=airbyte_fake.url,
        client_id="console-client",
        client_secret="console-secret",
    )
    code, out, _ = airbyte(capsys, "manage", "install")
    assert code == 0, out
    assert "the console does not install Airbyte" in out
    assert "curl -LsfS https://get.airbyte.com | bash -" in out
    assert "abctl local install --port 8001" in out
    assert "abctl local credentials" in out
    assert f"ok    {airbyte_fake.url} (workspaces: Acme Data)" in out
    # Only the airbyte engine is in use: no connector was installed here.
    assert not ConnectorInstall.objects.exists()


def test_install_for_airbyte_fails_when_the_server_does_not_answer(superuser, capsys):
    code, out, _ = airbyte(
        capsys,
        "manage",
        "install",
        "--engine",
        "airbyte",
        "--url",
        "http://127.0.0.1:9",
    )
    assert code == 1
    assert "FAIL  http://127.0.0.1:9" in out
    assert "connection refused" in out


def test_install_for_airbyte_with_a_url_checks_it_answers(
    superuser, airbyte_fake, capsys
):
    code, out, _ = airbyte(
        capsys, "manage", "install", "--engine", "airbyte", "--url", airbyte_fake.url
    )
    assert code == 0, out
    assert f"ok    {airbyte_fake.url}" in out
    assert "It answers; to sign in, save its client id and secret" in out


def test_install_for_airbyte_with_nothing_to_check_fails(superuser, capsys):
    code, out, _ = airbyte(capsys, "manage", "install", "--engine", "airbyte")
    assert code == 1
    assert "No Airbyte server is set up in any workspace yet" in out


# --- start / stop ------------------------------------------------------------------


def _ping(node: str) -> bool:
    from airbyte_console.celery import app

    replies = app.control.ping(destination=[node], timeout=1.0) or []
    return any(node in reply for reply in replies)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def test_start_stop_restart_real_worker_and_beat(
    require_postgres, run_dir, monkeypatch, capsys
):
    db = connection.settings_dict
    user, host = db["USER"] or "postgres", db["HOST"] or "127.0.0.1"
    # The processes inherit the environment, as they would from an operator's shell.
    monkeypatch.setenv(
        "DATABASE_URL", f"postgres://{user}@{host}:{db['PORT'] or 5432}/{db['NAME']}"
    )
    monkeypatch.setenv("CONSOLE_DATA_DIR", str(django_settings.DATA_DIR))
    monkeypatch.setenv("CONNECTORS_DIR", str(CONNECTORS_DIR))
    monkeypatch.setenv("CELERY_BROKER_URL", django_settings.CELERY_BROKER_URL)
    node = processes.worker_node_name()
    try:
        code, out, _ = airbyte(capsys, "manage", "start", "--concurrency", "1")
        assert code == 0, out
        assert "worker  started (pid" in out and "beat    started (pid" in out
        worker = processes.read_record("worker")
        beat = processes.read_record("beat")
        assert worker.log == str(run_dir / "worker.log")
        deadline = time.monotonic() + 60
        while not _ping(node) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _ping(node), (run_dir / "worker.log").read_text()[-2000:]

        code, out, _ = airbyte(capsys, "manage", "start")
        assert f"worker  already running (pid {worker.pid})" in out

        code, out, _ = airbyte(capsys, "manage", "status", "--json")
        assert [p["running"] for p in json.loads(out)["processes"]] == [True, True]

        code, out, _ = airbyte(capsys, "manage", "restart", "--only", "beat")
        assert code == 0, out
        assert f"beat    stopped (pid {beat.pid})" in out
        new_beat = processes.read_record("beat")
        assert new_beat.pid != beat.pid and _alive(new_beat.pid)
        assert not _alive(beat.pid)
        assert _alive(worker.pid)
    finally:
        code, out, _ = airbyte(capsys, "manage", "stop")
    assert code == 0, out
    assert f"worker  stopped (pid {worker.pid})" in out
    assert not _alive(worker.pid) and not _alive(new_beat.pid)
    assert not (run_dir / "worker.pid").exists()
    assert not (run_dir / "beat.pid").exists()
    assert not _ping(node)
    code, out, _ = airbyte(capsys, "manage", "stop")
    assert "worker  not running" in out


def test_stop_never_signals_a_process_it_did_not_start(run_dir, db, capsys):
    run_dir.mkdir()
    # A pidfile left by a crash whose pid now belongs to another process: this one.
    (run_dir / "worker.pid").write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "start_ticks": 1,
                "started_at": "2020-01-01T00:00:00+00:00",
                "command": [],
                "log": "",
            }
        )
    )
    (run_dir / "beat.pid").write_text("not json")
    code, out, _ = airbyte(capsys, "manage", "stop")
    assert code == 0
    assert (
        f"worker  not running (pid {os.getpid()} now belongs to another process; "
        "removed the stale pidfile)" in out
    )
    assert "beat    not running" in out
    assert not (run_dir / "worker.pid").exists()
    assert not (run_dir / "beat.pid").exists()


def test_a_process_that_dies_at_once_is_reported_with_its_log(
    run_dir, db, monkeypatch, capsys
):
    # A broken Python home makes the interpreter exit before it runs anything.
    monkeypatch.setenv("PYTHONHOME", "/nonexistent")
    code, out, _ = airbyte(capsys, "manage", "start", "--only", "worker")
    assert code == 1
    assert "worker  exited at once with code 1" in out
    assert str(run_dir / "worker.log") in out
    assert "No module named 'encodings'" in out
    assert not (run_dir / "worker.pid").exists()
