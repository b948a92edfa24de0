"""Real dbt against the real PostgreSQL: secrets stay out of the log, the profile
folder goes away, and cancel stops the whole process group and its query."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import psycopg
import pytest

from apps.core.masking import MASK
from apps.transforms import workdir
from apps.transforms.dbt import artifacts
from apps.transforms.dbt.invoke import Invocation, invoke

CANARY = "Canary-pw-7f3a9c1e"

PROJECT = {
    "dbt_project.yml": "name: pg_shop\nversion: '1.0'\nprofile: console\n",
    "models/customers.sql": (
        "{{ config(materialized='table') }}\n"
        "select * from (values (1, 'ann'), (2, 'bob'), (3, 'cy')) as t(id, name)\n"
    ),
    # A syntax error whose quoted line holds the password: the database echoes it.
    "models/leaky.sql": f"select '{CANARY}' as pw frm nowhere\n",
}


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in the process group."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _cmdline(pid: int) -> list[str]:
    """The process's argv (read again while /proc still shows the pre-exec one)."""
    deadline = time.monotonic() + 5
    while True:
        raw = (Path("/proc") / str(pid) / "cmdline").read_bytes()
        argv = raw.decode().split("\0")
        if "--profiles-dir" in argv or time.monotonic() > deadline:
            return argv
        time.sleep(0.01)


@pytest.fixture(scope="module")
def pg_project(dbt_ready, dbt_postgres, tmp_path_factory):
    profile, conninfo = dbt_postgres
    # Trust auth on the test server: the password is not checked, but dbt gets it
    # like any other and it must never show.
    profile = {**profile, "password": CANARY}
    root = tmp_path_factory.mktemp("pg_shop")
    workdir.materialize(PROJECT.items(), root / "project")
    return dbt_ready["postgres"].dbt, root, profile, conninfo


@pytest.fixture(scope="module")
def leaky_build(pg_project):
    dbt, root, profile, _ = pg_project
    lines: list[str] = []
    seen: dict = {}

    def on_start(pgid: int) -> None:
        argv = _cmdline(pgid)
        folder = Path(argv[argv.index("--profiles-dir") + 1])
        seen["argv"] = argv
        seen["folder"] = folder
        seen["folder_mode"] = stat.S_IMODE(folder.stat().st_mode)
        seen["file_mode"] = stat.S_IMODE((folder / "profiles.yml").stat().st_mode)
        seen["has_password"] = CANARY in (folder / "profiles.yml").read_text()

    outcome = invoke(
        Invocation(
            dbt=dbt,
            project_dir=root / "project",
            target_dir=root / "target",
            profile=profile,
            command="build",
            timeout=300,
        ),
        on_line=lines.append,
        on_start=on_start,
    )
    return outcome, lines, seen


def test_postgres_build_parses_rows_affected(leaky_build, pg_project):
    outcome, _, _ = leaky_build
    nodes = {
        n["name"]: n
        for n in artifacts.node_results(outcome.run_results, outcome.manifest)
    }
    assert nodes["customers"]["status"] == "success"
    assert nodes["customers"]["rows_affected"] == 3
    assert nodes["leaky"]["status"] == "error"
    with psycopg.connect(pg_project[3]) as con:
        assert con.execute("select count(*) from analytics.customers").fetchone() == (
            3,
        )


def test_password_never_reaches_a_log_line_or_the_error(leaky_build):
    outcome, lines, seen = leaky_build
    assert lines
    assert not [line for line in lines if CANARY in line]
    assert CANARY not in outcome.error
    assert CANARY not in str(outcome.run_results)
    # The database did echo the line holding it: masked, not missing.
    assert MASK in outcome.error
    assert "frm" in outcome.error
    assert CANARY not in " ".join(seen["argv"])


def test_profile_folder_is_private_and_removed(leaky_build):
    _, _, seen = leaky_build
    assert seen["has_password"]
    assert seen["folder_mode"] == 0o700
    assert seen["file_mode"] == 0o600
    assert not seen["folder"].exists()


# A table that takes two minutes to build (pg_sleep returns void: select from it).
SLEEPY_MODEL = (
    "{{ config(materialized='table') }}\nselect 1 as slept from pg_sleep(120)\n"
)


def test_cancel_stops_the_process_group_and_its_query(pg_project):
    dbt, root, profile, conninfo = pg_project
    project = root / "slow"
    workdir.materialize(
        [
            ("dbt_project.yml", "name: slow\nversion: '1.0'\nprofile: console\n"),
            (
                "models/sleepy.sql",
                SLEEPY_MODEL,
            ),
        ],
        project,
    )
    lines: list[str] = []
    started: list[int] = []

    def should_cancel() -> bool:
        return any("START sql table model" in line for line in lines)

    began = time.monotonic()
    outcome = invoke(
        Invocation(
            dbt=dbt,
            project_dir=project,
            target_dir=root / "slow-target",
            profile={**profile, "schema": "slow"},
            command="run",
            timeout=300,
        ),
        on_line=lines.append,
        on_start=started.append,
        should_cancel=should_cancel,
    )
    assert outcome.cancelled
    assert outcome.returncode != 0
    assert time.monotonic() - began < 60
    assert outcome.error == "The run was cancelled; dbt was stopped."
    assert lines[-1] == "dbt was cancelled."
    assert _group_members(started[0]) == []
    # dbt cancelled its query on the way out (or the server saw it go).
    with psycopg.connect(conninfo, autocommit=True) as con:
        deadline = time.monotonic() + 15
        while True:
            running = con.execute(
                "select count(*) from pg_stat_activity "
                "where query like '%pg_sleep(120)%' and pid <> pg_backend_pid() "
                "and datname = current_database()"
            ).fetchone()[0]
            if running == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert running == 0
    assert os.getpgid(os.getpid()) != started[0]


def test_timeout_stops_dbt_and_says_so(pg_project):
    dbt, root, profile, _ = pg_project
    project = root / "slow"  # made by the cancel test, or here when run alone
    workdir.materialize(
        [
            ("dbt_project.yml", "name: slow\nversion: '1.0'\nprofile: console\n"),
            (
                "models/sleepy.sql",
                SLEEPY_MODEL,
            ),
        ],
        project,
    )
    started: list[int] = []
    began = time.monotonic()
    outcome = invoke(
        Invocation(
            dbt=dbt,
            project_dir=project,
            target_dir=root / "slow-target",
            profile={**profile, "schema": "slow"},
            command="run",
            timeout=8,
        ),
        on_line=lambda line: None,
        on_start=started.append,
    )
    assert outcome.timed_out and not outcome.cancelled
    assert outcome.returncode != 0
    assert "did not finish within 8 s" in outcome.error
    assert time.monotonic() - began < 40
    assert _group_members(started[0]) == []
