"""Public API workspaces: the caller's own, create as the page allows, admin rename,
and a delete that points at the settings page."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from apps.audit.models import AuditEvent
from apps.core.roles import Role
from apps.workspaces.models import Membership, Workspace
from tests.factories import MembershipFactory, WorkspaceFactory

URL = "/api/public/v1/workspaces"


def test_list_shows_only_the_callers_workspaces(api_client, viewer, workspace):
    WorkspaceFactory(name="Not mine")

    response = api_client(viewer).get(URL)

    assert response.status_code == 200
    body = response.json()
    assert [w["name"] for w in body["data"]] == ["Acme Data"]
    assert body["data"][0]["workspaceId"] == str(workspace.public_id)
    assert body["data"][0]["dataResidency"] == "auto"
    assert body["next"] == "" and body["previous"] == ""


def test_a_workspace_id_the_caller_cannot_see_is_a_404_in_lists_too(
    api_client, viewer, workspace
):
    elsewhere = WorkspaceFactory(name="Elsewhere")
    client = api_client(viewer)

    listed = client.get(URL, query={"workspaceIds": [str(elsewhere.public_id)]})
    got = client.get(f"{URL}/{elsewhere.public_id}")
    unknown = client.get(f"{URL}/not-an-id")

    assert listed.status_code == got.status_code == unknown.status_code == 404
    assert listed.json()["data"]["resourceId"] == str(elsewhere.public_id)
    assert "Elsewhere" not in listed.content.decode() + got.content.decode()


def test_pages_of_workspaces_link_to_each_other(api_client, viewer, workspace):
    for n in range(4):
        MembershipFactory(
            user=viewer, workspace=WorkspaceFactory(name=f"W{n}"), role=Role.VIEWER
        )
    client = api_client(viewer)

    def follow(link: str) -> dict:
        parts = urlsplit(link)
        return client.get(parts.path, query=dict(parse_qsl(parts.query))).json()

    first = client.get(URL, query={"limit": 3}).json()
    second = follow(first["next"])

    assert len(first["data"]) == 3
    assert len(second["data"]) == 2
    assert second["next"] == ""
    assert follow(second["previous"])["data"] == first["data"]
    assert client.get(URL, query={"offset": 100}).json()["data"] == []


def test_anyone_creates_a_workspace_and_becomes_its_admin(api_client, viewer):
    response = api_client(viewer).post(URL, json={"name": "Analytics"})

    assert response.status_code == 200
    created = Workspace.objects.get(public_id=response.json()["workspaceId"])
    assert created.name == "Analytics"
    assert Membership.objects.get(workspace=created, user=viewer).role == Role.ADMIN
    assert AuditEvent.objects.filter(
        action="workspace.created", actor=viewer, workspace=created
    ).exists()


def test_only_staff_create_when_the_console_says_so(api_client, viewer, settings, db):
    settings.CONSOLE_WORKSPACE_CREATORS = "staff"

    response = api_client(viewer).post(URL, json={"name": "Analytics"})

    assert response.status_code == 403
    assert "only staff" in response.json()["detail"]
    assert not Workspace.objects.filter(name="Analytics").exists()


def test_a_name_taken_among_ones_workspaces_is_a_400_naming_the_field(
    api_client, admin, workspace
):
    response = api_client(admin).post(URL, json={"name": "acme data"})

    assert response.status_code == 400
    assert response.json()["data"]["errors"][0]["path"] == "name"
    assert Workspace.objects.count() == 1


def test_admin_renames_and_others_cannot(
    api_client, admin, editor, outsider, workspace
):
    url = f"{URL}/{workspace.public_id}"

    by_editor = api_client(editor).patch(url, json={"name": "Nope"})
    by_outsider = api_client(outsider).patch(url, json={"name": "Nope"})
    by_admin = api_client(admin).patch(url, json={"name": "Acme Analytics"})

    assert by_editor.status_code == 403
    assert by_outsider.status_code == 404
    assert by_admin.status_code == 200
    assert by_admin.json()["name"] == "Acme Analytics"
    workspace.refresh_from_db()
    assert workspace.name == "Acme Analytics"
    assert AuditEvent.objects.filter(action="workspace.renamed", actor=admin).exists()


def test_delete_is_refused_with_the_settings_page_to_use(
    api_client, admin, viewer, outsider, workspace
):
    url = f"{URL}/{workspace.public_id}"

    by_admin = api_client(admin).delete(url)
    by_viewer = api_client(viewer).delete(url)
    by_outsider = api_client(outsider).delete(url)

    assert by_admin.status_code == 403
    assert f"/w/{workspace.public_id}/settings/" in by_admin.json()["detail"]
    assert by_viewer.status_code == 403
    assert by_outsider.status_code == 404
    assert Workspace.objects.filter(pk=workspace.pk).exists()


def test_malformed_body_is_a_400_problem(api_client, admin, workspace):
    client = api_client(admin)

    broken = client.post(URL, raw=b"{nope", valid_request=False)
    missing = client.post(URL, json={}, valid_request=False)

    assert broken.status_code == 400
    assert missing.status_code == 400
    assert missing.json()["data"]["errors"][0]["path"] == "name"
    assert Workspace.objects.count() == 1
