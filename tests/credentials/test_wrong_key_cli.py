"""A wrong FIELD_ENCRYPTION_KEY: one clear line from the CLI, JSON under --json.

The real `manage.py` runs in a subprocess against a temporary SQLite database, the
way an operator meets the error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


def key() -> str:
    return Fernet.generate_key().decode()


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def wrong_key_env(tmp_path) -> dict[str, str]:
    """A database migrated under one key, and an environment with another."""
    env = {
        name: value
        for name, value in os.environ.items()
        # PYTEST_VERSION turns the start-up check off.
        if name not in {"PYTEST_VERSION", "DATABASE_URL", "FIELD_ENCRYPTION_KEY"}
        and not name.endswith("_FILE")
    }
    env["CONSOLE_DATA_DIR"] = str(tmp_path / "data")
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'console.sqlite3'}"
    migrated = manage({**env, "FIELD_ENCRYPTION_KEY": key()}, "migrate", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    return {**env, "FIELD_ENCRYPTION_KEY": key()}


def test_wrong_key_is_one_clear_line_not_a_traceback(wrong_key_env):
    result = manage(wrong_key_env, "airbyte", "status")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Cannot start: FIELD_ENCRYPTION_KEY does not decrypt")
    assert "Restore the old key" in lines[0]
    assert wrong_key_env["FIELD_ENCRYPTION_KEY"] not in result.stderr


def test_wrong_key_under_json_is_a_json_error_object(wrong_key_env):
    result = manage(wrong_key_env, "airbyte", "status", "--json")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    error = json.loads(result.stderr)
    assert error["kind"] == "configuration"
    assert error["error"].startswith("FIELD_ENCRYPTION_KEY does not decrypt")
    assert result.stdout == ""
