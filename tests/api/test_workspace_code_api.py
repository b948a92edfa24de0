"""Workspaces as code over the API: ``/api/console/v1/workspaces/{id}/...``."""

# The fixtures come from the CLI and service tests; pytest passes them by name.
# ruff: noqa: F811

from __future__ import annotations

import yaml

from apps.audit.models import AuditEvent
from apps.connectors.models import Source
from apps.workspaces.services import workspace_create
from tests.api.test_workspace_code import (  # noqa: F401 - shared fixtures
    ENV,
    SECRETS,
    _credential,
    full_workspace,
    source_definition,
)


def _url(workspace, action: str) -> str:
    return f"/api/console/v1/workspaces/{workspace.public_id}/{action}"


def test_a_viewer_exports_yaml_without_a_secret(full_workspace, viewer, api_client):
    response = api_client(viewer).get(_url(full_workspace, "export"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/yaml")
    text = response.content.decode()
    for secret in SECRETS.values():
        assert secret not in text
    assert yaml.safe_load(text)["sources"][0]["name"] == "PG warehouse"


def test_export_as_json(full_workspace, viewer, api_client):
    response = api_client(viewer).get(
        _url(full_workspace, "export"), query={"format": "json"}
    )

    assert response.status_code == 200
    assert response.json()["connections"][0]["name"] == "Users to warehouse"


def test_an_outsider_gets_404(full_workspace, outsider, api_client):
    client = api_client(outsider)
    assert client.get(_url(full_workspace, "export")).status_code == 404
    response = client.post(
        _url(full_workspace, "import"), json={"document": "version: 1\n"}
    )
    assert response.status_code == 404


def test_a_viewer_cannot_import_not_even_a_dry_run(full_workspace, viewer, api_client):
    client = api_client(viewer)
    before = AuditEvent.objects.filter(workspace=full_workspace).count()
    response = client.post(
        _url(full_workspace, "import"),
        json={"document": "version: 1\n", "dry_run": True},
    )

    assert response.status_code == 403
    assert AuditEvent.objects.filter(workspace=full_workspace).count() == before


def test_dry_run_then_import_into_an_empty_workspace(full_workspace, admin, api_client):
    client = api_client(admin)
    exported = client.get(_url(full_workspace, "export")).content.decode()
    empty = workspace_create(actor=admin, name="Empty")
    _credential(empty, admin)
    before = AuditEvent.objects.filter(workspace=empty).count()

    plan = client.post(
        _url(empty, "import"), json={"document": exported, "dry_run": True, "env": ENV}
    )
    assert plan.status_code == 200
    assert plan.json()["applied"] is False
    assert plan.json()["summary"]["create"] == 8
    assert AuditEvent.objects.filter(workspace=empty).count() == before
    assert not Source.objects.filter(workspace=empty).exists()

    done = client.post(
        _url(empty, "import"),
        json={"document": exported, "env": ENV, "digest": plan.json()["digest"]},
    )
    assert done.status_code == 200
    assert done.json()["applied"] is True
    again = client.get(_url(empty, "export")).content.decode()
    assert again == exported


def test_problems_answer_422_with_every_one(full_workspace, admin, api_client):
    document = yaml.safe_load(
        api_client(admin).get(_url(full_workspace, "export")).content
    )
    document["sources"].append(
        {"name": "Mystery", "connector": {"name": "Nope"}, "config": {}}
    )

    response = api_client(admin).post(
        _url(full_workspace, "import"),
        json={"document": yaml.safe_dump(document), "env": {}},
    )

    assert response.status_code == 422
    messages = [e["message"] for e in response.json()["data"]["errors"]]
    assert any("is not set" in m for m in messages)
    assert any("unknown source connector “Nope”" in m for m in messages)


def test_a_stale_digest_answers_409(full_workspace, admin, api_client):
    exported = api_client(admin).get(_url(full_workspace, "export")).content.decode()

    response = api_client(admin).post(
        _url(full_workspace, "import"),
        json={
            "document": exported.replace("count: 100", "count: 3"),
            "env": ENV,
            "digest": "stale",
        },
    )

    assert response.status_code == 409
    assert Source.objects.get(workspace=full_workspace).config["count"] == 100


def test_a_digest_applies_only_the_document_it_was_given_for(
    full_workspace, admin, api_client
):
    client = api_client(admin)
    exported = client.get(_url(full_workspace, "export")).content.decode()
    plan = client.post(
        _url(full_workspace, "import"),
        json={
            "document": exported.replace("count: 100", "count: 250"),
            "env": ENV,
            "dry_run": True,
        },
    )
    assert plan.status_code == 200

    response = client.post(
        _url(full_workspace, "import"),
        json={
            "document": exported.replace("count: 100", "count: 7"),
            "env": ENV,
            "digest": plan.json()["digest"],
        },
    )

    assert response.status_code == 409
    assert "not the plan you approved" in response.json()["detail"]
    assert Source.objects.get(workspace=full_workspace).config["count"] == 100


def test_an_odd_yaml_value_answers_422_naming_its_path(
    full_workspace, admin, api_client
):
    exported = api_client(admin).get(_url(full_workspace, "export")).content.decode()
    document = exported.replace("count: 100", "count: !!binary aGVsbG8=")

    response = api_client(admin).post(
        _url(full_workspace, "import"), json={"document": document, "env": ENV}
    )

    assert response.status_code == 422
    messages = [e["message"] for e in response.json()["data"]["errors"]]
    assert any("config.count: a bytes is not a JSON value" in m for m in messages)
