"""Workspace pages: create, rename, members, switching, with their audit rows."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.core.roles import Role
from apps.workspaces.models import Membership, Workspace
from tests.factories import UserFactory


def test_user_creates_workspace_and_becomes_its_admin(admin, login):
    response = login(admin).post(
        reverse("workspaces:create"), {"name": "  Marketing  "}
    )
    created = Workspace.objects.get(name="Marketing")
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "workspaces:detail", args=[created.public_id]
    )
    assert Membership.objects.get(workspace=created, user=admin).role == Role.ADMIN
    event = AuditEvent.objects.get(action="workspace.created", workspace=created)
    assert event.actor == admin
    assert event.changes["name"] == [None, "Marketing"]


def test_duplicate_workspace_name_is_refused_and_keeps_input(admin, workspace, login):
    response = login(admin).post(
        reverse("workspaces:create"),
        {"name": "acme data"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400
    assert "already exists" in response.text
    assert 'value="acme data"' in response.text
    assert "<html" not in response.text
    assert Workspace.objects.filter(name__iexact="acme data").count() == 1
    assert not AuditEvent.objects.filter(action="workspace.created").exists()


def test_empty_workspace_name_gets_a_message(admin, login):
    response = login(admin).post(reverse("workspaces:create"), {"name": "   "})
    assert response.status_code == 400
    assert "Give the workspace a name" in response.text or "required" in response.text


def test_admin_renames_workspace(admin, workspace, login):
    url = reverse("workspaces:settings", args=[workspace.public_id])
    response = login(admin).post(url, {"name": "Acme Analytics"})
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert workspace.name == "Acme Analytics"
    event = AuditEvent.objects.get(action="workspace.renamed")
    assert event.changes == {"name": ["Acme Data", "Acme Analytics"]}


def test_editor_cannot_rename_workspace(editor, workspace, login):
    url = reverse("workspaces:settings", args=[workspace.public_id])
    assert login(editor).post(url, {"name": "Hijacked"}).status_code == 403
    workspace.refresh_from_db()
    assert workspace.name == "Acme Data"


def test_outsider_gets_404_on_rename(outsider, workspace, login):
    url = reverse("workspaces:settings", args=[workspace.public_id])
    assert login(outsider).post(url, {"name": "Hijacked"}).status_code == 404


def test_admin_adds_member_by_email_over_htmx(admin, workspace, login, htmx_headers):
    newcomer = UserFactory(email="new@acme.test")
    url = reverse("workspaces:member_add", args=[workspace.public_id])
    client = login(admin)
    response = client.post(
        url, {"email": "NEW@acme.test", "role": Role.RUNNER}, headers=htmx_headers
    )
    # One neutral answer (see tests/workspaces/test_oracles.py): the page it leads
    # to shows the member list.
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == reverse(
        "workspaces:members", args=[workspace.public_id]
    )
    assert (
        Membership.objects.get(workspace=workspace, user=newcomer).role == Role.RUNNER
    )
    page = client.get(response.headers["HX-Redirect"])
    assert "new@acme.test" in page.text
    assert "is invited with the runner role" in page.text
    event = AuditEvent.objects.get(action="membership.invited")
    # The email as typed: the account's own spelling would tell it existed.
    assert event.target_label == "NEW@acme.test"
    assert event.changes == {"role": [None, "runner"]}


def test_unknown_email_gets_an_account_without_a_password(
    admin, workspace, login, htmx_headers
):
    url = reverse("workspaces:member_add", args=[workspace.public_id])
    response = login(admin).post(
        url, {"email": "ghost@acme.test", "role": Role.VIEWER}, headers=htmx_headers
    )
    assert response.status_code == 204
    ghost = Membership.objects.get(workspace=workspace, user__email="ghost@acme.test")
    assert ghost.role == Role.VIEWER
    assert not ghost.user.has_usable_password()


def test_viewer_cannot_add_member(viewer, workspace, login):
    UserFactory(email="new@acme.test")
    url = reverse("workspaces:member_add", args=[workspace.public_id])
    response = login(viewer).post(url, {"email": "new@acme.test", "role": "admin"})
    assert response.status_code == 403
    assert not Membership.objects.filter(user__email="new@acme.test").exists()


def test_admin_changes_a_role(admin, viewer, workspace, login, htmx_headers):
    membership = viewer.memberships.get()
    url = reverse(
        "workspaces:member_role", args=[workspace.public_id, membership.public_id]
    )
    response = login(admin).post(url, {"role": Role.EDITOR}, headers=htmx_headers)
    assert response.status_code == 200
    membership.refresh_from_db()
    assert membership.role == Role.EDITOR
    assert AuditEvent.objects.get(action="membership.role_changed").changes == {
        "role": ["viewer", "editor"]
    }


def test_last_admin_cannot_be_demoted(admin, workspace, login, htmx_headers):
    membership = admin.memberships.get()
    url = reverse(
        "workspaces:member_role", args=[workspace.public_id, membership.public_id]
    )
    response = login(admin).post(url, {"role": Role.VIEWER}, headers=htmx_headers)
    assert response.status_code == 400
    assert "last admin cannot be demoted" in response.headers["HX-Trigger"]
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    assert not AuditEvent.objects.filter(action="membership.role_changed").exists()


def test_last_admin_cannot_be_removed(admin, workspace, login):
    membership = admin.memberships.get()
    url = reverse(
        "workspaces:member_remove", args=[workspace.public_id, membership.public_id]
    )
    response = login(admin).post(url, follow=True)
    assert "last admin cannot be removed" in response.text
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_admin_removes_member(admin, editor, workspace, login):
    membership = editor.memberships.get()
    url = reverse(
        "workspaces:member_remove", args=[workspace.public_id, membership.public_id]
    )
    response = login(admin).post(url)
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert (
        AuditEvent.objects.get(action="membership.removed").target_label == editor.email
    )
    # The removed member no longer sees the workspace.
    page = login(editor).get(reverse("workspaces:detail", args=[workspace.public_id]))
    assert page.status_code == 404


def test_membership_of_another_workspace_is_404(admin, workspace, outsider, login):
    foreign = outsider.memberships.get()
    url = reverse(
        "workspaces:member_remove", args=[workspace.public_id, foreign.public_id]
    )
    assert login(admin).post(url).status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()


def test_switcher_lists_only_my_workspaces(admin, workspace, outsider, login):
    response = login(admin).get(
        reverse("workspaces:detail", args=[workspace.public_id])
    )
    assert "Acme Data" in response.text
    assert "Elsewhere" not in response.text


def test_home_returns_to_last_workspace(admin, workspace, login):
    client = login(admin)
    client.get(reverse("workspaces:detail", args=[workspace.public_id]))
    response = client.get(reverse("home"))
    assert response["Location"] == reverse(
        "workspaces:detail", args=[workspace.public_id]
    )


def test_tampered_public_id_is_404(admin, login):
    client = login(admin)
    assert client.get("/w/not-a-uuid/").status_code == 404


@pytest.mark.parametrize("persona", ["viewer", "runner", "editor"])
def test_non_admins_do_not_see_audit_in_navigation(persona, workspace, login, request):
    user = request.getfixturevalue(persona)
    response = login(user).get(reverse("workspaces:detail", args=[workspace.public_id]))
    assert reverse("audit:list", args=[workspace.public_id]) not in response.text


def test_workspace_list_query_count_is_bounded(
    admin, login, django_assert_max_num_queries
):
    from apps.workspaces.services import workspace_create

    for n in range(15):
        workspace_create(actor=admin, name=f"Team {n}")
    client = login(admin)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("workspaces:home"))
    assert response.text.count("Team ") >= 15
