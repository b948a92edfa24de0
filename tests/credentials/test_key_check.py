"""The start-up key check: a wrong or malformed FIELD_ENCRYPTION_KEY stops the console.

The subprocess tests run the real `manage.py` against a temporary SQLite database
and data folder, the way an operator would start the console.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from apps.credentials import checks, encryption, services
from apps.credentials.models import EncryptionCanary

ROOT = Path(__file__).resolve().parents[2]


def key() -> str:
    return Fernet.generate_key().decode()


def run(
    env: dict[str, str], *args: str, stdin: str = ""
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def console_env(tmp_path) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        # PYTEST_VERSION turns the start-up check off; *_FILE and a configured
        # database would point the child at the developer's own setup.
        if name not in {"PYTEST_VERSION", "DATABASE_URL", "FIELD_ENCRYPTION_KEY"}
        and not name.endswith("_FILE")
    }
    env["CONSOLE_DATA_DIR"] = str(tmp_path / "data")
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'console.sqlite3'}"
    env["DJANGO_SETTINGS_MODULE"] = "airbyte_console.settings"
    return env


@pytest.fixture
def migrated(console_env) -> tuple[dict[str, str], str]:
    """A fresh database migrated (and its canary written) under a known key."""
    old = key()
    env = {**console_env, "FIELD_ENCRYPTION_KEY": old}
    result = run(env, "manage.py", "migrate", "--noinput", "-v", "0")
    assert result.returncode == 0, result.stderr
    return env, old


def test_wrong_key_stops_manage_py_check_with_a_clear_message(migrated):
    env, _old = migrated
    result = run({**env, "FIELD_ENCRYPTION_KEY": key()}, "manage.py", "check")
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY does not decrypt this database" in result.stderr
    assert "Restore the old key" in result.stderr
    assert "comma-separated" in result.stderr


def test_wrong_key_stops_any_process_that_loads_django(migrated):
    # Gunicorn and Celery run no system checks; they do run django.setup().
    env, _old = migrated
    result = run(
        {**env, "FIELD_ENCRYPTION_KEY": key()},
        "-c",
        "import django; django.setup(); print('started')",
    )
    assert result.returncode != 0
    assert "started" not in result.stdout
    assert "FIELD_ENCRYPTION_KEY does not decrypt this database" in result.stderr


def test_malformed_key_stops_start_up_naming_the_variable(console_env):
    result = run(
        {**console_env, "FIELD_ENCRYPTION_KEY": "not-a-key"}, "manage.py", "check"
    )
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY: key 1 is not a valid Fernet key" in result.stderr
    assert "Generate one with" in result.stderr


def test_right_key_starts_and_a_new_key_listed_first_with_the_old_one_too(migrated):
    env, old = migrated
    started = run(env, "manage.py", "check")
    assert started.returncode == 0, started.stderr
    # The start-up query is deliberate: Django's app-initialisation warning is not.
    assert "Accessing the database" not in started.stderr
    listed = run(
        {**env, "FIELD_ENCRYPTION_KEY": f"{key()},{old}"}, "manage.py", "check"
    )
    assert listed.returncode == 0, listed.stderr


def test_rotation_end_to_end_lets_the_old_key_go(migrated, canary):
    env, old = migrated
    create_admin = (
        "from django.contrib.auth import get_user_model;"
        "get_user_model().objects.create_superuser('root', 'root@example.com', 'pw');"
        "from apps.workspaces.services import workspace_create;"
        "workspace_create(actor=get_user_model().objects.get(), name='Ops')"
    )
    assert run(env, "manage.py", "shell", "-c", create_admin).returncode == 0
    store_args = ["manage.py", "airbyte", "credentials", "store", "--name", "Stripe"]
    store_args += ["--type", "api_key", "--file", "-", "--workspace", "Ops"]
    empty = run(env, *store_args)
    assert empty.returncode != 0
    assert "stdin is not valid JSON" in empty.stderr
    store = run(env, *store_args, stdin=f'{{"api_key": "sk_{canary}"}}')
    assert store.returncode == 0, store.stderr
    new = key()
    both = {**env, "FIELD_ENCRYPTION_KEY": f"{new},{old}"}
    rotated = run(both, "manage.py", "airbyte", "credentials", "rotate-key")
    assert rotated.returncode == 0, rotated.stderr
    assert "credentials.Credential: 1 row(s) re-encrypted" in rotated.stdout
    only_new = {**env, "FIELD_ENCRYPTION_KEY": new}
    assert run(only_new, "manage.py", "check").returncode == 0
    listed = run(
        only_new, "manage.py", "airbyte", "credentials", "list", "--workspace", "Ops"
    )
    assert listed.returncode == 0, listed.stderr
    assert "Stripe" in listed.stdout
    for output in (empty, store, rotated, listed):
        assert canary not in output.stdout + output.stderr


def test_system_check_reports_e001_for_a_wrong_key(db, use_keys, new_key):
    assert services.encryption_canary_ensure() is None
    assert checks.check_encryption_key() == []
    use_keys([new_key()])
    [error] = checks.check_encryption_key()
    assert error.id == "credentials.E001"
    assert "FIELD_ENCRYPTION_KEY does not decrypt this database" in error.msg
    with pytest.raises(SystemCheckError, match=r"credentials\.E001"):
        call_command("check")


def test_canary_is_stored_encrypted_and_created_once(db):
    EncryptionCanary.objects.all().delete()
    assert checks.key_problem() is None
    assert checks.key_problem() is None
    assert EncryptionCanary.objects.count() == 1
    raw = checks._read_canary("default")
    assert raw.startswith("gAAAA")
    assert encryption.CANARY_PLAINTEXT not in raw


def test_no_canary_is_blessed_over_secrets_another_key_wrote(
    db, workspace, admin, use_keys, new_key
):
    EncryptionCanary.objects.all().delete()
    use_keys([new_key()])
    services.credential_create(
        actor=admin,
        workspace=workspace,
        name="Old",
        type="api_key",
        fields={"api_key": "k"},
    )
    use_keys([new_key()])
    problem = checks.key_problem()
    assert problem is not None
    assert "credentials.Credential.payload" in problem
    assert not EncryptionCanary.objects.exists()


def test_missing_table_is_not_an_error(db, monkeypatch):
    from django.db import DatabaseError

    def no_table(using):
        raise DatabaseError("no such table: credentials_encryptioncanary")

    monkeypatch.setattr(checks, "_read_canary", no_table)
    assert checks.key_problem() is None
    checks.startup_key_check()
