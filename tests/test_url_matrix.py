"""Every URL the resolver knows is in the role matrix, and the matrix holds.

Adding a URL without adding it here fails ``test_every_url_is_in_the_matrix``, so a
new page cannot ship without its access rule. For each workspace URL: members whose
role allows it get through on GET, lower roles get 403, outsiders get 404. POSTs are
only sent for roles that must be refused: happy paths live in each app's tests.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from apps.connections.models import SyncJob
from apps.core.roles import Role, role_allows
from tests.factories import ConnectionFactory, DestinationFactory, SourceFactory

PUBLIC = "public"
LOGIN = "login"
# A workspace URL that also needs console staff (``is_staff``): every member who is
# not staff is refused with 403, whatever their role (outsiders still get 404).
STAFF = "staff"
# A signed-in user's own object outside any workspace (an API token): anyone else
# signed in gets 404, anonymous visitors go to sign-in.
OWNER = "owner"

# view name -> (method, who may use it): a Role for workspace URLs, LOGIN for any
# signed-in user, PUBLIC for anyone.
MATRIX: dict[str, tuple[str, str]] = {
    "home": ("GET", LOGIN),
    "healthz": ("GET", PUBLIC),
    "metrics": ("GET", PUBLIC),  # its own rule: tests/core/test_metrics.py
    "accounts:login": ("GET", PUBLIC),
    "accounts:logout": ("POST", PUBLIC),
    "accounts:password_change": ("GET", LOGIN),
    "accounts:profile": ("GET", LOGIN),
    "preferences:notifications": ("GET", LOGIN),
    "accounts:password_reset": ("GET", PUBLIC),
    "accounts:password_reset_sent": ("GET", PUBLIC),
    "accounts:password_reset_confirm": ("GET", PUBLIC),
    "accounts:invitation": ("GET", PUBLIC),
    "workspaces:home": ("GET", LOGIN),
    "workspaces:create": ("GET", LOGIN),
    "workspaces:detail": ("GET", Role.VIEWER),
    "workspaces:settings": ("GET", Role.ADMIN),
    "workspace_delete": ("GET", Role.ADMIN),
    "workspaces:members": ("GET", Role.VIEWER),
    "workspaces:member_add": ("POST", Role.ADMIN),
    "workspaces:member_role": ("POST", Role.ADMIN),
    "workspaces:member_remove": ("POST", Role.ADMIN),
    "audit:list": ("GET", Role.ADMIN),
    "credentials:list": ("GET", Role.VIEWER),
    "credentials:detail": ("GET", Role.VIEWER),
    "credentials:create": ("GET", Role.EDITOR),
    "credentials:type_fields": ("GET", Role.EDITOR),
    "credentials:pair_row": ("GET", Role.EDITOR),
    "credentials:edit": ("GET", Role.EDITOR),
    "credentials:delete": ("GET", Role.EDITOR),
    "connectors:catalog": ("GET", Role.VIEWER),
    "connectors:catalog_row": ("GET", Role.VIEWER),
    "connectors:catalog_icon": ("GET", Role.VIEWER),
    "connectors:catalog_refresh": ("POST", STAFF),
    "connectors:catalog_install": ("POST", STAFF),
    "connectors:catalog_uninstall": ("POST", STAFF),
    "connectors:source_list": ("GET", Role.VIEWER),
    "connectors:source_create": ("GET", Role.EDITOR),
    "connectors:source_detail": ("GET", Role.VIEWER),
    "connectors:source_edit": ("GET", Role.EDITOR),
    "connectors:source_delete": ("POST", Role.EDITOR),
    "connectors:source_check": ("GET", Role.VIEWER),
    "connectors:source_discover": ("GET", Role.VIEWER),
    "connectors:destination_list": ("GET", Role.VIEWER),
    "connectors:destination_create": ("GET", Role.EDITOR),
    "connectors:destination_detail": ("GET", Role.VIEWER),
    "connectors:destination_edit": ("GET", Role.EDITOR),
    "connectors:destination_delete": ("POST", Role.EDITOR),
    "connectors:destination_check": ("GET", Role.VIEWER),
    "connector_builder:list": ("GET", Role.EDITOR),
    "connector_builder:create": ("POST", Role.EDITOR),
    "connector_builder:detail": ("GET", Role.EDITOR),
    "connector_builder:save": ("POST", Role.EDITOR),
    "connector_builder:run": ("GET", Role.EDITOR),
    "connector_builder:publish": ("POST", Role.EDITOR),
    "connections:list": ("GET", Role.VIEWER),
    "connections:create": ("GET", Role.EDITOR),
    "connections:streams": ("GET", Role.EDITOR),
    "connections:detail": ("GET", Role.VIEWER),
    "connections:sync": ("POST", Role.RUNNER),
    "connections:cancel": ("POST", Role.RUNNER),
    "connections:toggle": ("POST", Role.EDITOR),
    "connections:settings": ("GET", Role.EDITOR),
    "connections:reset": ("GET", Role.EDITOR),
    "connections:schema": ("GET", Role.VIEWER),
    "connections:delete": ("POST", Role.EDITOR),
    "connections:jobs": ("GET", Role.VIEWER),
    "connections:job": ("GET", Role.VIEWER),
    "connections:job_log": ("GET", Role.VIEWER),
    "connections:job_retry": ("POST", Role.RUNNER),
    "connections:timeline": ("GET", Role.VIEWER),
    "webhooks:list": ("GET", Role.EDITOR),
    "webhooks:create": ("GET", Role.EDITOR),
    "webhooks:detail": ("GET", Role.EDITOR),
    "webhooks:edit": ("GET", Role.EDITOR),
    "webhooks:rotate": ("POST", Role.EDITOR),
    "webhooks:delete": ("GET", Role.EDITOR),
    "webhooks:test": ("POST", Role.EDITOR),
    "webhooks:resend": ("POST", Role.EDITOR),
    "notifications:list": ("GET", Role.VIEWER),
    "notifications:mark_read": ("POST", Role.VIEWER),
    "schedules:list": ("GET", Role.VIEWER),
    "schedules:create": ("GET", Role.EDITOR),
    "schedules:preview": ("GET", Role.EDITOR),
    "schedules:detail": ("GET", Role.VIEWER),
    "schedules:edit": ("GET", Role.EDITOR),
    "schedules:pause": ("POST", Role.EDITOR),
    "schedules:resume": ("POST", Role.EDITOR),
    "schedules:delete": ("GET", Role.EDITOR),
    "engine:settings": ("GET", Role.ADMIN),
    "engine:switch": ("POST", Role.ADMIN),
    "engine:server": ("POST", Role.ADMIN),
    "engine:test": ("POST", Role.ADMIN),
    "engine:workspaces": ("POST", Role.ADMIN),
    "engine:workspace": ("POST", Role.ADMIN),
    "engine:import": ("POST", Role.ADMIN),
    "engine:probe": ("GET", Role.ADMIN),
    "engine:recreate": ("POST", Role.EDITOR),
    "transforms:list": ("GET", Role.VIEWER),
    "transforms:installs": ("GET", Role.ADMIN),
    "transforms:install": ("POST", Role.ADMIN),
    "transforms:create": ("GET", Role.EDITOR),
    "transforms:trigger_add": ("POST", Role.EDITOR),
    "transforms:trigger_delete": ("POST", Role.EDITOR),
    "transforms:run": ("GET", Role.VIEWER),
    "transforms:job_runs": ("GET", Role.VIEWER),
    "transforms:runs": ("GET", Role.VIEWER),
    "transforms:run_cancel": ("POST", Role.EDITOR),
    "transforms:detail": ("GET", Role.VIEWER),
    "transforms:run_request": ("POST", Role.EDITOR),
    "transforms:schedule": ("POST", Role.EDITOR),
    "transforms:settings": ("GET", Role.EDITOR),
    "transforms:delete": ("POST", Role.EDITOR),
    "transforms:file": ("GET", Role.EDITOR),
    "transforms:file_delete": ("POST", Role.EDITOR),
    "transforms:docs": ("GET", Role.VIEWER),
    "transforms:docs_site": ("GET", Role.VIEWER),
    "transforms:docs_generate": ("POST", Role.EDITOR),
    "transforms:node": ("GET", Role.VIEWER),
    "transforms:node_run": ("POST", Role.EDITOR),
    "api_tokens:list": ("GET", LOGIN),
    "api_tokens:application_create": ("GET", LOGIN),
    "api_tokens:token_create": ("GET", LOGIN),
    "api_tokens:application_revoke": ("GET", OWNER),
    "api_tokens:token_revoke": ("GET", OWNER),
    "workspace_code:page": ("GET", Role.VIEWER),
    "workspace_code:download": ("GET", Role.VIEWER),
    "workspace_code:plan": ("POST", Role.ADMIN),
    "workspace_code:apply": ("POST", Role.ADMIN),
    "metrics:page": ("GET", Role.VIEWER),
    "quality:page": ("GET", Role.VIEWER),
    "quality:report": ("GET", Role.VIEWER),
    "optimize:recommendations": ("GET", Role.VIEWER),
}


def _walk(patterns, namespace: str = "", prefix: str = "") -> list[tuple[str, str]]:
    """(view name, full route) for every named URL outside the admin."""
    found = []
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue  # Django's admin has its own staff-only rules.
            if entry.namespace == "api":
                # The JSON API's matrix is per operation (method and path), with
                # bearer tokens instead of sessions: tests/api/test_api_roles.py.
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            found += _walk(entry.url_patterns, inner, route)
        elif isinstance(entry, URLPattern) and entry.name:
            found.append((f"{namespace}{entry.name}", route))
    return found


ALL_URLS = dict(_walk(get_resolver().url_patterns))


def test_every_url_is_in_the_matrix():
    missing = sorted(set(ALL_URLS) - set(MATRIX))
    assert not missing, f"Add these URLs to the role matrix: {missing}"


def _kwargs(name: str, workspace, members: dict) -> dict:
    """Arguments for a URL, built from the names in its pattern."""
    route = ALL_URLS[name]
    kwargs = {}
    if ":workspace_id>" in route:
        kwargs["workspace_id"] = workspace.public_id
    if ":membership_id>" in route:
        kwargs["membership_id"] = members[Role.VIEWER].memberships.get().public_id
    if ":credential_id>" in route:
        from apps.credentials.services import credential_create

        kwargs["credential_id"] = credential_create(
            actor=None,
            workspace=workspace,
            name="Matrix",
            type="api_key",
            fields={"api_key": "matrix-key"},
        ).public_id
    if ":definition_id>" in route:
        from apps.connectors.models import ConnectorDefinition

        kwargs["definition_id"] = (
            ConnectorDefinition.objects.filter(name__icontains="faker").get().public_id
        )
    if ":kind>" in route:  # engine:recreate: a source made again on the server
        kwargs["kind"] = "source"
        kwargs["public_id"] = SourceFactory(workspace=workspace).public_id
    if ":public_id>" in route and name.startswith("connectors:source"):
        kwargs["public_id"] = SourceFactory(workspace=workspace).public_id
    elif ":public_id>" in route and name.startswith("connectors:destination"):
        kwargs["public_id"] = DestinationFactory(workspace=workspace).public_id
    if ":connection_id>" in route or ":job_id>" in route:
        connection = ConnectionFactory(workspace=workspace)
        kwargs["connection_id"] = connection.public_id
        if ":job_id>" in route:
            del kwargs["connection_id"]
            kwargs["job_id"] = SyncJob.objects.create(
                public_id=uuid.uuid4(),
                connection=connection,
                trigger="manual",
                status="succeeded",
            ).public_id
    if ":project_id>" in route and name.startswith("connector_builder:"):
        from apps.connectors.builder.services import builder_project_create

        kwargs["project_id"] = builder_project_create(
            actor=None, workspace=workspace, name=f"Matrix {uuid.uuid4().hex[:8]}"
        ).public_id
    if ":endpoint_id>" in route:
        from apps.webhooks.services import endpoints as webhooks

        endpoint, _ = webhooks.webhook_endpoint_create(
            actor=None,
            workspace=workspace,
            name=f"Matrix {uuid.uuid4().hex[:8]}",
            url="https://hooks.example.com/in",
            events="sync_failed",
        )
        kwargs["endpoint_id"] = endpoint.public_id
        if ":delivery_id>" in route:
            delivery = webhooks.webhook_test_send(actor=None, endpoint=endpoint)
            kwargs["delivery_id"] = delivery.public_id
    if ":schedule_id>" in route:
        from apps.schedules.services import schedule_create

        kwargs["schedule_id"] = schedule_create(
            actor=None,
            workspace=workspace,
            connection=ConnectionFactory(workspace=workspace),
            name=f"Matrix {uuid.uuid4().hex[:8]}",
            kind="cron",
            cron_expression="0 0 * * *",
        ).public_id
    if ":probe_id>" in route:
        from apps.airbyte.models import AirbyteProbe, AirbyteServer

        server = AirbyteServer.objects.create(
            workspace=workspace, url="http://127.0.0.1:9", auth="none"
        )
        kwargs["probe_id"] = AirbyteProbe.objects.create(
            workspace=workspace, server=server, kind="test", status="failed"
        ).public_id
    if name.startswith("transforms:"):
        kwargs.update(_transforms_kwargs(route, workspace))
    unknown = re.findall(r"<(?:\w+:)?(\w+)>", route)
    assert set(unknown) <= set(kwargs), f"Teach _kwargs about {route}"
    return kwargs


def _transforms_kwargs(route: str, workspace) -> dict:
    """A dbt project with one model, one run and one after-sync trigger."""
    from apps.transforms.models import DbtProject, TransformRun, TransformTrigger

    kwargs: dict = {}
    if ":adapter>" in route:
        kwargs["adapter"] = "duckdb"
    if not any(f":{key}>" in route for key in ("project_id", "run_id", "trigger_id")):
        return kwargs
    project = DbtProject.objects.create(
        workspace=workspace,
        name=f"Matrix {uuid.uuid4().hex[:8]}",
        kind=DbtProject.Kind.UPLOAD,
        destination=DestinationFactory(workspace=workspace),
        graph={
            "nodes": [
                {
                    "unique_id": "model.matrix.users",
                    "name": "users",
                    "resource_type": "model",
                    "depends_on": [],
                }
            ]
        },
    )
    if ":project_id>" in route:
        kwargs["project_id"] = project.public_id
    if ":unique_id>" in route:
        kwargs["unique_id"] = "model.matrix.users"
    if ":run_id>" in route:
        kwargs["run_id"] = TransformRun.objects.create(
            workspace=workspace,
            project=project,
            number=1,
            command="build",
            trigger="manual",
            status="succeeded",
        ).public_id
    if ":trigger_id>" in route:
        kwargs["trigger_id"] = TransformTrigger.objects.create(
            workspace=workspace,
            connection=ConnectionFactory(workspace=workspace),
            project=project,
        ).public_id
    return kwargs


WORKSPACE_URLS = sorted(
    n for n, (_, rule) in MATRIX.items() if rule in (*Role.values, STAFF)
)


@pytest.mark.parametrize("name", WORKSPACE_URLS)
def test_workspace_url_follows_role_matrix(
    name, workspace, admin, editor, runner, viewer, outsider, login
):
    method, required = MATRIX[name]
    members = {
        Role.ADMIN: admin,
        Role.EDITOR: editor,
        Role.RUNNER: runner,
        Role.VIEWER: viewer,
    }
    url = reverse(name, kwargs=_kwargs(name, workspace, members))
    for role, user in members.items():
        client = login(user)
        allowed = required != STAFF and role_allows(role, required)
        if method == "GET":
            status = client.get(url).status_code
            assert status == 200 if allowed else status == 403, (name, role, status)
        elif not allowed:
            status = client.post(url).status_code
            assert status == 403, (name, role, status)
    outsider_client = login(outsider)
    send = outsider_client.get if method == "GET" else outsider_client.post
    assert send(url).status_code == 404, (name, "outsider")


@pytest.mark.parametrize("name", WORKSPACE_URLS)
def test_workspace_url_with_unknown_id_is_404(name, workspace, admin, login):
    kwargs = _kwargs(name, workspace, {Role.VIEWER: admin})
    kwargs = {key: uuid.uuid4() for key in kwargs}
    method = MATRIX[name][0]
    client = login(admin)
    response = (client.get if method == "GET" else client.post)(
        reverse(name, kwargs=kwargs)
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "name", sorted(n for n, (_, rule) in MATRIX.items() if rule == LOGIN)
)
def test_login_url_redirects_anonymous_to_sign_in(name, client, db):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def _owned(name: str, owner) -> dict:
    """Arguments for an OWNER URL: an object of ``owner``'s."""
    from apps.api.services import application_create, token_create

    if "application_id>" in ALL_URLS[name]:
        application, _ = application_create(actor=owner, name="Matrix app")
        return {"application_id": application.public_id}
    token, _ = token_create(actor=owner, name="Matrix token")
    return {"token_id": token.public_id}


@pytest.mark.parametrize(
    "name", sorted(n for n, (_, rule) in MATRIX.items() if rule == OWNER)
)
def test_owner_url_is_only_for_its_owner(name, admin, outsider, login, client):
    url = reverse(name, kwargs=_owned(name, admin))
    assert login(admin).get(url).status_code == 200
    assert login(outsider).get(url).status_code == 404
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("accounts:login"))
