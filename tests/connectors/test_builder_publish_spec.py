"""A published builder connector's spec is the manifest's whole spec, OAuth included.

Publish caches the spec the new-source form reads (no install, no process): it
must be what the manifest-only runtime answers for the same manifest, including
``advanced_auth``, which tells the form which fields an OAuth flow fills.
"""

from __future__ import annotations

import pytest
import yaml

from apps.connectors.builder import services
from apps.connectors.models import ConnectorSpecCache
from apps.engines import declarative
from apps.engines.embedded.engine import EmbeddedEngine

pytestmark = pytest.mark.django_db

OAUTH = {
    "auth_flow_type": "oauth2.0",
    "oauth_config_specification": {
        "complete_oauth_output_specification": {
            "type": "object",
            "properties": {
                "access_token": {
                    "type": "string",
                    "path_in_connector_config": ["access_token"],
                }
            },
        }
    },
}


def test_a_published_connector_keeps_its_advanced_auth(workspace, editor):
    project = services.builder_project_create(
        actor=editor, workspace=workspace, name="OAuth API"
    )
    manifest = yaml.safe_load(project.manifest_text)
    manifest["spec"]["advanced_auth"] = OAUTH

    published = services.connector_publish(
        actor=editor, project=project, manifest=manifest
    )
    spec = EmbeddedEngine().spec(published.definition.ref)

    assert spec.advanced_auth == OAUTH
    cached = ConnectorSpecCache.objects.get(
        definition=published.definition, version="0.1.0"
    )
    assert cached.spec == declarative.manifest_raw_spec(manifest)
