"""The spec-checking client catches what it is there to catch."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.airbyte_fake.validation import Exchange


def test_health_answers_as_the_spec_says(api_client):
    response = api_client().get("/api/public/v1/health")

    assert response.status_code == 200


def test_an_answer_off_the_public_spec_is_caught(spec_checker):
    workspace_id = str(uuid.uuid4())
    exchange = Exchange(
        method="GET",
        path=f"/api/public/v1/workspaces/{workspace_id}",
        headers={"Authorization": "Bearer x"},
    )

    found = spec_checker.check(
        exchange,
        status=200,
        body=json.dumps({"workspaceId": 7, "name": "Acme"}).encode(),
        content_type="application/json",
    )

    assert any("workspaceId" in v or "dataResidency" in v for v in found), found


def test_a_problem_of_the_wrong_shape_is_caught(spec_checker):
    exchange = Exchange(
        method="GET",
        path="/api/public/v1/workspaces",
        headers={"Authorization": "Bearer x"},
    )

    found = spec_checker.check(
        exchange,
        status=404,
        body=json.dumps({"error": "nope"}).encode(),
        content_type="application/json",
    )

    assert found


def test_a_path_airbyte_does_not_have_is_caught(spec_checker):
    exchange = Exchange(method="GET", path="/api/public/v1/frobnicate")

    found = spec_checker.check(
        exchange, status=200, body=b"{}", content_type="application/json"
    )

    assert found == [
        "GET /api/public/v1/frobnicate is not an operation of Airbyte's "
        "public-api.v1.8.0.yaml: Airbyte's clients cannot call it"
    ]


def test_the_client_fails_the_test_on_an_unknown_operation(api_client, admin):
    with pytest.raises(AssertionError, match="not an operation of Airbyte"):
        api_client(admin).get("/api/public/v1/frobnicate")
