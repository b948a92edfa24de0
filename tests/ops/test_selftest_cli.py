"""`airbyte test smoke|integration|all`: checks of a running installation."""

from __future__ import annotations

import json
import time

import pytest

from apps.audit.models import AuditEvent
from apps.connections.models import Connection, SyncJob
from apps.connectors.models import Destination, Source
from apps.ops.health import probe_workers
from apps.workspaces.models import Workspace
from tests.cli_runner import airbyte
from tests.engines.fixtures import DUCKDB_ID, FAKER_ID, definition
from tests.factories import UserFactory


@pytest.fixture
def superuser(db):
    return UserFactory(email="root@acme.test", is_superuser=True, is_staff=True)


@pytest.fixture
def catalog(db):
    """The shipped catalog's faker and DuckDB (reloaded after a flush)."""
    return definition(FAKER_ID), definition(DUCKDB_ID)


def no_scratch_left() -> bool:
    return not (
        Workspace.objects.filter(name__startswith="selftest-").exists()
        or Source.objects.exists()
        or Destination.objects.exists()
        or Connection.objects.exists()
        or SyncJob.objects.exists()
    )


# --- smoke -------------------------------------------------------------------------


def test_smoke_without_workers_fails_and_names_the_part(
    superuser, real_connectors, faker_installed, capsys
):
    started = time.monotonic()
    code, out, _ = airbyte(capsys, "test", "smoke", "--json")
    assert time.monotonic() - started < 10
    data = json.loads(out)
    assert code == 1
    checks = {c["name"]: c for c in data["checks"]}
    assert list(checks) == ["database", "schema", "broker", "workers", "engine"]
    assert checks["workers"]["ok"] is False
    assert "no worker answered" in checks["workers"]["detail"]
    for name in ("database", "schema", "broker", "engine"):
        assert checks[name]["ok"] is True, checks[name]
    assert "faker 7.2.1 installed" in checks["engine"]["detail"]
    code, text, _ = airbyte(capsys, "test", "smoke")
    assert "FAIL  workers" in text
    assert "Smoke test failed (workers)" in text


def test_smoke_checks_the_airbyte_server_of_a_workspace(
    workspace, admin, airbyte_fake, capsys
):
    from apps.airbyte.models import AirbyteServer

    workspace.engine = Workspace.Engine.AIRBYTE
    workspace.save(update_fields=["engine"])
    AirbyteServer.objects.create(
        workspace=workspace,
        url=airbyte_fake.url,
        client_id="console-client",
        client_secret="wrong-secret",
    )
    code, out, _ = airbyte(
        capsys, "test", "smoke", "--workspace", "Acme Data", "--as", admin.email
    )
    assert code == 1
    assert f"FAIL  engine {airbyte_fake.url}" in out
    assert "Signing in failed" in out


# --- integration -------------------------------------------------------------------


def test_integration_without_a_worker_says_so_and_creates_nothing(
    superuser, catalog, capsys
):
    code, out, _ = airbyte(capsys, "test", "integration")
    assert code == 1
    assert "No worker answered" in out
    assert "--inline" in out
    assert not Workspace.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_integration_inline_syncs_faker_into_duckdb_and_removes_everything(
    superuser, catalog, real_connectors, faker_installed, settings, tmp_path, capsys
):
    settings.DUCKDB_DIR = tmp_path
    code, out, _ = airbyte(capsys, "test", "integration", "--inline", "--json")
    result = json.loads(out)
    assert code == 0, result
    assert result["ok"] is True
    assert result["tables"]["users"] == 100
    assert result["records"] == sum(result["tables"].values())
    assert result["mode"] == "inline"
    name = result["workspace"]
    assert name.startswith("selftest-")
    assert "Removed the scratch workspace" in result["cleanup"]
    assert no_scratch_left()
    assert list(tmp_path.iterdir()) == []
    # The audit trail keeps the run, start to end (it is append-only).
    actions = set(
        AuditEvent.objects.filter(workspace_label=name).values_list("action", flat=True)
    )
    assert {"workspace.created", "sync.requested", "workspace.deleted"} <= actions


@pytest.mark.django_db(transaction=True)
def test_a_failed_integration_run_still_removes_its_workspace(
    superuser, catalog, real_connectors, faker_installed, settings, tmp_path, capsys
):
    # DuckDB's directory cannot be made: the sync's destination fails.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    settings.DUCKDB_DIR = blocker
    code, out, err = airbyte(capsys, "test", "integration", "--inline")
    assert code == 1
    assert "Integration test failed" in out
    assert "The sync ended" in out
    # Said once, in the summary, not also among the progress lines.
    assert (out + err).count("Removed the scratch workspace") == 1
    assert no_scratch_left()


# --- all ---------------------------------------------------------------------------


def test_all_stops_at_a_failed_smoke_test_and_skips_the_rest(superuser, capsys):
    code, out, _ = airbyte(capsys, "test", "all", "--json")
    data = json.loads(out)
    assert code == 1
    assert data["smoke"]["ok"] is False
    assert data["integration"] == {"skipped": "the smoke test failed"}
    assert data["suite"]["skipped"] == "an earlier test failed"
    assert not Workspace.objects.exists()


def test_all_with_no_suite_names_the_suite_it_skips(superuser, settings, capsys):
    code, out, _ = airbyte(capsys, "test", "all", "--no-suite", "--json")
    assert code == 1  # no worker here, so the smoke test fails
    suite = json.loads(out)["suite"]
    assert suite["skipped"] == "--no-suite"
    assert suite["command"] == "make test"
    assert suite["cwd"] == str(settings.BASE_DIR)


def test_all_outside_a_checkout_has_no_suite(superuser, settings, tmp_path, capsys):
    settings.BASE_DIR = tmp_path
    code, out, _ = airbyte(capsys, "test", "all", "--json")
    assert code == 1
    assert json.loads(out)["suite"]["skipped"] == "not a checkout"


@pytest.mark.django_db(transaction=True)
def test_all_on_a_running_installation_passes_smoke_integration_and_suite(
    superuser,
    catalog,
    real_connectors,
    faker_installed,
    worker,
    settings,
    tmp_path,
    capsys,
):
    # The worker fixture gives its worker DUCKDB_DIR=tmp_path; the CLI reads the same.
    settings.DUCKDB_DIR = tmp_path
    worker("selftest")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            probe_workers()
            break
        except RuntimeError:
            time.sleep(0.5)
    # A checkout whose suite is a one-line Makefile: the real suite is not run here.
    checkout = tmp_path / "checkout"
    (checkout / "tests").mkdir(parents=True)
    (checkout / "Makefile").write_text("test:\n\t@echo the-suite-ran\n")
    settings.BASE_DIR = checkout

    code, out, err = airbyte(capsys, "test", "all", "--json")
    data = json.loads(out)
    assert code == 0, data
    assert data["smoke"]["ok"] is True
    assert data["smoke"]["seconds"] < 10
    integration = data["integration"]
    assert integration["ok"] is True and integration["mode"] == "worker"
    assert integration["tables"]["users"] == 100
    assert data["suite"]["ok"] is True and data["suite"]["exit_code"] == 0
    assert "the-suite-ran" in err
    assert no_scratch_left()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("selftest-")] == []
