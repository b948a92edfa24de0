"""Publishing a builder connector to an Airbyte server (the fake, spec-checked).

On a workspace that runs on an Airbyte server, the first publish creates a
connector builder project there and publishes it (a custom declarative source
definition of that workspace); the console's catalog entry takes the server's
definition id, so the workspace's source picker offers it and sources made of it
are the server's. A changed manifest is a new active manifest version there; the
same manifest calls nobody.
"""

from __future__ import annotations

import pytest
import yaml

from apps.connectors import services as connector_services
from apps.connectors.builder import services
from apps.connectors.models import ConnectorManifest
from apps.connectors.selectors import definition_choices
from tests.airbyte.conftest import (  # noqa: F401 - fixtures
    _fast_retries,
    airbyte_workspace,
    polls,
    pushes_now,
)


@pytest.fixture
def project(airbyte_workspace, admin):  # noqa: F811
    return services.builder_project_create(
        actor=admin, workspace=airbyte_workspace, name="Items API"
    )


def test_publishing_creates_the_source_on_the_server_and_offers_it(
    django_capture_on_commit_callbacks,
    airbyte_fake,
    airbyte_workspace,  # noqa: F811
    admin,
    project,
):
    manifest = yaml.safe_load(project.manifest_text)

    first = services.builder_publish(actor=admin, project=project, manifest=manifest)

    remote = airbyte_fake.state.definitions[str(first.definition.definition_id)]
    assert remote.name == "Items API"
    assert remote.workspace_id == airbyte_workspace.airbyte_server.remote_workspace_id
    assert remote.active_manifest == 1
    assert remote.manifests[1]["manifest"]["streams"][0]["name"] == "items"
    assert remote.connection_specification["required"] == ["base_url", "api_key"]
    assert first.definition.docker_repository == "airbyte/source-declarative-manifest"
    assert first.definition in definition_choices(
        kind="source", workspace=airbyte_workspace
    )
    assert services.engine_note(airbyte_workspace, first.definition) == ""

    # A source of it is made on the server, of the server's definition.
    with django_capture_on_commit_callbacks(execute=True):
        source = connector_services.connector_create(
            actor=admin,
            workspace=airbyte_workspace,
            kind="source",
            name="Items",
            definition=first.definition,
            config={"base_url": "https://api.example.com/v1"},
            secrets={"/api_key": "Canary-remote-key-51"},
        )
    source.refresh_from_db()
    assert source.remote_id
    pushed = airbyte_fake.state.sources[source.remote_id]
    assert pushed.definition_id == str(first.definition.definition_id)

    same = services.builder_publish(actor=admin, project=project, manifest=manifest)
    manifest["spec"]["documentation_url"] = "https://example.com/v2"
    second = services.builder_publish(actor=admin, project=project, manifest=manifest)

    assert not same.created and second.created
    assert second.definition.definition_id == first.definition.definition_id
    assert sorted(remote.manifests) == [1, 2] and remote.active_manifest == 2
    assert remote.documentation_url == "https://example.com/docs"
    assert [
        m.version
        for m in ConnectorManifest.objects.filter(definition=first.definition).order_by(
            "created_at"
        )
    ] == ["0.1.0", "0.1.1"]


def test_a_server_refusal_publishes_nothing_and_says_why(
    airbyte_fake,
    airbyte_workspace,  # noqa: F811
    admin,
    project,
):
    from django.core.exceptions import ValidationError

    manifest = yaml.safe_load(project.manifest_text)
    services.builder_publish(actor=admin, project=project, manifest=manifest)
    project.refresh_from_db()
    # The server forgot the definition (deleted there by someone).
    airbyte_fake.state.definitions.pop(str(project.definition.definition_id))
    manifest["spec"]["documentation_url"] = "https://example.com/v2"

    with pytest.raises(ValidationError, match="The Airbyte server refused Items API"):
        services.builder_publish(actor=admin, project=project, manifest=manifest)

    assert ConnectorManifest.objects.filter(definition=project.definition).count() == 1
