"""The API's role matrix: every operation declares who may call it, and is held to it.

``MATRIX`` maps each operation of ``apps.api.api.api`` (method and path, as ninja
registers them) to its rule: ``PUBLIC`` (no token), ``TOKEN`` (any valid token; the
call only touches the caller's own things), or the workspace role it needs. An
operation missing from the matrix fails ``test_every_api_operation_declares_its_rule``,
so no endpoint ships without its rule.

For each workspace-scoped operation, called with a valid request on the personas'
workspace: no token gets 401; an outsider's token 404 (never 403: the API does not
tell which ids exist elsewhere); a member below the role 403 naming the role; a
member at or above it gets through (any answer but those). Every exchange is checked
against the spec by ``api_client``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from ninja.utils import normalize_path

from apps.api import services
from apps.connections.models import SyncAttempt, SyncJob
from apps.connectors.models import Destination, Source
from apps.core.roles import Role
from tests.engines.fixtures import DUCKDB_ID, FAKER_ID, definition
from tests.factories import FAKER_CATALOG, ConnectionFactory

PUBLIC = "public"
TOKEN = "any token"
P = "/api/public/v1"
C = "/api/v1"
K = "/api/console/v1"
ROLES = [Role.VIEWER, Role.RUNNER, Role.EDITOR, Role.ADMIN]


@dataclass(frozen=True)
class Rule:
    """Who may call an operation, and a valid call of it on the objects in ``ctx``."""

    needs: str
    call: Callable[[SimpleNamespace], dict[str, Any]] = field(repr=False)
    # The call waits on a worker (check, discover): run it outside a transaction.
    waits: bool = False


def _faker(count: int = 5) -> dict[str, Any]:
    return {"sourceType": "faker", "count": count}


def _duckdb(path: str = "roles.duckdb") -> dict[str, Any]:
    return {"destinationType": "duckdb", "destination_path": path}


def _ws(ctx) -> str:
    return str(ctx.workspace.public_id)


MATRIX: dict[tuple[str, str], Rule] = {
    # --- Public API ---------------------------------------------------------------
    ("GET", f"{P}/health"): Rule(PUBLIC, lambda ctx: {"path": f"{P}/health"}),
    ("POST", f"{P}/applications/token"): Rule(
        PUBLIC, lambda ctx: {"path": f"{P}/applications/token", "json": ctx.credentials}
    ),
    ("GET", f"{P}/applications"): Rule(
        TOKEN, lambda ctx: {"path": f"{P}/applications"}
    ),
    ("POST", f"{P}/applications"): Rule(
        TOKEN, lambda ctx: {"path": f"{P}/applications", "json": {"name": "Another"}}
    ),
    ("GET", f"{P}/applications/{{applicationId}}"): Rule(
        TOKEN, lambda ctx: {"path": f"{P}/applications/{ctx.application.public_id}"}
    ),
    ("DELETE", f"{P}/applications/{{applicationId}}"): Rule(
        TOKEN, lambda ctx: {"path": f"{P}/applications/{ctx.application.public_id}"}
    ),
    ("GET", f"{P}/workspaces"): Rule(TOKEN, lambda ctx: {"path": f"{P}/workspaces"}),
    ("POST", f"{P}/workspaces"): Rule(
        TOKEN, lambda ctx: {"path": f"{P}/workspaces", "json": {"name": "My own"}}
    ),
    ("GET", f"{P}/workspaces/{{workspaceId}}"): Rule(
        Role.VIEWER, lambda ctx: {"path": f"{P}/workspaces/{_ws(ctx)}"}
    ),
    ("PATCH", f"{P}/workspaces/{{workspaceId}}"): Rule(
        Role.ADMIN,
        lambda ctx: {"path": f"{P}/workspaces/{_ws(ctx)}", "json": {"name": "Renamed"}},
    ),
    # Refused to everyone (deleting a workspace is typed out on its settings page),
    # but only after the role check: a non-admin learns about the role first.
    ("DELETE", f"{P}/workspaces/{{workspaceId}}"): Rule(
        Role.ADMIN, lambda ctx: {"path": f"{P}/workspaces/{_ws(ctx)}"}
    ),
    ("GET", f"{P}/sources"): Rule(
        Role.VIEWER,
        lambda ctx: {"path": f"{P}/sources", "query": {"workspaceIds": _ws(ctx)}},
    ),
    ("POST", f"{P}/sources"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{P}/sources",
            "json": {
                "name": "New faker",
                "workspaceId": _ws(ctx),
                "configuration": _faker(),
            },
        },
    ),
    ("GET", f"{P}/sources/{{sourceId}}"): Rule(
        Role.VIEWER, lambda ctx: {"path": f"{P}/sources/{ctx.source.public_id}"}
    ),
    ("PATCH", f"{P}/sources/{{sourceId}}"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{P}/sources/{ctx.source.public_id}",
            "json": {"name": "Renamed"},
        },
    ),
    ("PUT", f"{P}/sources/{{sourceId}}"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{P}/sources/{ctx.source.public_id}",
            "json": {"name": "Renamed", "configuration": _faker(7)},
        },
    ),
    ("DELETE", f"{P}/sources/{{sourceId}}"): Rule(
        Role.EDITOR, lambda ctx: {"path": f"{P}/sources/{ctx.spare_source.public_id}"}
    ),
    ("GET", f"{P}/destinations"): Rule(
        Role.VIEWER,
        lambda ctx: {"path": f"{P}/destinations", "query": {"workspaceIds": _ws(ctx)}},
    ),
    ("POST", f"{P}/destinations"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{P}/destinations",
            "json": {
                "name": "New DuckDB",
                "workspaceId": _ws(ctx),
                "configuration": _duckdb("new.duckdb"),
            },
        },
    ),
    ("GET", f"{P}/destinations/{{destinationId}}"): Rule(
        Role.VIEWER,
        lambda ctx: {"path": f"{P}/destinations/{ctx.destination.public_id}"},
    ),
    ("PATCH", f"{P}/destinations/{{destinationId}}"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{P}/destinations/{ctx.destination.public_id}",
            "json": {"name": "Renamed"},
        },
    ),
    ("PUT", f"{P}/destinations/{{destinationId}}"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{P}/destinations/{ctx.destination.public_id}",
            "json": {"name": "Renamed", "configuration": _duckdb("other.duckdb")},
        },
    ),
    ("DELETE", f"{P}/destinations/{{destinationId}}"): Rule(
        Role.EDITOR,
        lambda ctx: {"path": f"{P}/destinations/{ctx.spare_destination.public_id}"},
    ),
    ("GET", f"{P}/connections"): Rule(
        Role.VIEWER,
        lambda ctx: {"path": f"{P}/connections", "query": {"workspaceIds": _ws(ctx)}},
    ),
    ("POST", f"{P}/connections"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{P}/connections",
            "json": {
                "sourceId": str(ctx.source.public_id),
                "destinationId": str(ctx.destination.public_id),
                "name": "Another",
            },
        },
    ),
    ("GET", f"{P}/connections/{{connectionId}}"): Rule(
        Role.VIEWER,
        lambda ctx: {"path": f"{P}/connections/{ctx.connection.public_id}"},
    ),
    ("PATCH", f"{P}/connections/{{connectionId}}"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{P}/connections/{ctx.connection.public_id}",
            "json": {"name": "Renamed"},
        },
    ),
    ("DELETE", f"{P}/connections/{{connectionId}}"): Rule(
        Role.EDITOR,
        lambda ctx: {"path": f"{P}/connections/{ctx.connection.public_id}"},
    ),
    ("GET", f"{P}/jobs"): Rule(
        Role.VIEWER,
        lambda ctx: {"path": f"{P}/jobs", "query": {"workspaceIds": _ws(ctx)}},
    ),
    ("POST", f"{P}/jobs"): Rule(
        Role.RUNNER,
        lambda ctx: {
            "path": f"{P}/jobs",
            "json": {"connectionId": str(ctx.connection.public_id), "jobType": "sync"},
        },
    ),
    ("GET", f"{P}/jobs/{{jobId}}"): Rule(
        Role.VIEWER, lambda ctx: {"path": f"{P}/jobs/{ctx.job.pk}"}
    ),
    ("DELETE", f"{P}/jobs/{{jobId}}"): Rule(
        Role.RUNNER, lambda ctx: {"path": f"{P}/jobs/{ctx.running_job.pk}"}
    ),
    # The streams found last time are read by viewers; a new discover needs an
    # editor (``ignoreCache``), below.
    ("GET", f"{P}/streams"): Rule(
        Role.VIEWER,
        lambda ctx: {
            "path": f"{P}/streams",
            "query": {"sourceId": str(ctx.source.public_id)},
        },
    ),
    # --- Config API ---------------------------------------------------------------
    ("GET", f"{C}/health"): Rule(PUBLIC, lambda ctx: {"path": f"{C}/health"}),
    ("POST", f"{C}/health"): Rule(PUBLIC, lambda ctx: {"path": f"{C}/health"}),
    ("POST", f"{C}/applications/token"): Rule(
        PUBLIC,
        lambda ctx: {
            "path": f"{C}/applications/token",
            "json": {
                "client_id": ctx.credentials["client_id"],
                "client_secret": ctx.credentials["client_secret"],
            },
        },
    ),
    ("POST", f"{C}/applications/list"): Rule(
        TOKEN, lambda ctx: {"path": f"{C}/applications/list", "json": {}}
    ),
    ("POST", f"{C}/applications/create"): Rule(
        TOKEN,
        lambda ctx: {"path": f"{C}/applications/create", "json": {"name": "Another"}},
    ),
    ("POST", f"{C}/applications/delete"): Rule(
        TOKEN,
        lambda ctx: {
            "path": f"{C}/applications/delete",
            "json": {"applicationId": str(ctx.application.public_id)},
        },
    ),
    ("GET", f"{C}/instance_configuration"): Rule(
        PUBLIC, lambda ctx: {"path": f"{C}/instance_configuration"}
    ),
    ("POST", f"{C}/source_definitions/list_for_workspace"): Rule(
        Role.VIEWER,
        lambda ctx: {
            "path": f"{C}/source_definitions/list_for_workspace",
            "json": {"workspaceId": _ws(ctx)},
        },
    ),
    ("POST", f"{C}/destination_definitions/list_for_workspace"): Rule(
        Role.VIEWER,
        lambda ctx: {
            "path": f"{C}/destination_definitions/list_for_workspace",
            "json": {"workspaceId": _ws(ctx)},
        },
    ),
    ("POST", f"{C}/source_definition_specifications/get"): Rule(
        Role.VIEWER,
        lambda ctx: {
            "path": f"{C}/source_definition_specifications/get",
            "json": {"sourceDefinitionId": str(FAKER_ID), "workspaceId": _ws(ctx)},
        },
    ),
    ("POST", f"{C}/destination_definition_specifications/get"): Rule(
        Role.VIEWER,
        lambda ctx: {
            "path": f"{C}/destination_definition_specifications/get",
            "json": {
                "destinationDefinitionId": str(DUCKDB_ID),
                "workspaceId": _ws(ctx),
            },
        },
    ),
    ("POST", f"{C}/sources/list"): Rule(
        Role.VIEWER,
        lambda ctx: {"path": f"{C}/sources/list", "json": {"workspaceId": _ws(ctx)}},
    ),
    ("GET", f"{C}/sources/list"): Rule(
        Role.VIEWER,
        lambda ctx: {"path": f"{C}/sources/list", "query": {"workspaceId": _ws(ctx)}},
    ),
    ("POST", f"{C}/destinations/list"): Rule(
        Role.VIEWER,
        lambda ctx: {
            "path": f"{C}/destinations/list",
            "json": {"workspaceId": _ws(ctx)},
        },
    ),
    ("GET", f"{C}/destinations/list"): Rule(
        Role.VIEWER,
        lambda ctx: {
            "path": f"{C}/destinations/list",
            "query": {"workspaceId": _ws(ctx)},
        },
    ),
    ("POST", f"{C}/sources/create"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{C}/sources/create",
            "json": {
                "workspaceId": _ws(ctx),
                "name": "Config faker",
                "sourceDefinitionId": str(FAKER_ID),
                "connectionConfiguration": {"count": 5},
            },
        },
    ),
    ("POST", f"{C}/destinations/create"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{C}/destinations/create",
            "json": {
                "workspaceId": _ws(ctx),
                "name": "Config DuckDB",
                "destinationDefinitionId": str(DUCKDB_ID),
                "connectionConfiguration": {"destination_path": "config.duckdb"},
            },
        },
    ),
    ("POST", f"{C}/scheduler/sources/check_connection"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{C}/scheduler/sources/check_connection",
            "json": {
                "workspaceId": _ws(ctx),
                "sourceDefinitionId": str(FAKER_ID),
                "connectionConfiguration": {"count": 5},
            },
        },
        waits=True,
    ),
    ("POST", f"{C}/scheduler/destinations/check_connection"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{C}/scheduler/destinations/check_connection",
            "json": {
                "workspaceId": _ws(ctx),
                "destinationDefinitionId": str(DUCKDB_ID),
                "connectionConfiguration": {"destination_path": "check.duckdb"},
            },
        },
        waits=True,
    ),
    ("POST", f"{C}/sources/check_connection_for_update"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{C}/sources/check_connection_for_update",
            "json": {
                "sourceId": str(ctx.source.public_id),
                "name": ctx.source.name,
                "connectionConfiguration": {"count": 6},
            },
        },
        waits=True,
    ),
    ("POST", f"{C}/destinations/check_connection_for_update"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{C}/destinations/check_connection_for_update",
            "json": {
                "destinationId": str(ctx.destination.public_id),
                "name": ctx.destination.name,
                "connectionConfiguration": {"destination_path": "roles.duckdb"},
            },
        },
        waits=True,
    ),
    ("POST", f"{C}/sources/discover_schema"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{C}/sources/discover_schema",
            "json": {"sourceId": str(ctx.source.public_id)},
        },
        waits=True,
    ),
    ("POST", f"{C}/connections/create"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{C}/connections/create",
            "json": {
                "sourceId": str(ctx.source.public_id),
                "destinationId": str(ctx.destination.public_id),
                "status": "active",
                "name": "Config connection",
            },
        },
    ),
    ("POST", f"{C}/connections/sync"): Rule(
        Role.RUNNER,
        lambda ctx: {
            "path": f"{C}/connections/sync",
            "json": {"connectionId": str(ctx.connection.public_id)},
        },
    ),
    # Clearing deletes the data a sync loaded: an editor's call, not a runner's.
    ("POST", f"{C}/connections/clear/stream"): Rule(
        Role.EDITOR,
        lambda ctx: {
            "path": f"{C}/connections/clear/stream",
            "json": {
                "connectionId": str(ctx.connection.public_id),
                "streams": [{"streamName": "users"}],
            },
        },
    ),
    ("POST", f"{C}/jobs/get"): Rule(
        Role.VIEWER, lambda ctx: {"path": f"{C}/jobs/get", "json": {"id": ctx.job.pk}}
    ),
    ("POST", f"{C}/jobs/get_without_logs"): Rule(
        Role.VIEWER,
        lambda ctx: {"path": f"{C}/jobs/get_without_logs", "json": {"id": ctx.job.pk}},
    ),
    ("POST", f"{C}/attempt/get_for_job"): Rule(
        Role.VIEWER,
        lambda ctx: {
            "path": f"{C}/attempt/get_for_job",
            "json": {"jobId": ctx.job.pk, "attemptNumber": 0},  # Airbyte counts from 0
        },
    ),
    ("POST", f"{C}/jobs/list"): Rule(
        Role.VIEWER,
        lambda ctx: {
            "path": f"{C}/jobs/list",
            "json": {
                "configTypes": ["sync"],
                "configId": str(ctx.connection.public_id),
            },
        },
    ),
    ("GET", f"{C}/jobs/list"): Rule(
        Role.VIEWER,
        lambda ctx: {"path": f"{C}/jobs/list", "query": {"workspaceId": _ws(ctx)}},
    ),
    # --- The console's own --------------------------------------------------------
    ("GET", f"{K}/workspaces/{{workspace_id}}/export"): Rule(
        Role.VIEWER, lambda ctx: {"path": f"{K}/workspaces/{_ws(ctx)}/export"}
    ),
    ("POST", f"{K}/workspaces/{{workspace_id}}/import"): Rule(
        Role.ADMIN,
        lambda ctx: {
            "path": f"{K}/workspaces/{_ws(ctx)}/import",
            "json": {"document": "sources: []\n", "dry_run": True},
        },
    ),
}

# Calls that are not operations of their own but a rule of one: rediscovering
# streams (``ignoreCache``) needs an editor.
EXTRA_CALLS: dict[str, tuple[tuple[str, str], Rule]] = {
    "GET streams?ignoreCache=true": (
        ("GET", f"{P}/streams"),
        Rule(
            Role.EDITOR,
            lambda ctx: {
                "path": f"{P}/streams",
                "query": {"sourceId": str(ctx.source.public_id), "ignoreCache": "true"},
            },
            waits=True,
        ),
    ),
}


def api_operations() -> dict[tuple[str, str], bool]:
    """Every (method, path) of the API, and whether it asks for a token."""
    from apps.api.api import api

    found: dict[tuple[str, str], bool] = {}
    for router in api._get_bound_routers():
        for path, view in router.path_operations.items():
            full = normalize_path(
                "/api/" + "/".join(p for p in (router.prefix, path) if p)
            )
            for operation in view.operations:
                for method in operation.methods:
                    found[(method.upper(), full)] = bool(operation.auth_callbacks)
    return found


def test_every_api_operation_declares_its_rule():
    operations = api_operations()

    missing = sorted(set(operations) - set(MATRIX))
    stale = sorted(set(MATRIX) - set(operations))
    assert not missing, f"operations without a rule in MATRIX: {missing}"
    assert not stale, f"MATRIX rules for operations that do not exist: {stale}"


def test_only_public_operations_go_without_a_token():
    operations = api_operations()

    wrong = sorted(
        f"{method} {path}: rule {MATRIX[(method, path)].needs!r}, token "
        f"{'asked' if asks else 'not asked'}"
        for (method, path), asks in operations.items()
        if (method, path) in MATRIX and (MATRIX[(method, path)].needs != PUBLIC) != asks
    )
    assert not wrong, wrong


@pytest.fixture
def ctx(workspace, admin, editor, runner, viewer, outsider, settings, tmp_path):
    """One of everything in the personas' workspace."""
    settings.DUCKDB_DIR = tmp_path
    settings.API_WAIT_SECONDS = 0.5  # nothing answers a wait here: 503 at once
    settings.API_RATE_LIMIT = 0
    faker, duckdb = definition(FAKER_ID), definition(DUCKDB_ID)

    def source(name: str) -> Source:
        return Source.objects.create(
            workspace=workspace,
            name=name,
            definition=faker,
            config={"count": 5},
            catalog=FAKER_CATALOG,
        )

    def destination(name: str, path: str) -> Destination:
        return Destination.objects.create(
            workspace=workspace,
            name=name,
            definition=duckdb,
            config={"destination_path": path},
        )

    connection = ConnectionFactory(
        workspace=workspace,
        source=source("Faker"),
        destination=destination("DuckDB", "roles.duckdb"),
    )
    job = SyncJob.objects.create(
        connection=connection, trigger="manual", status="succeeded"
    )
    SyncAttempt.objects.create(job=job, number=1, status="succeeded", log="done")
    running = SyncJob.objects.create(
        connection=connection, trigger="manual", status="running"
    )
    # The viewer's own application: the token tests call as the viewer.
    application, secret = services.application_create(actor=viewer, name="Roles")
    return SimpleNamespace(
        application=application,
        credentials={
            "client_id": application.client_id,
            "client_secret": secret,
            "grant_type": "client_credentials",
        },
        workspace=workspace,
        source=connection.source,
        destination=connection.destination,
        connection=connection,
        job=job,
        running_job=running,
        spare_source=source("Unused faker"),
        spare_destination=destination("Unused DuckDB", "unused.duckdb"),
    )


def _scoped_cases():
    rules = [(f"{m} {p}", (m, p), rule) for (m, p), rule in MATRIX.items()]
    rules += [(label, key, rule) for label, (key, rule) in EXTRA_CALLS.items()]
    for label, key, rule in rules:
        if rule.needs in (PUBLIC, TOKEN):
            continue
        marks = [pytest.mark.django_db(transaction=True)] if rule.waits else []
        for persona in ("anonymous", "outsider", *ROLES):
            yield pytest.param(key, rule, persona, id=f"{label}-{persona}", marks=marks)


def _role_refusal(response) -> bool:
    if response.status_code != 403:
        return False
    body = json.loads(response.content)
    # The Public API's problem says it in ``detail``, the Config API's in ``message``.
    return "role" in (body.get("detail") or body.get("message") or "")


@pytest.mark.django_db
@pytest.mark.parametrize(("operation", "rule", "persona"), list(_scoped_cases()))
def test_workspace_operation_honours_its_role(
    operation, rule, persona, ctx, api_client, request
):
    call = rule.call(ctx)
    method = operation[0]
    client = (
        api_client()
        if persona == "anonymous"
        else api_client(request.getfixturevalue(persona))
    )

    response = client.request(
        method,
        call["path"],
        json=call.get("json"),
        query=call.get("query"),
        valid_request=persona != "anonymous",  # the spec asks every call for a token
    )

    where = f"{method} {call['path']} as {persona}"
    if persona == "anonymous":
        assert response.status_code == 401, where
    elif persona == "outsider":
        assert response.status_code == 404, where
    elif ROLES.index(persona) < ROLES.index(rule.needs):
        assert _role_refusal(response), (where, response.status_code, response.content)
    else:
        assert response.status_code not in (401, 404), (where, response.content)
        assert not _role_refusal(response), (where, response.content)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("operation", "rule", "persona"),
    [
        pytest.param(key, rule, persona, id=f"{key[0]} {key[1]}-{persona}")
        for key, rule in MATRIX.items()
        if rule.needs in (PUBLIC, TOKEN)
        for persona in ("anonymous", Role.VIEWER)
    ],
)
def test_public_and_token_operations(operation, rule, persona, ctx, api_client, viewer):
    call = rule.call(ctx)
    anonymous = persona == "anonymous"
    client = api_client() if anonymous else api_client(viewer)

    response = client.request(
        operation[0],
        call["path"],
        json=call.get("json"),
        query=call.get("query"),
        # Airbyte's spec asks a token of every call but health and the token
        # exchange: a call without one is off-spec on purpose here.
        valid_request=not anonymous or rule.needs == PUBLIC,
    )

    where = f"{operation[0]} {call['path']} as {persona}"
    if anonymous and rule.needs == TOKEN:
        assert response.status_code == 401, where
    else:
        assert response.status_code < 400, (where, response.content)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["pat", "application"])
def test_a_token_stops_reaching_a_workspace_its_owner_left(
    kind, editor, workspace, api_token, api_client
):
    client = api_client(token=api_token(editor, kind=kind))
    path = f"{P}/workspaces/{workspace.public_id}"
    assert client.get(path).status_code == 200

    workspace.memberships.filter(user=editor).delete()

    response = client.get(path)
    assert response.status_code == 404
    assert client.get(f"{P}/workspaces").json()["data"] == []
