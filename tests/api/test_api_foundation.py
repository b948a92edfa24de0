"""What every API call shares: pages, bounds, unknown paths, token bookkeeping."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.api import services, tokens
from apps.api.models import ApiApplication
from apps.audit.models import AuditEvent
from apps.workspaces.models import Membership, Workspace
from tests.factories import SourceFactory

pytestmark = pytest.mark.django_db


def test_following_next_with_repeated_workspace_ids_reaches_every_source(
    admin, workspace, api_token
):
    other = Workspace.objects.create(name="Other", slug="other")
    Membership.objects.create(user=admin, workspace=other, role="admin")
    for ws in (workspace, other):
        for n in range(3):
            SourceFactory(workspace=ws, name=f"{ws.name} {n}")
    # Repeated ids, as the SDK sends them (the spec checker reads only the
    # comma-joined form, which is what the server's own links used to carry).
    client = Client(headers={"Authorization": f"Bearer {api_token(admin)}"})
    url = (
        f"/api/public/v1/sources?workspaceIds={workspace.public_id}"
        f"&workspaceIds={other.public_id}&limit=2"
    )
    names = []
    while url:
        page = client.get(url).json()
        names += [source["name"] for source in page["data"]]
        url = page["next"].replace("http://testserver", "")
    assert len(names) == 6
    assert len(set(names)) == 6


def test_an_offset_beyond_the_spec_is_a_bad_request_not_a_crash(admin, api_token):
    # Plain client: the spec-checking one refuses to send an offset beyond int32.
    response = Client().get(
        "/api/public/v1/sources?limit=2&offset=99999999999999999999",
        headers={"Authorization": f"Bearer {api_token(admin)}"},
    )
    assert response.status_code == 400
    assert "offset" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/api/public/v1/nope", "/api/v1/nope"])
def test_an_unknown_api_path_answers_json_not_the_html_page(path, db):
    response = Client().get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert path in response.content.decode()


def test_a_wrong_method_answers_a_problem_naming_the_allowed_ones(db):
    response = Client().delete("/api/public/v1/health")
    assert response.status_code == 405
    body = response.json()
    assert body["status"] == 405
    assert "GET" in body["detail"]


def test_only_the_first_use_from_each_address_is_audited(admin, api_token):
    raw = api_token(admin)
    for address in ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.2", "10.0.0.1"]:
        tokens.authenticate(raw, ip=address)
    events = AuditEvent.objects.filter(action="api.token_used_from_new_address")
    assert events.count() == 2


def test_an_application_bearer_cannot_mint_more_applications(admin, api_token):
    bearer = api_token(admin, kind="application")
    response = Client().post(
        "/api/public/v1/applications",
        data=json.dumps({"name": "Escape hatch"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {bearer}"},
    )
    assert response.status_code == 403
    assert not ApiApplication.objects.filter(name="Escape hatch").exists()


def test_an_application_made_with_a_token_expires_with_that_token(admin):
    expires = timezone.now() + timedelta(days=1)
    _, raw = services.token_create(actor=admin, name="Short", expires_at=expires)
    response = Client().post(
        "/api/public/v1/applications",
        data=json.dumps({"name": "Child"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert response.status_code == 200
    assert ApiApplication.objects.get(name="Child").expires_at == expires


def test_a_nul_character_in_a_body_is_refused_before_anything_is_stored(
    admin, workspace, api_token
):
    response = Client().post(
        "/api/public/v1/sources",
        data=json.dumps(
            {
                "name": "Fa\u0000ker",
                "workspaceId": str(workspace.public_id),
                "configuration": {"sourceType": "faker", "count": 10},
            }
        ),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(admin)}"},
    )
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    assert not workspace.source_set.exists()


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "a\\ud800b", "workspaceId": "%s", "configuration": {}}',
        '{"name": "Faker", "workspaceId": "%s", "configuration": {"count": NaN}}',
        '{"name": "Faker", "workspaceId": "%s", "configuration": {"count": Infinity}}',
    ],
)
def test_text_and_numbers_no_database_can_store_are_refused(
    raw, admin, workspace, api_token
):
    response = Client().post(
        "/api/public/v1/sources",
        data=raw % workspace.public_id,
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(admin)}"},
    )
    assert response.status_code == 400
    assert response.json()["title"] == "bad-request"
    assert not workspace.source_set.exists()


def test_the_sdk_default_token_url_at_the_site_root_reaches_the_token_call(admin):
    application, secret = services.application_create(actor=admin, name="SDK")
    response = Client().post(
        "/applications/token",
        data=json.dumps(
            {
                "client_id": application.client_id,
                "client_secret": secret,
                "grant_type": "client_credentials",
            }
        ),
        content_type="application/json",
        follow=True,
    )
    assert response.redirect_chain == [("/api/public/v1/applications/token", 308)]
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


def test_a_webhook_payloads_job_can_be_looked_up_through_the_api(
    admin, workspace, api_client
):
    from apps.connections.models import SyncJob
    from apps.webhooks.payloads import sync_data
    from tests.factories import ConnectionFactory

    connection = ConnectionFactory(workspace=workspace)
    job = SyncJob.objects.create(
        connection=connection, trigger="manual", status="succeeded"
    )
    payload = sync_data(job)

    response = api_client(admin).get(f"/api/public/v1/jobs/{payload['job']['api_id']}")
    assert response.status_code == 200
    assert response.json()["connectionId"] == payload["connection"]["id"]


def test_token_requests_past_the_rate_limit_are_429(admin, settings):
    settings.API_RATE_LIMIT = 2
    application, _ = services.application_create(actor=admin, name="Guessed")
    statuses = []
    for guess in ("a", "b", "c"):
        statuses.append(
            Client()
            .post(
                "/api/public/v1/applications/token",
                data=json.dumps(
                    {"client_id": application.client_id, "client_secret": guess}
                ),
                content_type="application/json",
            )
            .status_code
        )
    assert statuses == [401, 401, 429]


def test_a_body_over_the_upload_limit_answers_a_400_problem(
    admin, workspace, api_token, settings
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = Client().post(
        f"/api/console/v1/workspaces/{workspace.public_id}/import",
        data=json.dumps({"document": "version: 1\n" + "#" * 2000, "dry_run": True}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_token(admin)}"},
    )
    assert response.status_code == 400
    assert "larger than 1,000 bytes" in response.json()["detail"]
