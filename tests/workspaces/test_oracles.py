"""#13 item 7: nothing about other tenants or other accounts leaks through names.

Workspace names (and slugs) are unique only among the workspaces the acting user
belongs to, so creating one with another team's name succeeds and says nothing;
the CLI resolves names among the caller's own workspaces and says "ambiguous"
when two of theirs share one. "Add member" answers the same whether or not the
email has an account.
"""

from __future__ import annotations

import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.core.roles import Role
from apps.workspaces import services
from apps.workspaces.cli import cli_membership
from apps.workspaces.models import Membership, Workspace
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob(db):
    """Another tenant: a user with a workspace of his own, nothing in Acme's."""
    user = UserFactory(email="bob@bravo.test")
    services.workspace_create(actor=user, name="Bravo")
    return user


# -- workspace names -----------------------------------------------------------------


def test_b_creates_a_workspace_with_as_name_and_learns_nothing(
    admin, workspace, bob, login
):
    response = login(bob).post(reverse("workspaces:create"), {"name": "ACME data"})

    assert response.status_code == 302
    created = Workspace.objects.get(memberships__user=bob, name="ACME data")
    assert response["Location"] == reverse(
        "workspaces:detail", args=[created.public_id]
    )
    page = login(bob).get(response["Location"])
    assert "already" not in page.text
    # The slug is not suffixed because of a workspace elsewhere.
    assert created.slug == "acme-data"
    assert workspace.name == "Acme Data"
    assert Membership.objects.get(workspace=created).user == bob
    assert not Membership.objects.filter(workspace=workspace, user=bob).exists()


def test_b_renames_to_as_name_and_learns_nothing(admin, workspace, bob):
    bravo = Workspace.objects.get(name="Bravo")

    services.workspace_rename(actor=bob, workspace=bravo, name="Acme Data")

    bravo.refresh_from_db()
    assert bravo.name == "Acme Data"
    assert bravo.slug == "acme-data"


def test_cli_create_with_another_tenants_name_succeeds(workspace, bob, capsys):
    call_command(
        "airbyte", "workspace", "create", "Acme Data", "--as", "bob@bravo.test",
        "--json",
    )  # fmt: skip

    row = json.loads(capsys.readouterr().out)
    assert row["name"] == "Acme Data"
    assert row["slug"] == "acme-data"
    assert Workspace.objects.filter(name__iexact="acme data").count() == 2


def test_a_name_is_still_unique_among_the_users_own_workspaces(bob):
    with pytest.raises(ValidationError, match="already exists among your workspaces"):
        services.workspace_create(actor=bob, name="BRAVO")


def test_cli_says_ambiguous_when_two_of_the_callers_workspaces_share_a_name(
    admin, workspace, bob, capsys
):
    # Bob's own "Acme Data", and Acme's "Acme Data" that Acme's admin adds him to.
    own = services.workspace_create(actor=bob, name="Acme Data")
    MembershipFactory(user=bob, workspace=workspace, role=Role.VIEWER)

    with pytest.raises(CommandError, match="'Acme Data' is ambiguous"):
        call_command(
            "airbyte", "workspace", "switch", "Acme Data", "--as", "bob@bravo.test"
        )
    with pytest.raises(CommandError, match="is ambiguous"):
        cli_membership(
            {"as_user": "bob@bravo.test", "workspace": "acme data"}, Role.VIEWER
        )
    by_id = cli_membership(
        {"as_user": "bob@bravo.test", "workspace": str(own.public_id)}, Role.VIEWER
    )
    assert by_id.workspace == own


def test_cli_does_not_find_another_tenants_workspace_by_name(workspace, bob):
    with pytest.raises(CommandError, match="No workspace named 'Acme Data'"):
        call_command(
            "airbyte", "workspace", "switch", "Acme Data", "--as", "bob@bravo.test"
        )
    with pytest.raises(CommandError, match="No workspace named 'Nowhere'"):
        call_command(
            "airbyte", "workspace", "switch", "Nowhere", "--as", "bob@bravo.test"
        )


# -- add member ----------------------------------------------------------------------


def _add(client, workspace, email: str, **headers):
    return client.post(
        reverse("workspaces:member_add", args=[workspace.public_id]),
        {"email": email, "role": Role.VIEWER},
        headers=headers,
    )


def _flash(client, workspace) -> str:
    page = client.get(reverse("workspaces:members", args=[workspace.public_id]))
    (message,) = (str(m) for m in page.context["messages"])
    return message


@pytest.mark.parametrize("htmx", [False, True])
def test_add_member_answers_the_same_with_or_without_an_account(
    admin, workspace, login, htmx
):
    # Adding is an invitation now (#18 item 11): an unknown email gets an account
    # without a password. The answer and the workspace's audit trail read the same
    # either way; the account creation is recorded console-wide for staff.
    UserFactory(email="real@elsewhere.test")
    headers = {"HX-Request": "true"} if htmx else {}
    client = login(admin)
    link = re.compile(r"https?://\S+/accounts/invitation/\S+/")

    known = _add(client, workspace, "real@elsewhere.test", **headers)
    known_message = _flash(client, workspace)
    unknown = _add(client, workspace, "ghost@elsewhere.test", **headers)
    unknown_message = _flash(client, workspace)

    assert known.status_code == unknown.status_code
    assert known.content == unknown.content
    for name in ("Location", "HX-Redirect", "HX-Trigger"):
        assert known.headers.get(name) == unknown.headers.get(name)
    assert link.sub("L", known_message.replace("real@", "X@")) == link.sub(
        "L", unknown_message.replace("ghost@", "X@")
    )
    assert "No user" not in unknown_message
    assert list(
        AuditEvent.objects.filter(workspace=workspace).values_list("action", flat=True)
    ) == ["membership.invited", "membership.invited"]
    created = AuditEvent.objects.get(action="user.invited")
    assert created.workspace is None
