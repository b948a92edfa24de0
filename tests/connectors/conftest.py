"""Personas of the catalog tests: console staff, who alone change the catalog."""

from __future__ import annotations

import pytest

from apps.core.roles import Role
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture
def staff(workspace):
    """Console staff (``is_staff``) with only the viewer role in the workspace:
    changing the catalog depends on being staff, not on the workspace role."""
    user = UserFactory(email="staff@acme.test", is_staff=True)
    MembershipFactory(user=user, workspace=workspace, role=Role.VIEWER)
    return user
