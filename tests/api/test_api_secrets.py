"""No secret comes back from the API: the secret-canary crawl of every read.

Secrets are stored the ways a workspace gets them: through the Public API (a
PostgreSQL password, a MotherDuck key), through the Config API, through the
services (a source's secret, a credential's field), in a job's failure and log (as
the worker masks them), plus the caller's own application secret and token. Then
every GET operation of the API is called on those objects (lists and gets, the
OpenAPI document and the docs page), and the Config API's reads (all POST), as the
workspace admin. None of the answers holds the canary, nor does any audit row.
"""

from __future__ import annotations

import json

import pytest

from apps.api import services
from apps.audit.models import AuditEvent
from apps.connections.models import SyncAttempt, SyncJob
from apps.connectors.models import Destination, Source
from apps.credentials.services import credential_create
from tests.api.test_api_roles import MATRIX, api_operations, ctx  # noqa: F401
from tests.engines.fixtures import FAKER_ID, POSTGRES_ID, definition
from tests.factories import FAKER_CATALOG, ConnectionFactory

CANARY = "Canary-Api-Secret-5e2a91"
P = "/api/public/v1"
C = "/api/v1"

# The Config API reads: POST, like everything in that API.
CONFIG_READS = [
    ("POST", f"{C}/applications/list"),
    ("POST", f"{C}/source_definitions/list_for_workspace"),
    ("POST", f"{C}/destination_definitions/list_for_workspace"),
    ("POST", f"{C}/sources/list"),
    ("POST", f"{C}/destinations/list"),
    ("POST", f"{C}/jobs/get"),
    ("POST", f"{C}/jobs/get_without_logs"),
    ("POST", f"{C}/attempt/get_for_job"),
    ("POST", f"{C}/jobs/list"),
]
DOCUMENTS = [f"{P}/openapi.json", f"{P}/docs"]


def _postgres(**extra) -> dict:
    return {
        "host": "127.0.0.1",
        "port": 5432,
        "database": "warehouse",
        "schema": "public",
        "username": "loader",
        **extra,
    }


@pytest.fixture
def secrets_everywhere(ctx, admin, workspace, api_client):  # noqa: F811
    """``ctx`` of the role tests, its objects now holding the canary."""
    client = api_client(admin)
    ws = str(workspace.public_id)
    made = client.post(
        f"{P}/destinations",
        json={
            "name": "Warehouse",
            "workspaceId": ws,
            "configuration": {
                "destinationType": "postgres",
                **_postgres(password=CANARY),
            },
        },
    )
    assert made.status_code == 200, made.content
    warehouse = Destination.objects.get(public_id=made.json()["destinationId"])
    # The secret is stored (else this test could not fail), but not shown.
    assert CANARY in warehouse.secrets
    assert CANARY.encode() not in made.content
    made = client.post(
        f"{C}/destinations/create",
        json={
            "workspaceId": ws,
            "name": "Warehouse (Config API)",
            "destinationDefinitionId": str(POSTGRES_ID),
            "connectionConfiguration": _postgres(password=CANARY),
        },
    )
    assert made.status_code == 200, made.content
    assert CANARY.encode() not in made.content
    credential = credential_create(
        actor=admin,
        workspace=workspace,
        name="Warehouse login",
        type="api_key",
        fields={"api_key": CANARY},
    )
    warehouse.credentials.add(credential)
    source = Source.objects.create(
        workspace=workspace,
        name="Faker with a key",
        definition=definition(FAKER_ID),
        config={"count": 5},
        secrets=json.dumps({"/api_key": CANARY}),
        catalog=FAKER_CATALOG,
    )
    connection = ConnectionFactory(
        workspace=workspace, source=source, destination=warehouse
    )
    job = SyncJob.objects.create(
        connection=connection,
        trigger="manual",
        status="failed",
        failure_message="Auth failed for key **********",
    )
    SyncAttempt.objects.create(
        job=job,
        number=1,
        status="failed",
        log="2026-01-01 00:00:00 ERROR using api key **********",
    )
    ctx.source, ctx.destination, ctx.connection, ctx.job = (
        source,
        warehouse,
        connection,
        job,
    )
    # The crawl runs as the admin: the application it reads is the admin's.
    application, secret = services.application_create(actor=admin, name="Crawler")
    ctx.application = application
    ctx.credentials = {"client_id": application.client_id, "client_secret": secret}
    return ctx


def _reads():
    gets = [key for key in MATRIX if key[0] == "GET"]
    return gets + CONFIG_READS


def test_the_crawl_covers_every_get_operation():
    gets = {key for key in api_operations() if key[0] == "GET"}

    assert gets <= set(_reads()), sorted(gets - set(_reads()))


@pytest.mark.django_db
def test_no_api_answer_holds_a_secret(secrets_everywhere, admin, api_client):
    application_secret = secrets_everywhere.credentials["client_secret"]
    client = api_client(admin)
    bearer = client.token
    answers: dict[str, bytes] = {}

    for key in _reads():
        call = MATRIX[key].call(secrets_everywhere)
        response = client.request(
            key[0], call["path"], json=call.get("json"), query=call.get("query")
        )
        assert response.status_code == 200, (key, response.content)
        answers[f"{key[0]} {call['path']}"] = response.content
    for path in DOCUMENTS:
        response = client.get(path)
        assert response.status_code == 200, path
        answers[f"GET {path}"] = response.content
    # A PUT sending the mask back keeps the secret, and its answer masks it again.
    destination = secrets_everywhere.destination
    response = client.put(
        f"{P}/destinations/{destination.public_id}",
        json={
            "name": "Warehouse",
            "configuration": {
                "destinationType": "postgres",
                **_postgres(password="**********"),
            },
        },
    )
    assert response.status_code == 200, response.content
    answers["PUT destination"] = response.content
    destination.refresh_from_db()
    assert CANARY in destination.secrets

    # Refusals of a body that carries the secret never quote it back: a wrong type
    # beside it, and the secret itself in the wrong shape.
    ws = str(secrets_everywhere.destination.workspace.public_id)
    refusals = {
        "POST destination, bad port": client.post(
            f"{P}/destinations",
            json={
                "name": "Broken",
                "workspaceId": ws,
                "configuration": {
                    "destinationType": "postgres",
                    **_postgres(port="not a port", password=CANARY),
                },
            },
        ),
        "PATCH destination, secret as an object": client.patch(
            f"{P}/destinations/{destination.public_id}",
            json={"configuration": {"password": {"value": CANARY}}},
        ),
        "POST Config API create, bad port": client.post(
            f"{C}/destinations/create",
            json={
                "workspaceId": ws,
                "name": "Broken (Config API)",
                "destinationDefinitionId": str(POSTGRES_ID),
                "connectionConfiguration": _postgres(port=[CANARY], password=CANARY),
            },
        ),
    }
    for where, response in refusals.items():
        assert 400 <= response.status_code < 500, (where, response.content)
        answers[where] = response.content

    for secret in (CANARY, application_secret, bearer):
        leaks = [where for where, body in answers.items() if secret.encode() in body]
        assert not leaks, f"{secret[:8]}… appears in {leaks}"
    assert b"**********" in answers[f"GET {P}/destinations/{destination.public_id}"]
    assert not AuditEvent.objects.filter(changes__icontains=CANARY).exists()
