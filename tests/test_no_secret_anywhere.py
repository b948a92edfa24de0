"""Reliability item 20: a secret stored anywhere never comes back in any page.

Every GET URL of the role matrix is fetched as the workspace admin, as a page and as
an htmx fragment, after secrets were stored in a credential, a source and a
destination, and a job failed with the secret in its connector's output (masked on
the way in). None of the responses, and no audit row, holds the canary.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.connections.models import SyncAttempt, SyncJob
from apps.connectors.models import Destination, Source
from apps.credentials.services import credential_create
from tests.engines.fixtures import FAKER_ID, POSTGRES_ID, definition
from tests.factories import ConnectionFactory
from tests.test_url_matrix import MATRIX

CANARY = "Canary-Secret-8d41f0"


@pytest.fixture
def secrets_everywhere(admin, workspace, settings):
    from apps.airbyte.models import AirbyteServer

    # An Airbyte server nobody answers at: the engine page probes it quickly.
    settings.AIRBYTE_HTTP_RETRIES = 0
    AirbyteServer.objects.create(
        workspace=workspace,
        url="http://127.0.0.1:9",
        client_id="console",
        client_secret=CANARY,
        password=CANARY,
    )
    credential = credential_create(
        actor=admin,
        workspace=workspace,
        name="Warehouse login",
        type="api_key",
        fields={"api_key": CANARY},
    )
    source = Source.objects.create(
        workspace=workspace,
        name="Faker",
        definition=definition(FAKER_ID),
        config={"count": 10},
        secrets=json.dumps({"/api_key": CANARY}),
    )
    destination = Destination.objects.create(
        workspace=workspace,
        name="PG",
        definition=definition(POSTGRES_ID),
        config={
            "host": "127.0.0.1",
            "port": 5432,
            "database": "x",
            "schema": "s",
            "username": "u",
        },
        secrets=json.dumps({"/password": CANARY}),
    )
    destination.credentials.add(credential)
    connection = ConnectionFactory(
        workspace=workspace, source=source, destination=destination
    )
    job = SyncJob.objects.create(
        public_id=uuid.uuid4(),
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
    return {
        "credential": credential,
        "source": source,
        "destination": destination,
        "connection": connection,
        "job": job,
    }


def _kwargs(name: str, workspace, objects) -> dict:
    from tests.test_url_matrix import ALL_URLS

    route = ALL_URLS[name]
    kwargs = {}
    if ":workspace_id>" in route:
        kwargs["workspace_id"] = workspace.public_id
    if ":membership_id>" in route:
        kwargs["membership_id"] = workspace.memberships.first().public_id
    if ":credential_id>" in route:
        kwargs["credential_id"] = objects["credential"].public_id
    if ":definition_id>" in route:
        kwargs["definition_id"] = objects["source"].definition.public_id
    if ":public_id>" in route:
        kind = "source" if name.startswith("connectors:source") else "destination"
        kwargs["public_id"] = objects[kind].public_id
    if ":connection_id>" in route:
        kwargs["connection_id"] = objects["connection"].public_id
    if ":job_id>" in route:
        kwargs["job_id"] = objects["job"].public_id
    if ":probe_id>" in route:
        from apps.airbyte.models import AirbyteProbe

        # A finished probe of the workspace's server (the one holding the canary).
        kwargs["probe_id"] = AirbyteProbe.objects.create(
            workspace=workspace,
            server=workspace.airbyte_server,
            kind="test",
            status="failed",
        ).public_id
    others = ("endpoint_id", "delivery_id", "schedule_id")
    if any(f":{key}>" in route for key in others):
        from tests.test_url_matrix import _kwargs as matrix_kwargs

        members = {"viewer": None}
        kwargs = {**matrix_kwargs(name, workspace, members), **kwargs}
    return kwargs


def test_no_page_or_fragment_shows_a_stored_secret(
    admin, workspace, login, secrets_everywhere
):
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client = login(admin)
    fetched = 0
    for name, (method, _) in sorted(MATRIX.items()):
        if method != "GET" or name in ("metrics",):
            continue
        url = reverse(name, kwargs=_kwargs(name, workspace, secrets_everywhere))
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(url, headers=headers)
            assert response.status_code < 500, (name, response.status_code)
            assert CANARY not in response.content.decode(), name
            fetched += 1
    for extra in ("?download=1",):
        job = secrets_everywhere["job"]
        response = client.get(
            reverse("connections:job_log", args=[workspace.public_id, job.public_id])
            + extra
        )
        assert CANARY not in response.content.decode()
    admin_pages = [reverse("admin:audit_auditevent_changelist")]
    for url in admin_pages:
        assert CANARY not in client.get(url).content.decode()
    assert fetched > 60
    for event in AuditEvent.objects.all():
        assert CANARY not in json.dumps(event.changes)
