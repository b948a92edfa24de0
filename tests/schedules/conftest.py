"""Schedules fixtures: a connection to schedule, and no real broker."""

from __future__ import annotations

from unittest import mock

import pytest

from tests.factories import ConnectionFactory


@pytest.fixture(autouse=True)
def sent():
    """Every sync the dispatcher enqueues, instead of a message to a broker."""
    with mock.patch("apps.connections.tasks.sync_job_task.apply_async") as send:
        yield send


@pytest.fixture
def connection(workspace):
    return ConnectionFactory(workspace=workspace, name="Faker to warehouse")
