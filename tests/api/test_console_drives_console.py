"""One console drives another as its Airbyte server (#15, "real clients").

The test serves a SECOND console: its own data folder, SQLite database and
filesystem broker, started with the project's ``serve`` command (gunicorn, a
Celery worker running the embedded engine, and beat) on a free 127.0.0.1 port.
Its admin, demo workspace and API application are made with its own
``manage.py`` commands. Then ``airbyte test integration --engine airbyte --url``
runs in THIS console (the test's), following the jobs in-process (``--inline``)
or, in the last test, on this console's own worker: test the server, choose its
workspace, import it, make a faker source and a DuckDB destination there,
connect them, sync, cancel a second sync, clean up. What the second console
wrote is read back from its own DuckDB file. The same run against the fake
Airbyte server checks every call against Airbyte's spec.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.core.management import call_command

from tests.engines.fixtures import (
    CONNECTORS_DIR,
    DUCKDB_ID,
    FAKER_ID,
    definition,
    faker_installed,  # noqa: F401 - a fixture
)

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "remote-admin@example.com"
STARTUP_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RemoteConsole:
    """The second console: ``manage.py`` commands and ``serve`` in its own folder."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "CELERY_", "PYTEST", "DATABASE_"))
        }
        self.env.update(
            CONSOLE_DATA_DIR=str(folder),
            DATABASE_URL=f"sqlite:///{folder / 'console.sqlite3'}",
            CELERY_BROKER_URL="filesystem://",
            CONNECTORS_DIR=str(CONNECTORS_DIR),
            CONSOLE_BASE_URL=self.url,
            CONSOLE_ADMIN_EMAIL=ADMIN,
            CONSOLE_ADMIN_PASSWORD="remote-admin-password-1",
            DJANGO_SETTINGS_MODULE="airbyte_console.settings",
            API_WAIT_SECONDS="240",
        )
        self.server: subprocess.Popen | None = None

    def manage(self, *args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"manage.py {args}: {done.stdout}{done.stderr}"
        return done.stdout

    def serve(self) -> None:
        log = open(self.folder / "serve.log", "wb")  # noqa: SIM115 - with the server
        self.server = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--web-workers",
                "2",
                "--concurrency",
                "2",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert self.server.poll() is None, self.log()
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the second console did not answer:\n{self.log()}")

    def log(self) -> str:
        path = self.folder / "serve.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.server is not None and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()


@pytest.fixture
def remote_console(tmp_path, faker_installed):  # noqa: F811
    console = RemoteConsole(tmp_path / "remote", _free_port())
    console.folder.mkdir()
    console.manage("migrate", "--noinput")
    console.manage("console_bootstrap")
    yield console
    console.stop()


def _duckdb_users(folder: Path) -> int:
    import duckdb

    files = sorted(folder.glob("duckdb/*/airbyte-selftest.duckdb"))
    assert files, f"no airbyte-selftest.duckdb under {folder / 'duckdb'}"
    with duckdb.connect(str(files[0]), read_only=True) as conn:
        return conn.execute('select count(*) from "selftest"."users"').fetchone()[0]


def run_against_the_fake(airbyte_fake, admin) -> None:
    """`airbyte test integration --engine airbyte --inline` against the fake server."""
    call_command(
        "airbyte", "test", "integration", "--engine", "airbyte",
        "--url", airbyte_fake.url,
        "--client-id", airbyte_fake.client_id,
        "--client-secret", airbyte_fake.client_secret,
        "--inline", "--as", admin.email,
    )  # fmt: skip


def test_a_console_runs_the_airbyte_engine_flow_against_another_console(
    remote_console, admin, capsys
):
    created = json.loads(
        remote_console.manage(
            "airbyte",
            "applications",
            "create",
            "driving console",
            "--as",
            ADMIN,
            "--json",
        )
    )
    remote_console.serve()
    # This console's catalog knows faker and DuckDB by the same definition ids.
    definition(FAKER_ID), definition(DUCKDB_ID)
    admin.is_superuser = True
    admin.save(update_fields=["is_superuser"])

    code = 0
    try:
        call_command(
            "airbyte",
            "test",
            "integration",
            "--engine",
            "airbyte",
            "--url",
            remote_console.url,
            "--client-id",
            created["client_id"],
            "--client-secret",
            created["client_secret"],
            "--inline",
            "--as",
            admin.email,
        )
    except SystemExit as exc:
        code = exc.code
    printed = capsys.readouterr()
    assert code in (0, None), printed.out + printed.err + remote_console.log()
    assert "Integration test against" in printed.out and "passed" in printed.out
    for step in (
        "Tested the server",
        "Chose the server's workspace Demo",
        "Imported the server's workspace",
        "Discovered faker's streams on the server",
        "The sync succeeded on the server",
        "A second sync was cancelled on the server",
    ):
        assert step in printed.err, printed.err
    assert _duckdb_users(remote_console.folder) == 500
    # What the run made on the second console is gone from it, and the run says so.
    assert (
        "Removed the connection, the source, the destination on the server and the "
        "scratch workspace selftest-" in printed.out
    ), printed.out
    assert _remote_leftovers(remote_console) == {
        "left": [0, 0, 0],
        "deleted": ["connection.deleted", "destination.deleted", "source.deleted"],
    }


def _remote_leftovers(console: RemoteConsole) -> dict:
    """The second console's own count of the run's source, destination and
    connection (by the run's ``selftest-`` name), and the deletions it recorded."""
    script = (
        "import json\n"
        "from apps.audit.models import AuditEvent\n"
        "from apps.connections.models import Connection\n"
        "from apps.connectors.models import Destination, Source\n"
        "left = [m.objects.filter(name__startswith='selftest-').count()\n"
        "        for m in (Source, Destination, Connection)]\n"
        "deleted = sorted(set(AuditEvent.objects.filter(action__in=[\n"
        "    'source.deleted', 'destination.deleted', 'connection.deleted'])\n"
        "    .values_list('action', flat=True)))\n"
        "print(json.dumps({'left': left, 'deleted': deleted}))\n"
    )
    return json.loads(console.manage("shell", "-c", script).strip().splitlines()[-1])


def test_a_clean_up_step_that_breaks_still_removes_the_scratch_workspace(
    airbyte_fake, admin, monkeypatch, capsys
):
    """An unexpected error deleting one object on the server is named in the
    clean-up line; the other objects and the scratch workspace still go, and the
    run ends on its report, not a traceback."""
    from apps.airbyte.client import AirbyteClient
    from apps.workspaces.models import Workspace

    admin.is_superuser = True
    admin.save(update_fields=["is_superuser"])
    definition(FAKER_ID), definition(DUCKDB_ID)
    airbyte_fake.script_next_job(steps=["running", "running", "succeeded"], rows=500)
    airbyte_fake.script_next_job(steps=["running"] * 3)
    delete = AirbyteClient.object_delete

    def breaks_on_the_source(self, kind: str, remote_id: str) -> None:
        if kind == "source":
            raise RuntimeError("the line dropped")
        delete(self, kind, remote_id)

    monkeypatch.setattr(AirbyteClient, "object_delete", breaks_on_the_source)
    with contextlib.suppress(SystemExit):
        run_against_the_fake(airbyte_fake, admin)
    printed = capsys.readouterr()
    assert "Clean-up incomplete: deleting the source " in printed.out, printed.out
    assert "failed (the line dropped)" in printed.out
    assert "Traceback" not in printed.out + printed.err
    assert not Workspace.objects.filter(name__startswith="selftest-").exists()
    left = {
        kind: [o.deleted for o in store.values() if o.name.startswith("selftest-")]
        for kind, store in (
            ("source", airbyte_fake.sources),
            ("destination", airbyte_fake.destinations),
        )
    }
    assert left == {"source": [False], "destination": [True]}


def test_a_refused_secret_fails_the_run_and_leaves_nothing(airbyte_fake, admin, capsys):
    from apps.workspaces.models import Workspace

    admin.is_superuser = True
    admin.save(update_fields=["is_superuser"])
    with pytest.raises(SystemExit) as exited:
        call_command(
            "airbyte",
            "test",
            "integration",
            "--engine",
            "airbyte",
            "--url",
            airbyte_fake.url,
            "--client-id",
            airbyte_fake.client_id,
            "--client-secret",
            "not-the-secret",
            "--inline",
            "--as",
            admin.email,
        )
    assert exited.value.code == 1
    printed = capsys.readouterr()
    assert "Testing the server failed: Signing in failed" in printed.out
    assert "not-the-secret" not in printed.out + printed.err
    assert not Workspace.objects.filter(name__startswith="selftest-").exists()


def test_the_flow_against_the_fake_airbyte_server_speaks_airbytes_api(
    airbyte_fake, admin, capsys
):
    """The same run against the fake Airbyte server, which checks every call the
    console makes against Airbyte's spec (and fails the test on a violation)."""
    admin.is_superuser = True
    admin.save(update_fields=["is_superuser"])
    definition(FAKER_ID), definition(DUCKDB_ID)
    # The sync reaches faker's 500 users; the second one runs until cancelled.
    airbyte_fake.script_next_job(steps=["running", "running", "succeeded"], rows=500)
    airbyte_fake.script_next_job(steps=["running"] * 3)
    run_against_the_fake(airbyte_fake, admin)
    printed = capsys.readouterr()
    assert "passed" in printed.out, printed.out + printed.err
    assert "A second sync was cancelled on the server" in printed.err
    # Everything made on the server was deleted there afterwards (Airbyte keeps
    # deleted rows: connections deprecated, sources and destinations tombstoned).
    made = [
        obj
        for store in (airbyte_fake.sources, airbyte_fake.destinations)
        for obj in store.values()
        if obj.name.startswith("selftest-")
    ]
    assert len(made) == 2 and all(obj.deleted for obj in made)
    assert {
        c.status
        for c in airbyte_fake.connections.values()
        if c.name.startswith("selftest-")
    } == {"deprecated"}


def test_without_inline_this_consoles_worker_starts_and_follows_the_jobs(
    remote_console, admin, worker, monkeypatch, capsys
):
    """The default mode: this console's own Celery worker starts the jobs on the
    second console and polls them (PostgreSQL, so the worker sees this test's
    database)."""
    monkeypatch.setenv("AIRBYTE_POLL_SECONDS", "0.5")
    created = json.loads(
        remote_console.manage(
            "airbyte", "applications", "create", "worker mode", "--as", ADMIN, "--json"
        )
    )
    remote_console.serve()
    definition(FAKER_ID), definition(DUCKDB_ID)
    admin.is_superuser = True
    admin.save(update_fields=["is_superuser"])
    worker()
    from apps.ops.health import run_probes

    deadline = time.monotonic() + 60
    while not run_probes(["workers"])[0].ok:
        assert time.monotonic() < deadline, "this console's worker did not start"
        time.sleep(0.5)
    call_command(
        "airbyte",
        "test",
        "integration",
        "--engine",
        "airbyte",
        "--url",
        remote_console.url,
        "--client-id",
        created["client_id"],
        "--client-secret",
        created["client_secret"],
        "--as",
        admin.email,
    )
    printed = capsys.readouterr()
    assert "passed" in printed.out, printed.out + printed.err
    assert "A second sync was cancelled on the server" in printed.err
