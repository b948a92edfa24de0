"""Who may create workspaces: CONSOLE_WORKSPACE_CREATORS=anyone|staff (#18 item 13)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from apps.workspaces import services
from apps.workspaces.models import Workspace
from tests.factories import UserFactory

NEW_WORKSPACE_LINK = 'href="/w/new/"'


@pytest.fixture
def staff_only(settings):
    settings.CONSOLE_WORKSPACE_CREATORS = "staff"


def test_by_default_anyone_sees_and_uses_new_workspace(viewer, login):
    client = login(viewer)
    assert NEW_WORKSPACE_LINK in client.get(reverse("workspaces:home")).text
    response = client.post(reverse("workspaces:create"), {"name": "Mine"})
    assert response.status_code == 302
    assert Workspace.objects.filter(name="Mine").exists()


def test_staff_only_hides_new_workspace_and_refuses_others(staff_only, viewer, login):
    client = login(viewer)
    home = client.get(reverse("workspaces:home")).text
    assert NEW_WORKSPACE_LINK not in home
    assert client.get(reverse("workspaces:create")).status_code == 403
    response = client.post(reverse("workspaces:create"), {"name": "Mine"})
    assert response.status_code == 403
    assert not Workspace.objects.filter(name="Mine").exists()


def test_staff_only_refuses_in_the_service_too(staff_only, viewer):
    with pytest.raises(PermissionDenied):
        services.workspace_create(actor=viewer, name="Side door")
    assert not Workspace.objects.filter(name="Side door").exists()


def test_staff_only_lets_staff_create(staff_only, db, login):
    staff = UserFactory(email="ops@acme.test", is_staff=True)
    client = login(staff)
    assert NEW_WORKSPACE_LINK in client.get(reverse("workspaces:home")).text
    response = client.post(reverse("workspaces:create"), {"name": "Ops"})
    assert response.status_code == 302
    assert Workspace.objects.get(name="Ops").memberships.get().user == staff


def test_staff_only_refuses_the_cli_too(staff_only, viewer):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="only staff create workspaces"):
        call_command("airbyte", "workspace", "create", "Cli", "--as", viewer.email)
    assert not Workspace.objects.filter(name="Cli").exists()
