"""Installing dbt from the Transforms page: a row that shows the progress and log
of a real install on a worker (issue #14 item 1)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from apps.audit.models import AuditEvent
from apps.transforms.models import DbtInstall
from apps.transforms.services.installs import dbt_install_execute, dbt_install_request

Status = DbtInstall.Status


def _request(adapter: str, actor) -> DbtInstall:
    with mock.patch("apps.transforms.tasks.dbt_install_task.apply_async"):
        return dbt_install_request(adapter=adapter, actor=actor)


def test_an_install_asked_for_waits_for_a_worker_then_reports_the_versions(
    admin, dbt_settings, django_capture_on_commit_callbacks
):
    with (
        mock.patch("apps.transforms.tasks.dbt_install_task.apply_async") as sent,
        django_capture_on_commit_callbacks(execute=True),
    ):
        install = dbt_install_request(adapter="duckdb", actor=admin)
    assert install.status == Status.PENDING
    assert install.requested_by == admin
    sent.assert_called_once_with(args=["duckdb"], retry=False)
    assert AuditEvent.objects.filter(action="transform.dbt_install").exists()

    done = dbt_install_execute("duckdb")

    assert done.status == Status.INSTALLED
    assert (done.core_version, done.adapter_version) == (
        dbt_settings["duckdb"].core_version,
        dbt_settings["duckdb"].adapter_version,
    )
    assert f"dbt-core {done.core_version} with dbt-duckdb" in done.message
    assert "already installed" in done.log
    # A second delivery of the same task finds nothing to claim.
    assert dbt_install_execute("duckdb").finished_at == done.finished_at


def test_an_install_that_fails_says_why_and_keeps_pip_s_output(
    admin, settings, tmp_path
):
    settings.DBT_DIR = tmp_path / "dbt"
    settings.DBT_ADAPTER_VERSIONS = {**settings.DBT_ADAPTER_VERSIONS, "duckdb": "0.0.0"}
    _request("duckdb", admin)

    failed = dbt_install_execute("duckdb")

    assert failed.status == Status.FAILED
    assert "0.0.0" in failed.message or "0.0.0" in failed.log, failed.message
    assert failed.log.splitlines()[-1] == f"Failed: {failed.message}"
    assert failed.finished_at is not None
    assert not list((tmp_path / "dbt").glob("duckdb-*"))


def test_an_unknown_adapter_is_refused_with_the_known_ones(admin):
    with pytest.raises(ValidationError, match="use one of postgres, duckdb"):
        dbt_install_request(adapter="snowflake", actor=admin)
    assert not DbtInstall.objects.exists()
