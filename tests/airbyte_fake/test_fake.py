"""The fake itself, driven with plain httpx: behaviour, quirks and its spec checks."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from tests.airbyte_fake import (
    DEFAULT_WORKSPACE_ID,
    FAKER_SOURCE_ID,
    POSTGRES_DESTINATION_ID,
    SECRET_MASK,
    AirbyteFake,
    Violation,
    load_specs,
    specs_dir,
)
from tests.airbyte_fake.fixtures import SPECS_MISSING, fail_on_violations
from tests.services_plugin import skip_or_fail

PUBLIC = "/api/public/v1"
CREDENTIALS = {
    "client_id": "console-client",
    "client_secret": "console-secret",
    "grant_type": "client_credentials",
}
POSTGRES_CONFIG = {
    "host": "db.internal",
    "port": 5432,
    "database": "warehouse",
    "schema": "public",
    "username": "loader",
    "password": "s3cret",
}


def authed(fake: AirbyteFake) -> httpx.Client:
    client = httpx.Client(base_url=fake.url, timeout=5)
    token = client.post(f"{PUBLIC}/applications/token", json=CREDENTIALS)
    assert token.status_code == 200, token.text
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return client


def make_pipeline(client: httpx.Client, **connection: object) -> tuple[str, str, str]:
    source = client.post(
        f"{PUBLIC}/sources",
        json={
            "name": "Faker",
            "workspaceId": DEFAULT_WORKSPACE_ID,
            "definitionId": FAKER_SOURCE_ID,
            "configuration": {"count": 10, "seed": 1},
        },
    )
    destination = client.post(
        f"{PUBLIC}/destinations",
        json={
            "name": "Warehouse",
            "workspaceId": DEFAULT_WORKSPACE_ID,
            "definitionId": POSTGRES_DESTINATION_ID,
            "configuration": POSTGRES_CONFIG,
        },
    )
    source_id = source.json()["sourceId"]
    destination_id = destination.json()["destinationId"]
    created = client.post(
        f"{PUBLIC}/connections",
        json={"sourceId": source_id, "destinationId": destination_id, **connection},
    )
    assert created.status_code == 200, created.text
    return source_id, destination_id, created.json()["connectionId"]


def test_console_flow_from_token_to_finished_sync(airbyte_fake):
    client = authed(airbyte_fake)

    # Pagination: `next` points at the pod address and is there on the last page.
    for n in range(4):
        client.post(f"{PUBLIC}/workspaces", json={"name": f"Team {n}"})
    first = client.get(f"{PUBLIC}/workspaces", params={"limit": 3}).json()
    last = client.get(f"{PUBLIC}/workspaces", params={"limit": 3, "offset": 3}).json()
    assert len(first["data"]) == 3 and first["previous"] == ""
    assert first["next"] == (
        "http://localhost:8001/api/public/v1/workspaces?limit=3&offset=3"
    )
    assert len(last["data"]) == 2
    assert last["next"].startswith("http://localhost:8001/")

    # Secrets read back masked; sending the mask back keeps the stored secret.
    _, destination_id, connection_id = make_pipeline(client)
    read = client.get(f"{PUBLIC}/destinations/{destination_id}").json()
    assert read["configuration"]["password"] == SECRET_MASK
    assert read["destinationType"] == "postgres"
    client.put(
        f"{PUBLIC}/destinations/{destination_id}",
        json={"name": "Renamed", "configuration": read["configuration"]},
    )
    assert airbyte_fake.destinations[destination_id].configuration["password"] == (
        "s3cret"
    )

    connection = client.get(f"{PUBLIC}/connections/{connection_id}").json()
    assert {s["syncMode"] for s in connection["configurations"]["streams"]} == {
        "full_refresh_overwrite"
    }
    assert connection["schedule"] == {"scheduleType": "manual"}

    started = client.post(
        f"{PUBLIC}/jobs", json={"connectionId": connection_id, "jobType": "sync"}
    )
    again = client.post(
        f"{PUBLIC}/jobs", json={"connectionId": connection_id, "jobType": "sync"}
    )
    assert started.status_code == 200 and started.json()["status"] == "pending"
    assert again.status_code == 409
    assert again.json()["title"] == "try-again-later"
    # The type's generic detail; the reason in data.message, as the server does.
    assert again.json()["detail"] == "Please try again later."
    assert again.json()["data"]["message"] == (
        f"A sync is already running for: {connection_id}"
    )

    job_id = started.json()["jobId"]
    seen = [client.get(f"{PUBLIC}/jobs/{job_id}").json() for _ in range(3)]
    assert [j["status"] for j in seen] == ["running", "running", "succeeded"]
    assert seen[0]["rowsSynced"] < seen[1]["rowsSynced"] < seen[2]["rowsSynced"] == 100
    assert "lastUpdatedAt" in seen[2] and "lastUpdatedAt" not in seen[0]

    info = client.post("/api/v1/jobs/get", json={"id": job_id}).json()
    assert info["attempts"][0]["attempt"]["status"] == "succeeded"
    # 1.2+: structured events (lowercase level, a log source) and logLines: [].
    assert info["attempts"][0]["logType"] == "structured"
    logs = info["attempts"][0]["logs"]
    assert logs["logLines"] == []
    read = next(e for e in logs["events"] if e["message"] == "Read 100 records")
    assert (read["level"], read["logSource"]) == ("info", "source")
    assert "bytesCommitted" not in info["attempts"][0]["attempt"]["totalStats"]
    assert len(airbyte_fake.calls("POST", f"{PUBLIC}/jobs")) == 2
    assert airbyte_fake.violations == []


def test_request_missing_a_required_field_is_a_recorded_violation(airbyte_fake):
    client = authed(airbyte_fake)
    response = client.post(
        f"{PUBLIC}/sources",
        json={"workspaceId": DEFAULT_WORKSPACE_ID, "configuration": {"count": 1}},
    )
    assert response.status_code == 400
    assert response.json()["title"] == "bad-request"
    assert [v.path for v in airbyte_fake.violations] == [f"{PUBLIC}/sources"]
    assert "'name' is a required property" in airbyte_fake.violations[0].error
    with pytest.raises(AssertionError, match="1 spec violation"):
        airbyte_fake.check_violations()
    airbyte_fake.violations.clear()  # seen; the fixture would fail the test


def test_out_of_spec_response_is_caught_unless_the_script_allows_it(airbyte_fake):
    client = authed(airbyte_fake)
    *_, connection_id = make_pipeline(client)
    airbyte_fake.script_next_job(steps=["running", "weird_new_status", "succeeded"])
    job_id = client.post(
        f"{PUBLIC}/jobs", json={"connectionId": connection_id, "jobType": "sync"}
    ).json()["jobId"]
    assert client.get(f"{PUBLIC}/jobs/{job_id}").json()["status"] == (
        "weird_new_status"
    )
    assert len(airbyte_fake.violations) == 1
    assert "weird_new_status" in airbyte_fake.violations[0].error
    airbyte_fake.violations.clear()

    airbyte_fake.script_next_job(
        steps=["running", "weird_new_status"], allow_invalid_response=True
    )
    client.get(f"{PUBLIC}/jobs/{job_id}")  # finishes the first job
    second = client.post(
        f"{PUBLIC}/jobs", json={"connectionId": connection_id, "jobType": "sync"}
    ).json()["jobId"]
    assert client.get(f"{PUBLIC}/jobs/{second}").json()["status"] == "weird_new_status"
    assert airbyte_fake.violations == []
    assert any("allow_invalid_response" in t for t in airbyte_fake.tolerated)


def test_failed_and_retried_jobs_carry_attempts_and_failure_reasons(airbyte_fake):
    client = authed(airbyte_fake)
    *_, connection_id = make_pipeline(client)
    airbyte_fake.script_next_job(
        steps=["running", "incomplete", "running", "failed"],
        attempt_failures=[
            {"failureType": "transient_error", "failureOrigin": "destination"}
        ],
        failure={
            "failureType": "config_error",
            "failureOrigin": "source",
            "externalMessage": "Invalid credentials",
        },
    )
    job_id = client.post(
        f"{PUBLIC}/jobs", json={"connectionId": connection_id, "jobType": "sync"}
    ).json()["jobId"]
    statuses = [client.get(f"{PUBLIC}/jobs/{job_id}").json()["status"] for _ in "abc"]
    assert statuses == ["incomplete", "running", "failed"]

    attempts = client.post("/api/v1/jobs/get_without_logs", json={"id": job_id}).json()[
        "attempts"
    ]
    assert [a["attempt"]["id"] for a in attempts] == [0, 1]
    assert "logs" not in attempts[0]
    first, last = (a["attempt"]["failureSummary"]["failures"][0] for a in attempts)
    assert first["failureType"] == "transient_error" and first["retryable"] is True
    assert last["externalMessage"] == "Invalid credentials"


def test_cancel_only_while_running(airbyte_fake):
    client = authed(airbyte_fake)
    *_, connection_id = make_pipeline(client)
    airbyte_fake.script_next_job(steps=["running"])
    job_id = client.post(
        f"{PUBLIC}/jobs", json={"connectionId": connection_id, "jobType": "sync"}
    ).json()["jobId"]
    assert client.delete(f"{PUBLIC}/jobs/{job_id}").json()["status"] == "cancelled"
    again = client.delete(f"{PUBLIC}/jobs/{job_id}")
    assert again.status_code == 409 and again.json()["title"] == "state-conflict"


def test_tokens_expire_and_401_bodies_are_configurable(airbyte_fake):
    client = authed(airbyte_fake)
    assert client.get(f"{PUBLIC}/workspaces").status_code == 200
    airbyte_fake.expire_tokens()
    refused = client.get(f"{PUBLIC}/workspaces")
    assert refused.status_code == 401
    assert refused.json()["title"] == "invalid-api-key"
    airbyte_fake.empty_401_body = True
    assert client.get(f"{PUBLIC}/workspaces").content == b""

    wrong = httpx.post(
        f"{airbyte_fake.url}/api/v1/applications/token",
        json={"client_id": "console-client", "client_secret": "nope"},
    )
    assert (wrong.status_code, wrong.content) == (400, b"")  # a bare 400
    config_token = httpx.post(
        f"{airbyte_fake.url}/api/v1/applications/token",
        json={"client_id": "console-client", "client_secret": "console-secret"},
    )
    assert list(config_token.json()) == ["access_token"]


def test_form_token_request_and_auth_modes(airbyte_fake):
    form = httpx.post(
        f"{airbyte_fake.url}{PUBLIC}/applications/token", data=CREDENTIALS
    )
    assert form.json()["expires_in"] == 900
    # The spec's grant-type/grant_type mix-up is tolerated, not a violation.
    assert any("grant_type" in t for t in airbyte_fake.tolerated)

    airbyte_fake.auth_mode = "none"
    instance = httpx.get(f"{airbyte_fake.url}/api/v1/instance_configuration").json()
    assert instance["auth"] == {"mode": "none"}
    assert httpx.get(f"{airbyte_fake.url}{PUBLIC}/workspaces").status_code == 200
    assert (
        httpx.post(
            f"{airbyte_fake.url}{PUBLIC}/applications/token", json=CREDENTIALS
        ).status_code
        == 404
    )

    airbyte_fake.basic_auth = ("airbyte", "password")
    assert httpx.get(f"{airbyte_fake.url}{PUBLIC}/workspaces").status_code == 401
    basic = httpx.get(
        f"{airbyte_fake.url}{PUBLIC}/workspaces", auth=("airbyte", "password")
    )
    assert basic.status_code == 200


def test_injected_faults_and_delays(airbyte_fake):
    client = authed(airbyte_fake)
    airbyte_fake.fail_next("GET", f"{PUBLIC}/workspaces", 503)
    airbyte_fake.fail_next(
        "GET", f"{PUBLIC}/workspaces", 429, headers={"Retry-After": "1"}
    )
    first = client.get(f"{PUBLIC}/workspaces")
    second = client.get(f"{PUBLIC}/workspaces")
    assert first.status_code == 503
    assert first.json()["title"] == "service-unavailable"
    assert (second.status_code, second.headers["Retry-After"]) == (429, "1")
    assert client.get(f"{PUBLIC}/workspaces").status_code == 200

    airbyte_fake.fail_next(
        "POST",
        f"{PUBLIC}/jobs",
        400,
        problem={"title": "bad-request", "detail": "Nope"},
    )
    refused = client.post(
        f"{PUBLIC}/jobs", json={"connectionId": DEFAULT_WORKSPACE_ID, "jobType": "sync"}
    )
    assert refused.json()["detail"] == "Nope"

    airbyte_fake.fail_next("GET", f"{PUBLIC}/workspaces/*", 0)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(f"{PUBLIC}/workspaces/{DEFAULT_WORKSPACE_ID}")

    airbyte_fake.delay_next("GET", f"{PUBLIC}/workspaces", 0.5)
    with pytest.raises(httpx.ReadTimeout):
        client.get(f"{PUBLIC}/workspaces", timeout=0.1)
    assert airbyte_fake.violations == []


def test_connector_config_is_checked_against_the_definition(airbyte_fake):
    client = authed(airbyte_fake)
    invalid = client.post(
        f"{PUBLIC}/destinations",
        json={
            "name": "Broken",
            "workspaceId": DEFAULT_WORKSPACE_ID,
            "definitionId": POSTGRES_DESTINATION_ID,
            "configuration": {**POSTGRES_CONFIG, "port": "five"},
        },
    )
    assert invalid.status_code == 422
    assert "$.port" in invalid.json()["data"]["message"]

    check = client.post(
        "/api/v1/scheduler/destinations/check_connection",
        json={
            "destinationDefinitionId": POSTGRES_DESTINATION_ID,
            "workspaceId": DEFAULT_WORKSPACE_ID,
            "connectionConfiguration": {
                **POSTGRES_CONFIG,
                "password": "wrong-password",
            },
        },
    ).json()
    assert check["status"] == "failed"
    assert check["message"] == "Could not connect: password authentication failed"

    spec = client.post(
        "/api/v1/source_definition_specifications/get",
        json={
            "sourceDefinitionId": FAKER_SOURCE_ID,
            "workspaceId": DEFAULT_WORKSPACE_ID,
        },
    ).json()
    assert spec["connectionSpecification"]["required"] == ["count"]


def test_streams_discover_and_deleting_a_source(airbyte_fake):
    client = authed(airbyte_fake)
    source_id, destination_id, connection_id = make_pipeline(
        client,
        configurations={
            "streams": [{"name": "users", "syncMode": "incremental_deduped_history"}]
        },
        schedule={"scheduleType": "cron", "cronExpression": "0 15 * * * ?"},
    )
    connection = client.get(f"{PUBLIC}/connections/{connection_id}").json()
    assert connection["schedule"]["cronExpression"] == "0 15 * * * ? UTC"
    assert connection["configurations"]["streams"][0]["cursorField"] == ["updated_at"]

    alone = client.get(f"{PUBLIC}/streams", params={"sourceId": source_id}).json()
    paired = client.get(
        f"{PUBLIC}/streams",
        params={"sourceId": source_id, "destinationId": destination_id},
    ).json()
    assert "syncModes" not in alone[0]
    assert "incremental_append" not in paired[2]["syncModes"]  # purchases

    catalog = client.post(
        "/api/v1/sources/discover_schema",
        json={"sourceId": source_id, "disable_cache": True},
    ).json()["catalog"]
    assert [s["stream"]["name"] for s in catalog["streams"]] == [
        "users",
        "products",
        "purchases",
    ]

    assert client.delete(f"{PUBLIC}/sources/{source_id}").status_code == 204
    # Deleted is not 404 on the server: a tombstone, its configuration emptied.
    tombstone = client.get(f"{PUBLIC}/sources/{source_id}")
    assert tombstone.status_code == 200 and tombstone.json()["configuration"] == {}
    assert airbyte_fake.connections[connection_id].status == "deprecated"


def test_concurrent_requests_are_served(airbyte_fake):
    client = authed(airbyte_fake)
    airbyte_fake.delay_next("GET", f"{PUBLIC}/workspaces", 0.3, times=4)
    codes: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: codes.append(client.get(f"{PUBLIC}/workspaces").status_code)
        )
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [200] * 4


def test_specs_dir_honours_the_environment(monkeypatch, tmp_path: Path):
    found = specs_dir()
    if found is None:
        skip_or_fail(SPECS_MISSING)
    monkeypatch.setenv("AIRBYTE_API_SPECS_DIR", str(tmp_path))
    assert specs_dir() is None
    monkeypatch.setenv("AIRBYTE_API_SPECS_DIR", str(found))
    assert specs_dir() == found
    assert load_specs(found) is load_specs(found)  # parsed once per process


def test_fixture_fails_a_test_that_left_violations(airbyte_fake):
    airbyte_fake.violations.append(Violation("GET", "/api/v1/x", "boom"))
    with pytest.raises(pytest.fail.Exception, match="GET /api/v1/x: boom"):
        fail_on_violations(airbyte_fake)
    airbyte_fake.violations.clear()


def test_shared_fake_is_reset_between_tests(airbyte_fake_shared):
    assert airbyte_fake_shared.requests == []
    authed(airbyte_fake_shared).post(f"{PUBLIC}/workspaces", json={"name": "Mine"})
    assert len(airbyte_fake_shared.workspaces) == 2


def test_a_patch_with_the_mask_overwrites_the_stored_secret(airbyte_fake):
    # The real server's partial update takes values as they come: the console must
    # never PATCH a masked config (it replaces settings with PUT, which keeps them).
    client = authed(airbyte_fake)
    _, destination_id, _ = make_pipeline(client)
    url = f"{PUBLIC}/destinations/{destination_id}"
    masked = client.get(url).json()["configuration"]

    client.put(url, json={"name": "Kept", "configuration": masked})
    kept = airbyte_fake.state.destinations[destination_id].configuration["password"]
    client.patch(url, json={"configuration": masked})
    lost = airbyte_fake.state.destinations[destination_id].configuration["password"]

    assert kept != SECRET_MASK
    assert lost == SECRET_MASK
