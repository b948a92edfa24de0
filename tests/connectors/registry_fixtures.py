"""A registry in Airbyte's real shape, served from 127.0.0.1, for the catalog tests.

``airbyte_registry(server)`` returns a document with one connector of each way of
running (a PyPI package, a manifest-only connector, a Docker-only source and
destination), with the keys Airbyte's ``oss_registry.json`` carries that the
console ignores (specs, releases, generated metadata), and one malformed entry.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PYPI_ID = "aaaaaaaa-0000-4000-8000-000000000001"
MANIFEST_ID = "aaaaaaaa-0000-4000-8000-000000000002"
DOCKER_ID = "aaaaaaaa-0000-4000-8000-000000000003"
DEST_ID = "aaaaaaaa-0000-4000-8000-000000000004"
REGISTRY_PATH = "/files/registries/v0/oss_registry.json"
INLINE_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8">'
    '<circle cx="4" cy="4" r="4" fill="#123456"/></svg>'
)
ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8">'
    '<rect width="8" height="8" fill="#654321"/></svg>'
)

# Keys every real entry has that the console does not read.
_NOISE = {
    "spec": {"connectionSpecification": {"type": "object", "properties": {}}},
    "tombstone": False,
    "public": True,
    "custom": False,
    "releases": {"breakingChanges": {}},
    "generated": {"git": {"commit_sha": "abc"}, "source_file_info": {}},
    "packageInfo": {"cdk_version": "python:6.0.0"},
    "ab_internal": {"sl": 200, "ql": 400},
    "githubIssueLabel": "x",
    "license": "MIT",
}


def airbyte_registry(
    server: Any, *, alpha_version: str = "1.0.0", extra: int = 0
) -> dict[str, Any]:
    """The document; ``extra`` adds that many more PyPI sources ("Extra 000"...)."""
    sources: list[dict[str, Any]] = [
        {
            **_NOISE,
            "sourceDefinitionId": PYPI_ID,
            "name": "Alpha Pypi",
            "dockerRepository": "airbyte/source-alpha",
            "dockerImageTag": alpha_version,
            "documentationUrl": "https://docs.airbyte.com/integrations/sources/alpha",
            "iconUrl": server.url("/icons/alpha.svg"),
            "releaseStage": "generally_available",
            "supportLevel": "certified",
            "language": "python",
            "tags": ["language:python", "cdk:python"],
            "remoteRegistries": {
                "pypi": {"enabled": True, "packageName": "airbyte-source-alpha"}
            },
        },
        {
            **_NOISE,
            "sourceDefinitionId": MANIFEST_ID,
            "name": "Beta Manifest",
            "dockerRepository": "airbyte/source-beta",
            "dockerImageTag": "0.2.0",
            "documentationUrl": "https://docs.airbyte.com/integrations/sources/beta",
            "icon": INLINE_SVG,
            "iconUrl": server.url("/icons/beta.svg"),
            "releaseStage": "alpha",
            "supportLevel": "community",
            "language": "manifest-only",
            "tags": ["language:manifest-only", "cdk:low-code"],
            "remoteRegistries": {
                "pypi": {"enabled": False, "packageName": "airbyte-source-beta"}
            },
        },
        {
            **_NOISE,
            "sourceDefinitionId": DOCKER_ID,
            "name": "Gamma Docker",
            "dockerRepository": "airbyte/source-gamma",
            "dockerImageTag": "2.0.0",
            "iconUrl": server.url("/icons/broken.svg"),
            "releaseStage": "beta",
            "supportLevel": "community",
            "language": "java",
            "tags": ["language:java"],
        },
        # Malformed: Airbyte's registry never has this, but one bad entry among
        # 600 must not cost the other 599.
        {"sourceDefinitionId": "not-a-uuid", "name": "Broken Entry"},
    ]
    for n in range(extra):
        sources.append(
            {
                "sourceDefinitionId": f"bbbbbbbb-0000-4000-8000-{n:012d}",
                "name": f"Extra {n:03d}",
                "dockerRepository": f"airbyte/source-extra-{n}",
                "dockerImageTag": "1.0.0",
                "supportLevel": "community",
                "remoteRegistries": {
                    "pypi": {"enabled": True, "packageName": f"airbyte-source-x{n}"}
                },
            }
        )
    return {
        "sources": sources,
        "destinations": [
            {
                **_NOISE,
                "destinationDefinitionId": DEST_ID,
                "name": "Delta Destination",
                "dockerRepository": "airbyte/destination-delta",
                "dockerImageTag": "1.1.0",
                "releaseStage": "alpha",
                "supportLevel": "archived",
                "language": "java",
            }
        ],
    }


def serve_registry(server: Any, **kwargs: Any) -> str:
    """Put the registry and its icons on ``server``; the registry's URL."""
    server.files[REGISTRY_PATH] = json.dumps(airbyte_registry(server, **kwargs))
    server.files["/icons/alpha.svg"] = ICON_SVG
    server.content_types["/icons/alpha.svg"] = "image/svg+xml"
    server.files["/icons/broken.svg"] = 404
    return server.url(REGISTRY_PATH)


@contextmanager
def silent_server() -> Iterator[str]:
    """A URL on 127.0.0.1 whose server accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/registry.json"
    finally:
        stop.set()
        thread.join(timeout=2)
        for connection in held:
            connection.close()
        listener.close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}/registry.json"
