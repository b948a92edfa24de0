"""A dbt project runs inside the connectors' sandbox: it cannot read the console's keys.

A project is code a workspace member wrote. DuckDB SQL can read any file the
process can (``read_text``) and Jinja can read the environment (``env_var``); in
the sandbox neither reaches the console's secret key, encryption key or database.
"""

from __future__ import annotations

import shutil

import pytest
from django.conf import settings

from apps.engines import sandbox
from apps.transforms import workdir
from apps.transforms.dbt.invoke import Invocation, invoke

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None,
    reason="needs bubblewrap: apt-get install bubblewrap",
)


@pytest.fixture
def sandboxed(settings):
    settings.CONNECTOR_SANDBOX = sandbox.BWRAP
    return settings


def _run(dbt_ready, root, model: str, database=None):
    workdir.materialize(
        [
            ("dbt_project.yml", "name: probe\nversion: '1.0'\nprofile: console\n"),
            ("models/probe.sql", model),
        ],
        root / "project",
    )
    lines: list[str] = []
    outcome = invoke(
        Invocation(
            dbt=dbt_ready["duckdb"].dbt,
            project_dir=root / "project",
            target_dir=root / "target",
            profile={
                "type": "duckdb",
                "path": str(database or root / "w.duckdb"),
                "schema": "main",
            },
            command="run",
            timeout=300,
        ),
        on_line=lines.append,
    )
    return outcome, "\n".join(lines)


def _read_key_model(key_file) -> str:
    return (
        "{{ config(materialized='table') }}\n"
        f"select content from read_text('{key_file}')\n"
    )


def _rows(database) -> list:
    import duckdb

    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute("select * from main.probe").fetchall()


def test_a_model_cannot_read_the_consoles_keys(dbt_ready, sandboxed, tmp_path):
    key_file = settings.DATA_DIR / "field_encryption_key"
    key = key_file.read_text().strip()
    outcome, log = _run(dbt_ready, tmp_path, _read_key_model(key_file))
    # DuckDB finds no such file in the sandbox: an empty table (or an error).
    if outcome.succeeded:
        assert _rows(tmp_path / "w.duckdb") == []
    assert key not in log and key not in outcome.error


def test_without_the_sandbox_the_same_model_reads_the_key(
    dbt_ready, settings, tmp_path
):
    # What the sandbox prevents, shown: run as the console's user, it reads it.
    settings.CONNECTOR_SANDBOX = sandbox.NONE
    key_file = settings.DATA_DIR / "field_encryption_key"
    outcome, _ = _run(dbt_ready, tmp_path, _read_key_model(key_file))
    assert outcome.succeeded, outcome.error
    assert _rows(tmp_path / "w.duckdb") == [(key_file.read_text(),)]


def test_jinja_sees_no_console_secret_in_the_environment(
    dbt_ready, sandboxed, tmp_path, monkeypatch
):
    monkeypatch.setenv("FIELD_ENCRYPTION_KEY", "env-canary-key")
    outcome, log = _run(
        dbt_ready,
        tmp_path,
        'select \'{{ env_var("FIELD_ENCRYPTION_KEY", "absent") }}\' as seen\n',
    )
    assert outcome.succeeded, outcome.error
    assert "env-canary-key" not in log


def test_the_project_still_builds_its_own_database(dbt_ready, sandboxed, tmp_path):
    outcome, _ = _run(
        dbt_ready, tmp_path, "{{ config(materialized='table') }}\nselect 42 as answer\n"
    )
    assert outcome.succeeded, outcome.error
    assert _rows(tmp_path / "w.duckdb") == [(42,)]


def test_a_duckdb_folder_no_sync_made_yet_is_made_for_dbt(
    dbt_ready, sandboxed, tmp_path
):
    # A project generated before the workspace's first sync: its folder is missing.
    database = tmp_path / "duckdb" / "workspace-id" / "w.duckdb"
    outcome, _ = _run(
        dbt_ready,
        tmp_path,
        "{{ config(materialized='table') }}\nselect 1 as one\n",
        database=database,
    )
    assert outcome.succeeded, outcome.error
    assert _rows(database) == [(1,)]
