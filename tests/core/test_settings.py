"""Settings from the environment: defaults, NAME_FILE secrets and bad values."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from airbyte_console import env

ROOT = Path(__file__).resolve().parents[2]


def run_check(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "FIELD_ENCRYPTION_KEY", "DJANGO_SECRET_KEY"}
    }
    environment.update(CONSOLE_DATA_DIR=str(tmp_path / "data"), **variables)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_fresh_data_dir_gets_keys_with_mode_0600(tmp_path):
    result = run_check(tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ("secret_key", "field_encryption_key"):
        mode = stat.S_IMODE((tmp_path / "data" / name).stat().st_mode)
        assert mode == 0o600, name
    first = (tmp_path / "data" / "secret_key").read_text()
    run_check(tmp_path)
    assert (tmp_path / "data" / "secret_key").read_text() == first


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG='maybe' is not a boolean"),
        ("DATABASE_URL", "mongodb://x", "DATABASE_URL"),
        ("FIELD_ENCRYPTION_KEY", "short", "FIELD_ENCRYPTION_KEY: key 1 is not a valid"),
        (
            "AXES_FAILURE_LIMIT",
            "five",
            "AXES_FAILURE_LIMIT='five' is not a whole number",
        ),
    ],
)
def test_bad_value_stops_start_up_naming_the_variable(
    tmp_path, variable, value, message
):
    result = run_check(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_secret_from_file(tmp_path, monkeypatch):
    secret_file = tmp_path / "token"
    secret_file.write_text("from-a-file\n")
    monkeypatch.setenv("METRICS_TOKEN_FILE", str(secret_file))
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    assert env.secret("METRICS_TOKEN", default="") == "from-a-file"


def test_secret_and_secret_file_together_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("METRICS_TOKEN", "a")
    monkeypatch.setenv("METRICS_TOKEN_FILE", str(tmp_path / "x"))
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env.secret("METRICS_TOKEN", default="")


def test_unreadable_secret_file_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("METRICS_TOKEN", raising=False)
    monkeypatch.setenv("METRICS_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="METRICS_TOKEN_FILE"):
        env.secret("METRICS_TOKEN", default="")


def test_encryption_keys_accept_a_list_newest_first(monkeypatch, tmp_path):
    from cryptography.fernet import Fernet

    keys = [Fernet.generate_key().decode() for _ in range(2)]
    monkeypatch.setenv("FIELD_ENCRYPTION_KEY", ", ".join(keys))
    assert (
        env.fernet_keys("FIELD_ENCRYPTION_KEY", generated_file=tmp_path / "k") == keys
    )
