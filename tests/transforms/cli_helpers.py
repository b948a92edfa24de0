"""Helpers for the CLI tests (H5): run `manage.py airbyte transform ...` as a user."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.connections.execution import sync_run
from apps.connections.models import SyncJob
from apps.connections.services import sync_request
from tests.cli_runner import airbyte


def as_user(user, workspace) -> tuple[str, ...]:
    return ("--workspace", str(workspace.public_id), "--as", user.email)


def transform(capsys, user, workspace, *args: str) -> tuple[int, str, str]:
    return airbyte(capsys, "transform", *args, *as_user(user, workspace))


def transform_json(capsys, user, workspace, *args: str) -> tuple[int, object]:
    code, out, err = transform(capsys, user, workspace, *args, "--json")
    assert out.strip(), f"no JSON on stdout (exit {code}): {err}"
    return code, json.loads(out)


def refused(user, workspace, *args: str, match: str) -> None:
    """The command stops with a CommandError whose message matches."""
    with pytest.raises(CommandError, match=match):
        call_command("airbyte", "transform", *args, *as_user(user, workspace))


def sync_now(connection, admin) -> SyncJob:
    """Request a sync and run it here, as a worker would."""
    with mock.patch("apps.connections.tasks.sync_job_task.apply_async"):
        job = sync_request(connection=connection, trigger="manual", actor=admin)
    sync_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == SyncJob.Status.SUCCEEDED, job.failure_message
    return job


@pytest.fixture
def transforms_dirs(settings, tmp_path, dbt_settings):
    """Real dbt (the suite's install) and project folders in the test's tmp folder."""
    settings.TRANSFORMS_DIR = tmp_path / "transforms"
    return dbt_settings
