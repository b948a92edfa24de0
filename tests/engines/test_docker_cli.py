"""The real ``docker`` client against a fake Docker Engine API on a unix socket.

The stand-in ``docker`` (``test_docker.py``) checks the console's side; this one
checks that the real Docker CLI of this machine accepts every flag the console
passes and turns them into the container the console means (the create request's
user, mounts, environment, log driver...), that its pull output is collapsed as
expected, and that Docker's own refusal reaches the user. The fake answers the
few calls the CLI makes and refuses to start containers; skipped where no docker
client is installed.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import socket
import socketserver
import threading
import uuid
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from apps.engines.base import ConnectorRef
from apps.engines.embedded import docker
from apps.engines.embedded.installer import InstallError
from apps.engines.embedded.runner import run_connector
from apps.engines.masking import SecretMasker

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client"),
]

API = "1.43"
SECRET = "Canary-Secret-9"
NOPE = (
    "pull access denied for airbyte/source-nope, repository does not exist or may "
    "require 'docker login': denied: requested access to the resource is denied"
)


class FakeDaemon:
    """Just enough of the Docker Engine API; every request is kept."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.requests: list[tuple[str, str, bytes]] = []
        self.images: set[str] = set()
        daemon = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def address_string(self) -> str:
                return "unix"

            def log_message(self, *args: object) -> None:
                return None

            def reply(self, code: int, body: object = b"", kind: str = "") -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", kind or "application/json")
                self.send_header("Api-Version", API)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def handle_any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                daemon.requests.append((self.command, self.path, body))
                url = urlparse(self.path)
                route = (
                    "/" + url.path.split("/", 2)[-1]
                    if url.path[2:3].isdigit()
                    else url.path
                )
                query = parse_qs(url.query)
                # The CLI hangs up after a HEAD /_ping it has read enough of.
                with contextlib.suppress(BrokenPipeError):
                    daemon.answer(self, self.command, unquote(route), query)

            do_GET = do_POST = do_DELETE = do_HEAD = handle_any

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        self.server = Server(str(path), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, handler, method: str, route: str, query: dict) -> None:
        if route == "/_ping":
            return handler.reply(200, b"OK", "text/plain")
        if route == "/version":
            return handler.reply(
                200,
                {"Version": "28.0.0-fake", "ApiVersion": API, "MinAPIVersion": "1.24"},
            )
        if method == "POST" and route == "/images/create":
            # The CLI names Docker Hub in full; the daemon's lists do not.
            image = query["fromImage"][0].removeprefix("docker.io/")
            name = f"{image}:{query['tag'][0]}"
            if "nope" in name:
                return handler.reply(404, {"message": NOPE})
            self.images.add(name)
            return handler.reply(200, self.pull_stream(name))
        if method == "GET" and route == "/images/json":
            return handler.reply(
                200,
                [
                    {"Id": f"sha256:{i}", "RepoTags": [n], "Created": 0, "Size": 0}
                    for i, n in enumerate(sorted(self.images))
                ],
            )
        if method == "GET" and route.startswith("/images/") and route.endswith("/json"):
            name = route[len("/images/") : -len("/json")]
            if name in self.images:
                return handler.reply(
                    200, {"Id": "sha256:" + "ab" * 32, "RepoTags": [name]}
                )
            return handler.reply(404, {"message": f"No such image: {name}"})
        if method == "DELETE" and route.startswith("/images/"):
            self.images.discard(route[len("/images/") :])
            return handler.reply(200, [{"Untagged": route[len("/images/") :]}])
        if method == "POST" and route == "/containers/create":
            return handler.reply(500, {"message": "the fake daemon runs no containers"})
        if method == "DELETE" and route.startswith("/containers/"):
            return handler.reply(404, {"message": "No such container"})
        return handler.reply(404, {"message": f"fake: no {method} {route}"})

    @staticmethod
    def pull_stream(name: str) -> bytes:
        repository, _, tag = name.rpartition(":")
        layer = "0a1b2c3d4e5f"
        events = [
            {"status": f"Pulling from {repository}", "id": tag},
            {"status": "Pulling fs layer", "progressDetail": {}, "id": layer},
            {"status": "Waiting", "progressDetail": {}, "id": layer},
            *[
                {
                    "status": "Downloading",
                    "progressDetail": {"current": n, "total": 10},
                    "progress": f"[{'=' * n}>] {n}B/10B",
                    "id": layer,
                }
                for n in range(1, 4)
            ],
            {"status": "Download complete", "progressDetail": {}, "id": layer},
            {
                "status": "Extracting",
                "progressDetail": {"current": 5, "total": 10},
                "id": layer,
            },
            {"status": "Pull complete", "progressDetail": {}, "id": layer},
            {"status": "Digest: sha256:" + "cd" * 32},
            {"status": f"Status: Downloaded newer image for {name}"},
        ]
        return b"".join(json.dumps(e).encode() + b"\r\n" for e in events)

    def of(self, method: str, prefix: str) -> list[tuple[str, bytes]]:
        found = []
        for m, path, body in self.requests:
            route = "/" + path.split("/", 2)[-1] if path[2:3].isdigit() else path
            if m == method and route.startswith(prefix):
                found.append((route, body))
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def daemon(monkeypatch, settings):
    # A short path: unix socket names are limited to about 100 bytes.
    path = Path("/tmp") / f"fake-docker-{uuid.uuid4().hex[:8]}.sock"
    fake = FakeDaemon(path)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    # The client's own config (~/.docker) stays out of the way.
    monkeypatch.setenv("DOCKER_CONFIG", str(path.with_suffix(".config")))
    settings.CONNECTOR_DOCKER = "auto"
    docker.forget()
    yield fake
    docker.forget()
    fake.close()
    path.unlink(missing_ok=True)


def ref(repository: str = "airbyte/source-standin", version: str = "1.0.0"):
    return ConnectorRef(
        kind="source", name="Stand-in", version=version, docker_repository=repository
    )


def test_a_daemon_on_docker_host_is_found_and_a_missing_one_named(daemon, monkeypatch):
    assert docker.available() == (True, "")
    missing = "/tmp/no-docker-here.sock"
    monkeypatch.setenv("DOCKER_HOST", f"unix://{missing}")
    docker.forget()
    assert docker.available() == (
        False,
        f"no Docker daemon answers at unix://{missing}",
    )


def test_the_real_client_runs_the_container_the_console_means(daemon, tmp_path):
    daemon.images.add("airbyte/source-standin:1.0.0")
    ready = docker.launch(ref())

    result = run_connector(
        ready.command,
        "check",
        masker=SecretMasker({SECRET}),
        config={"api_key": SECRET},
        timeout=60,
        sandboxed=False,
        extra_env=ready.env,
        cleanup=ready.cleanup,
    )

    # The fake starts nothing; the CLI said so in Docker's words.
    assert result.returncode == 125
    assert "the fake daemon runs no containers" in result.stderr
    ((route, body),) = daemon.of("POST", "/containers/create")
    name = parse_qs(urlparse(route).query)["name"][0]
    create = json.loads(body)
    host = create["HostConfig"]
    assert create["Image"] == "airbyte/source-standin:1.0.0"
    assert create["User"] == f"{os.getuid()}:{os.getgid()}"
    assert create["Env"] == ["HOME=/tmp"]
    assert create["Cmd"][:2] == ["check", "--config"]
    config_file = create["Cmd"][2]
    (bind,) = host["Binds"]
    folder = bind.split(":")[0]
    assert bind == f"{folder}:{folder}:ro"
    assert config_file.startswith(folder + "/")
    worker = f"{socket.gethostname()}:{os.getpid()}"
    assert create["Labels"] == {"airbyte-console.worker": worker}
    assert host["AutoRemove"] is True
    assert host["Init"] is True
    assert host["LogConfig"]["Type"] == "none"
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["ExtraHosts"] == ["host.docker.internal:host-gateway"]
    assert host["NetworkMode"] in ("default", "bridge")
    assert host["Privileged"] is False
    # After the CLI stopped, the container was removed by the same name.
    assert daemon.of("DELETE", f"/containers/{name}")
    # The secret never left the mounted file.
    for _method, path, sent in daemon.requests:
        assert SECRET not in path and SECRET.encode() not in sent


def test_the_real_clients_pull_output_is_collapsed(daemon):
    lines: list[str] = []

    with pytest.raises(InstallError) as caught:
        docker.install(ref(), on_output=lines.append)

    assert "1.0.0: Pulling from airbyte/source-standin" in lines
    assert "0a1b2c3d4e5f: Download complete (0 of 1 layers ready)" in lines
    assert "0a1b2c3d4e5f: Pull complete (1 of 1 layers ready)" in lines
    assert not [line for line in lines if "Downloading" in line or "Waiting" in line]
    # The fake runs no container, so the smoke test fails and the image goes again.
    assert caught.value.message.startswith(
        "airbyte/source-standin:1.0.0 was pulled, but its `spec` failed"
    )
    assert daemon.of("DELETE", "/images/airbyte/source-standin:1.0.0")
    assert daemon.images == set()


def test_the_real_clients_refusal_of_a_missing_image_reaches_the_user(daemon):
    with pytest.raises(InstallError) as caught:
        docker.install(ref("airbyte/source-nope", "1.0"), on_output=lambda line: None)

    assert caught.value.message.startswith(
        f"The image airbyte/source-nope:1.0 does not exist or is private: docker "
        f"said: {NOPE}."
    )
    assert daemon.of("POST", "/containers/create") == []
