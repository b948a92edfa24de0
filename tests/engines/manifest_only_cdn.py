"""A registry's CDN and an API on 127.0.0.1 for manifest-only connector tests.

Test modules import the fixtures ``cdn_fixture`` and ``tiny_api_fixture`` and ask
for them as ``cdn`` and ``tiny_api``.

One ``FileServer`` plays both: ``/files/metadata/airbyte/<connector>/<version>/``
holds the manifests (and ``components.py``) the tests write, ``/api/<account>/``
the JSON pages the manifests read. Version 1.0.0 of ``source-tiny-api`` is a
plain manifest with one stream; 2.0.0 adds a stream and a ``components.py`` whose
custom transformation stamps every record.
"""

from __future__ import annotations

import json
import uuid

import pytest
import yaml

from apps.connectors.models import ConnectorDefinition
from tests.http_files import FileServer

CONNECTOR = "source-tiny-api"
DEFINITION_ID = uuid.UUID("7d3f0c1e-5a2b-4c8d-9e6f-0a1b2c3d4e5f")
REGISTRY_PATH = "/files/registries/v0/oss_registry.json"
ACCOUNT = "acme"
API_KEY = "Canary-key-4242"
ITEMS = [{"id": i, "name": f"item {i}", "price": i * 1.5} for i in range(1, 6)]
USERS = [{"id": i, "email": f"user{i}@acme.test"} for i in range(1, 4)]

COMPONENTS = '''
from dataclasses import dataclass

from airbyte_cdk.sources.declarative.transformations import RecordTransformation


@dataclass
class StampRecord(RecordTransformation):
    """Adds the field the tests look for: proof that components.py ran."""

    def transform(self, record, config=None, stream_state=None, stream_slice=None):
        record["stamped_by"] = "components.py"
        record["name_length"] = len(record.get("name") or "")
'''


def _stream(name: str, api_url: str, *, transformations: list | None = None) -> dict:
    stream = {
        "type": "DeclarativeStream",
        "name": name,
        "primary_key": ["id"],
        "retriever": {
            "type": "SimpleRetriever",
            "requester": {
                "type": "HttpRequester",
                "url_base": api_url,
                "path": "/{{ config['account'] }}/" + name + ".json",
                "http_method": "GET",
                "request_parameters": {"key": "{{ config['api_key'] }}"},
            },
            "record_selector": {
                "type": "RecordSelector",
                "extractor": {"type": "DpathExtractor", "field_path": ["data"]},
            },
        },
        "schema_loader": {
            "type": "InlineSchemaLoader",
            "schema": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": ["null", "string"]},
                    "price": {"type": ["null", "number"]},
                    "email": {"type": ["null", "string"]},
                    "stamped_by": {"type": ["null", "string"]},
                    "name_length": {"type": ["null", "integer"]},
                },
            },
        },
    }
    if transformations:
        stream["transformations"] = transformations
    return stream


def manifest(api_url: str, *, version: str = "1.0.0") -> dict:
    """The connector's manifest at ``version`` (1.0.0: items; 2.0.0: + users, stamp)."""
    stamp = [
        {
            "type": "CustomTransformation",
            "class_name": "source_declarative_manifest.components.StampRecord",
        }
    ]
    streams = [_stream("items", api_url)]
    if version != "1.0.0":
        streams = [
            _stream("items", api_url, transformations=stamp),
            _stream("users", api_url),
        ]
    return {
        "version": "6.0.0",
        "type": "DeclarativeSource",
        "check": {"type": "CheckStream", "stream_names": ["items"]},
        "spec": {
            "type": "Spec",
            "documentation_url": "https://docs.example.test/tiny-api",
            "connection_specification": {
                "type": "object",
                "required": ["account", "api_key"],
                "properties": {
                    "account": {"type": "string", "title": "Account", "order": 0},
                    "api_key": {
                        "type": "string",
                        "title": "API key",
                        "airbyte_secret": True,
                        "order": 1,
                    },
                },
            },
        },
        "streams": streams,
    }


class Cdn:
    """The running server, with helpers to publish versions and API pages."""

    def __init__(self, server: FileServer) -> None:
        self.server = server
        self.api_url = server.url("/api")

    def path(self, version: str, filename: str = "manifest.yaml") -> str:
        return f"/files/metadata/airbyte/{CONNECTOR}/{version}/{filename}"

    def publish(self, version: str, text: str | int, components: str | int = 404):
        self.server.files[self.path(version)] = text
        self.server.files[self.path(version, "components.py")] = components

    def publish_manifest(self, version: str) -> dict:
        doc = manifest(self.api_url, version=version)
        self.publish(
            version,
            yaml.safe_dump(doc, sort_keys=False),
            COMPONENTS if version != "1.0.0" else 404,
        )
        return doc

    def publish_registry(self, tag: str) -> str:
        """A registry whose one source is this connector at ``tag``; its URL."""
        self.server.files[REGISTRY_PATH] = json.dumps(
            {
                "sources": [
                    {
                        "sourceDefinitionId": str(DEFINITION_ID),
                        "name": "Tiny API",
                        "dockerRepository": f"airbyte/{CONNECTOR}",
                        "dockerImageTag": tag,
                        "documentationUrl": "https://docs.example.test/tiny-api",
                        "releaseStage": "beta",
                        "supportLevel": "community",
                        "language": "manifest-only",
                        "tags": ["language:manifest-only", "cdk:low-code"],
                    }
                ],
                "destinations": [],
            }
        )
        return self.server.url(REGISTRY_PATH)

    def serve_api(self, account: str = ACCOUNT) -> None:
        for name, rows in (("items", ITEMS), ("users", USERS)):
            self.server.files[f"/api/{account}/{name}.json"] = json.dumps(
                {"data": rows}
            )

    def requested(self, version: str) -> list[str]:
        prefix = f"/files/metadata/airbyte/{CONNECTOR}/{version}/"
        return [
            p.removeprefix(prefix) for p in self.server.requests if p.startswith(prefix)
        ]


@pytest.fixture(name="cdn")
def cdn_fixture(settings):
    with FileServer() as server:
        settings.CONNECTOR_CDN_URL = server.url("/files")
        cdn = Cdn(server)
        cdn.serve_api()
        yield cdn


@pytest.fixture(name="tiny_api")
def tiny_api_fixture(db) -> ConnectorDefinition:
    """A manifest-only source in the catalog, pinned at 1.0.0."""
    return ConnectorDefinition.objects.create(
        kind=ConnectorDefinition.Kind.SOURCE,
        definition_id=uuid.uuid4(),
        name="Tiny API",
        docker_repository=f"airbyte/{CONNECTOR}",
        docker_image_tag="1.0.0",
        pypi_version="1.0.0",
        latest_version="2.0.0",
        manifest_only=True,
        engines=["embedded"],
    )


def good_config(**extra) -> dict:
    return {"account": ACCOUNT, "api_key": API_KEY, **extra}
