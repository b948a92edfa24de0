"""The Custom YAML manifest source: helpers, and a real source-declarative-manifest.

The manifest reads from a tiny HTTP server on 127.0.0.1 that the test starts, so the
low-code CDK runs for real without leaving the machine.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.core.masking import MASK
from apps.engines import declarative
from apps.engines.embedded.engine import EmbeddedEngine
from tests.engines.fixtures import MANIFEST_ID, definition

ITEMS = [{"id": i, "name": f"item {i}"} for i in range(1, 4)]


def manifest(base_url: str) -> dict:
    return {
        "version": "6.0.0",
        "type": "DeclarativeSource",
        "check": {"type": "CheckStream", "stream_names": ["items"]},
        "spec": {
            "type": "Spec",
            "connection_specification": {
                "type": "object",
                "required": ["api_token"],
                "properties": {
                    "api_token": {"type": "string", "airbyte_secret": True},
                },
            },
        },
        "streams": [
            {
                "type": "DeclarativeStream",
                "name": "items",
                "primary_key": ["id"],
                "retriever": {
                    "type": "SimpleRetriever",
                    "requester": {
                        "type": "HttpRequester",
                        "url_base": base_url,
                        "path": "/items",
                        "http_method": "GET",
                        "authenticator": {
                            "type": "BearerAuthenticator",
                            "api_token": "{{ config['api_token'] }}",
                        },
                    },
                    "record_selector": {
                        "type": "RecordSelector",
                        "extractor": {"type": "DpathExtractor", "field_path": []},
                    },
                },
                "schema_loader": {
                    "type": "InlineSchemaLoader",
                    "schema": {
                        "type": "object",
                        "properties": {
                            "id": {"type": "integer"},
                            "name": {"type": ["null", "string"]},
                        },
                    },
                },
            }
        ],
    }


class _Api(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization") != "Bearer good-token-123":
            self.send_response(401)
            self.end_headers()
            self.wfile.write(b'{"error": "bad token"}')
            return
        body = json.dumps(ITEMS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_manifest_spec_comes_from_the_manifest():
    spec = declarative.manifest_spec(manifest("http://x"))

    assert spec.connection_specification["required"] == ["api_token"]
    assert spec.secret_paths() == [("api_token",)]


def test_build_config_injects_the_manifest_and_split_undoes_it():
    built = declarative.build_config(manifest("http://x"), {"api_token": "t"})

    assert built[declarative.MANIFEST_KEY]["streams"][0]["name"] == "items"
    assert declarative.split_config(built) == (manifest("http://x"), {"api_token": "t"})


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ([], "A manifest is a YAML mapping"),
        ({"check": {}, "spec": {}}, "defines no `streams`"),
        ({"streams": [{}], "spec": {}}, "no `check` section"),
        ({"streams": [{}], "check": {}}, "no `spec.connection_specification`"),
    ],
)
def test_unusable_manifests_are_refused_with_a_reason(broken, message):
    with pytest.raises(declarative.ManifestError, match=message):
        declarative.validate_manifest(broken)


def test_manifest_text_parses_json_or_yaml():
    text = json.dumps(manifest("http://x"))

    assert declarative.parse_manifest_text(text)["version"] == "6.0.0"
    with pytest.raises(declarative.ManifestError, match="not valid YAML"):
        declarative.parse_manifest_text("{nope")


@pytest.mark.django_db
def test_manifest_source_checks_and_discovers_for_real(
    real_connectors, cdk_installed, api
):
    source = definition(MANIFEST_ID)
    good = declarative.build_config(manifest(api), {"api_token": "good-token-123"})
    bad = declarative.build_config(manifest(api), {"api_token": "Canary-token-999"})

    ok = EmbeddedEngine().check(source, good)
    refused = EmbeddedEngine().check(source, bad)
    catalog = EmbeddedEngine().discover(source, good)

    assert ok.ok, ok.message
    assert not refused.ok
    assert "Canary-token-999" not in refused.message + "".join(refused.logs)
    assert "Stream items is not available: HTTP Status Code: 401" in refused.message
    assert [s.name for s in catalog.streams] == ["items"]
    assert catalog.streams[0].source_defined_primary_key == (("id",),)
    assert MASK not in ok.message
