"""Publishing a connector builder manifest to an Airbyte server (Config API).

The first publish of a connector creates a connector builder project on the
server (``connector_builder_projects/create``) and publishes it
(``connector_builder_projects/publish``), which makes a custom declarative
source definition in that workspace and answers its id. Each later version is
``declarative_source_definitions/create_manifest`` with ``setAsActiveManifest``:
the server then runs the new manifest for new syncs of every source of it, which
is how Airbyte itself behaves (its sources follow the active manifest).
"""

from __future__ import annotations

from typing import Any

from apps.airbyte.client import AirbyteClient
from apps.engines.base import ConnectorSpec


def declarative_manifest(
    *, name: str, manifest: dict[str, Any], spec: ConnectorSpec, number: int
) -> dict[str, Any]:
    """The ``DeclarativeSourceManifest`` body for one version."""
    return {
        "description": f"{name}, published from the console's connector builder",
        "manifest": manifest,
        "spec": {
            "connectionSpecification": spec.connection_specification,
            "documentationUrl": spec.documentation_url,
        },
        "version": number,
    }


def publish(
    client: AirbyteClient,
    *,
    workspace_id: str,
    name: str,
    manifest: dict[str, Any],
    spec: ConnectorSpec,
    number: int,
    definition_id: str = "",
) -> str:
    """Create or update the server's declarative source; its definition id.

    Raises the client's AirbyteError on a refusal.
    """
    body = declarative_manifest(name=name, manifest=manifest, spec=spec, number=number)
    if definition_id:
        client.config(
            "/declarative_source_definitions/create_manifest",
            {
                "workspaceId": workspace_id,
                "sourceDefinitionId": definition_id,
                "setAsActiveManifest": True,
                "declarativeManifest": body,
            },
        )
        return definition_id
    project = client.config(
        "/connector_builder_projects/create",
        {
            "workspaceId": workspace_id,
            "builderProject": {"name": name, "draftManifest": manifest},
        },
    )
    answer = client.config(
        "/connector_builder_projects/publish",
        {
            "workspaceId": workspace_id,
            "builderProjectId": project["builderProjectId"],
            "name": name,
            "initialDeclarativeManifest": body,
        },
    )
    return str(answer["sourceDefinitionId"])
