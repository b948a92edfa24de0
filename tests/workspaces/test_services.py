"""Workspace services under concurrency, on the real PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from apps.core.roles import Role
from apps.workspaces import services
from apps.workspaces.models import Membership
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory


@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin(require_postgres):
    workspace = WorkspaceFactory()
    first = MembershipFactory(workspace=workspace, role=Role.ADMIN)
    second = MembershipFactory(workspace=workspace, role=Role.ADMIN)
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def demote(membership: Membership, actor) -> None:
        try:
            barrier.wait(timeout=5)
            services.member_change_role(
                actor=actor, membership=membership, role="viewer"
            )
        except ValidationError as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=demote, args=(first, second.user)),
        threading.Thread(target=demote, args=(second, first.user)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)
    assert Membership.objects.filter(workspace=workspace, role=Role.ADMIN).count() == 1
    assert len(errors) == 1


def test_workspace_name_is_unique_ignoring_case(db):
    user = UserFactory()
    services.workspace_create(actor=user, name="Data")
    with pytest.raises(ValidationError, match="already exists"):
        services.workspace_create(actor=user, name="DATA")


def test_slug_stays_unique_when_names_slugify_alike(db):
    user = UserFactory()
    first = services.workspace_create(actor=user, name="Data Team")
    second = services.workspace_create(actor=user, name="Data-Team")
    assert first.slug != second.slug
