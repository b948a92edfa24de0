"""Connectors run in a bubblewrap sandbox: they cannot read what the console holds.

The hostile connector is the suite's tiny one in ``probe`` mode (see fakes.py),
installed from its wheel like any connector, and run through the engine's own
``check``: it tries the console's keys, a database file, the source tree,
``/etc/shadow``, another workspace's ``/local`` and another process's environment,
and logs a digest of what it could read. Each must be an error (or, for
``/proc/1``, not the host's), while its own ``/local`` works both ways.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import checks

from apps.engines import sandbox
from apps.engines.embedded import installer, protocol
from apps.engines.embedded.checks import SANDBOX_OFF_ID
from apps.engines.embedded.engine import EmbeddedEngine
from apps.engines.embedded.runner import (
    ConnectorProcess,
    connector_env,
    kill_group,
    private_files,
    read_argv,
)
from apps.engines.masking import SecretMasker
from tests.engines import fakes
from tests.engines.fixtures import FAKER_ID, definition
from tests.factories import WorkspaceFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap"),
]

CANARY = "Canary-sandbox-7f3a"


def digest(path: str | Path) -> str | None:
    """What the console itself reads at ``path`` (None when it cannot)."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


@pytest.fixture
def sandboxed(settings):
    """The sandbox on, with the workspaces' data folders in the console's DATA_DIR."""
    settings.CONNECTOR_SANDBOX = "bwrap"
    local = Path(settings.DATA_DIR) / f"local-test-{uuid.uuid4().hex[:8]}"
    settings.LOCAL_FILES_DIR = local
    yield local
    shutil.rmtree(local, ignore_errors=True)


@pytest.fixture
def console_files():
    """The console's secrets and a SQLite database file, as they lie in DATA_DIR."""
    data = Path(django_settings.DATA_DIR)
    run = uuid.uuid4().hex[:8]
    database = data / f"sandbox-canary-{run}.sqlite3"
    planted = data / f"planted-{run}.txt"
    with sqlite3.connect(database) as db:
        db.execute("create table users (email text)")
        db.execute("insert into users values (?)", (f"{CANARY}@example.com",))
    files = [
        data / "secret_key",
        data / "field_encryption_key",
        database,
        # The console's source tree (settings.py says where everything lives).
        Path(django_settings.BASE_DIR) / "airbyte_console" / "settings.py",
    ]
    for path in files:
        assert digest(path) is not None, f"{path} should exist for the console"
    # The last one is where a connector will try to plant a file.
    yield [*files, planted]
    database.unlink(missing_ok=True)
    planted.unlink(missing_ok=True)


@pytest.fixture
def canary_process():
    """A console process with a canary in its environment (what /proc exposes)."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"],
        env={"CONSOLE_CANARY": CANARY},
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def probe(engine: EmbeddedEngine, tiny_definition, **config) -> dict[str, str]:
    result = engine.check(
        tiny_definition, {"api_key": "right-key", "mode": "probe", **config}
    )
    assert result.ok, result.message
    line = next(log for log in result.logs if log.startswith("INFO probe "))
    return json.loads(line.removeprefix("INFO probe "))


def test_connector_cannot_read_the_console_or_other_workspaces_but_uses_its_local(
    offline_connectors,
    tiny_definition,
    sandboxed,
    console_files,
    canary_process,
):
    mine, other = WorkspaceFactory(), WorkspaceFactory()
    own = sandboxed / str(mine.public_id)
    own.mkdir(parents=True)
    (own / "input.csv").write_text("id,name\n1,ada\n")
    theirs = sandboxed / str(other.public_id)
    theirs.mkdir(parents=True)
    (theirs / "notes.txt").write_text(f"workspace B's {CANARY}")
    other_process = f"/proc/{canary_process.pid}/environ"
    assert CANARY.encode() in Path(other_process).read_bytes()
    *held, planted = console_files
    forbidden = [
        *map(str, held),
        "/etc/shadow",
        str(theirs / "notes.txt"),
        f"/local/../{other.public_id}/notes.txt",
        other_process,
    ]

    seen = probe(
        EmbeddedEngine(mine),
        tiny_definition,
        read=[*forbidden, "/proc/1/environ", "/local/input.csv"],
        write={
            "/local/output.txt": "written by the connector",
            str(planted): "no",
        },
    )

    for path in forbidden:
        assert seen[path].startswith("error"), f"the connector read {path}"
    # /proc is the sandbox's own: its pid 1 is not the machine's.
    host_init = digest("/proc/1/environ")
    assert seen["/proc/1/environ"] != host_init
    # Its own workspace folder is /local, readable and writable.
    assert seen["/local/input.csv"] == digest(own / "input.csv")
    assert seen["/local/output.txt"] == "written"
    assert (own / "output.txt").read_text() == "written by the connector"
    assert seen[str(planted)].startswith("error")
    assert not planted.exists()
    assert not (theirs / "output.txt").exists()


def test_without_the_sandbox_the_same_connector_reads_the_console_secret_key(
    offline_connectors, tiny_definition, settings, console_files
):
    """What the sandbox prevents: unsandboxed, the probe gets the console's key."""
    settings.CONNECTOR_SANDBOX = "none"
    secret_key = str(console_files[0])

    seen = probe(EmbeddedEngine(WorkspaceFactory()), tiny_definition, read=[secret_key])

    assert seen[secret_key] == digest(secret_key)


def test_a_catalog_page_check_runs_without_any_local(
    offline_connectors, tiny_definition, sandboxed
):
    seen = probe(
        EmbeddedEngine(None), tiny_definition, write={"/local/x.txt": "nowhere"}
    )

    assert seen["/local/x.txt"].startswith("error")
    assert not sandboxed.exists() or not any(sandboxed.iterdir())


def _namespace_members(namespace: str) -> list[int]:
    """Host pids of the processes in a PID namespace (``pid:[inode]``)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "ns" / "pid") == namespace:
                members.append(int(entry.name))
        except OSError:
            continue
    return members


def test_killing_the_group_stops_every_process_in_the_sandbox(
    offline_connectors, sandboxed
):
    """What a cancel, a timeout or the reaper does reaches the connector's children."""
    installation = installer.install(fakes.PACKAGE, "1.0.0")
    workspace_id = str(uuid.uuid4())
    local = sandbox.local_dir(workspace_id)
    config = {
        "api_key": "right-key",
        "mode": "hang",
        "pid_file": "/local/pids",
        "ns_file": "/local/ns",
    }
    with private_files(config=config) as (directory, files):
        process = ConnectorProcess(
            [*installation.command(), "check", "--config", str(files["config"])],
            masker=SecretMasker(),
            env=connector_env(installation.bin_dir),
            cwd=directory,
            workspace_id=workspace_id,
        )
        process.start()
        try:
            deadline = time.monotonic() + 15
            while not (local / "ns").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            namespace = (local / "ns").read_text()
            # The sandbox's init, the connector and the child it started.
            assert len(_namespace_members(namespace)) >= 3
            assert namespace != os.readlink("/proc/self/ns/pid")

            kill_group(process.process)
        finally:
            process.stop()

    deadline = time.monotonic() + 5
    while _namespace_members(namespace) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _namespace_members(namespace) == []


def test_faker_checks_discovers_and_reads_in_the_sandbox(
    real_connectors, faker_installed, sandboxed
):
    faker = definition(FAKER_ID)
    workspace = WorkspaceFactory()
    config = {"count": 25, "seed": 1}
    engine = EmbeddedEngine(workspace)

    result = engine.check(faker, config)
    catalog = engine.discover(faker, config)
    users = catalog.stream("users")
    configured = {
        "streams": [
            {
                "stream": {
                    "name": "users",
                    "json_schema": users.json_schema,
                    "supported_sync_modes": ["full_refresh"],
                },
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
        ]
    }
    with private_files(config=config, catalog=configured) as (directory, files):
        process = ConnectorProcess(
            read_argv(faker_installed.command(), files),
            masker=SecretMasker(),
            env=connector_env(faker_installed.bin_dir),
            cwd=directory,
            timeout=120,
            workspace_id=str(workspace.public_id),
        )
        with process:
            records = [m for m in process.messages() if m["type"] == protocol.RECORD]

    assert result.ok, result.message
    assert len(records) == 25
    assert process.process.returncode == 0


def test_the_sandbox_binds_nothing_that_holds_the_console_files(
    offline_connectors, sandboxed, tmp_path
):
    installation = installer.install(fakes.PACKAGE, "1.0.0")
    workspace_id = str(uuid.uuid4())

    argv = sandbox.wrap(
        [*installation.command(), "spec"],
        private_dir=tmp_path,
        workspace_id=workspace_id,
    )

    binds = [
        (argv[i + 1], argv[i + 2])
        for i, flag in enumerate(argv[: argv.index("--")])
        if flag in ("--bind", "--ro-bind", "--ro-bind-try")
    ]
    sources = [Path(source) for source, _ in binds]
    console = [
        Path(django_settings.DATA_DIR),
        Path(django_settings.BASE_DIR),
        sandboxed,
        Path("/etc/shadow"),
        Path("/etc/ssl/private"),
    ]
    for source in sources:
        for held in console:
            assert source != held and source not in held.parents, source
    pairs = list(itertools.pairwise(argv))
    writable = [source for flag, source in pairs if flag == "--bind"]
    assert writable == [str(tmp_path), str(sandboxed / workspace_id)]
    assert ("--ro-bind", str(installation.path)) in pairs
    assert {"--unshare-pid", "--die-with-parent", "--new-session"} <= set(argv)
    assert "--unshare-net" not in argv


def test_deploy_check_warns_when_the_sandbox_is_off(settings):
    settings.CONNECTOR_SANDBOX = "none"

    found = checks.run_checks(include_deployment_checks=True)
    plain = checks.run_checks()

    warning = next(m for m in found if m.id == SANDBOX_OFF_ID)
    assert warning.level == checks.WARNING
    assert "CONNECTOR_SANDBOX is none" in warning.msg
    assert SANDBOX_OFF_ID not in {m.id for m in plain}


def test_deploy_check_is_quiet_with_the_sandbox_on(settings):
    settings.CONNECTOR_SANDBOX = "bwrap"

    found = checks.run_checks(include_deployment_checks=True)

    assert SANDBOX_OFF_ID not in {m.id for m in found}


def test_a_bad_connector_sandbox_value_stops_start_up():
    result = subprocess.run(
        [sys.executable, "-c", "import airbyte_console.settings"],
        env={**os.environ, "CONNECTOR_SANDBOX": "docker"},
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "CONNECTOR_SANDBOX='docker' is not one of: bwrap, none." in result.stderr


@pytest.mark.parametrize(
    ("mode", "says"),
    [("bwrap", "Connector sandbox: on"), ("none", "Connector sandbox: OFF")],
)
def test_make_run_banner_says_whether_the_sandbox_is_on(settings, mode, says):
    from apps.ops.management.commands.serve import sandbox_line

    settings.CONNECTOR_SANDBOX = mode

    assert sandbox_line().startswith(says)
