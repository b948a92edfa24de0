"""Deleting an airbyte-engine workspace, against the fake server (#18 item 12)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.urls import reverse

from apps.airbyte import workspace_delete as remote
from apps.workspaces.models import Workspace
from tests.airbyte import conftest as airbyte_fixtures

# The airbyte tests' fixtures: a workspace on the fake server, pushes in-process.
_fast_retries = airbyte_fixtures._fast_retries
airbyte_workspace = airbyte_fixtures.airbyte_workspace
make_connection = airbyte_fixtures.make_connection
polls = airbyte_fixtures.polls
pushes_now = airbyte_fixtures.pushes_now


@pytest.fixture
def queued():
    """The worker's task runs right when it is queued, in this process."""
    with mock.patch.object(
        remote.airbyte_workspace_objects_delete_task,
        "apply_async",
        side_effect=lambda args, **kw: remote.workspace_objects_delete(
            server=args[0], objects=args[1]
        ),
    ) as task:
        yield task


def _delete(client, workspace, **extra):
    return client.post(
        reverse("workspace_delete", args=[workspace.public_id]),
        {"confirm_name": workspace.name, **extra},
    )


def test_asked_to_the_objects_on_the_server_go_too(
    airbyte_fake,
    make_connection,
    admin,
    login,
    queued,
    django_capture_on_commit_callbacks,
):
    connection = make_connection()
    workspace = connection.workspace
    assert airbyte_fake.connections and airbyte_fake.sources
    with django_capture_on_commit_callbacks(execute=True):
        response = _delete(login(admin), workspace, delete_on_server="1")
    assert response.status_code == 302
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    # Deleted as Airbyte deletes: connections deprecated, connectors tombstoned.
    assert [c.status for c in airbyte_fake.connections.values()] == ["deprecated"]
    assert all(a.deleted for a in airbyte_fake.sources.values())
    assert all(a.deleted for a in airbyte_fake.destinations.values())
    (args,) = [c.kwargs["args"] for c in queued.call_args_list]
    # The broker never carries the server's secret in clear.
    assert airbyte_fake.client_secret not in str(args)


def test_by_default_the_server_keeps_its_objects(
    airbyte_fake,
    make_connection,
    admin,
    login,
    queued,
    django_capture_on_commit_callbacks,
):
    connection = make_connection()
    with django_capture_on_commit_callbacks(execute=True):
        _delete(login(admin), connection.workspace)
    assert not Workspace.objects.filter(pk=connection.workspace.pk).exists()
    assert [c.status for c in airbyte_fake.connections.values()] != ["deprecated"]
    assert not any(a.deleted for a in airbyte_fake.sources.values())
    assert not airbyte_fake.calls("DELETE")
    queued.assert_not_called()


def test_a_refused_delete_sends_nothing(
    airbyte_fake,
    make_connection,
    admin,
    login,
    queued,
    django_capture_on_commit_callbacks,
):
    connection = make_connection()
    with django_capture_on_commit_callbacks(execute=True):
        _delete(login(admin), connection.workspace, confirm_name="wrong")
    queued.assert_not_called()
    assert not airbyte_fake.calls("DELETE")
