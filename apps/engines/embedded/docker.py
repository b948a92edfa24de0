"""Docker connectors: an image run by the worker host's Docker daemon.

A connector with neither a PyPI package nor a manifest runs as its Docker image,
when a Docker daemon answers on the worker host (``DOCKER_HOST``, the context or
the socket) and ``CONNECTOR_DOCKER`` is not ``off``. The console then speaks to
the daemon only through the ``docker`` command, as a person would:

- ``install``: ``docker pull <image>`` (its layer progress, collapsed, goes to the
  install log), then the image's ``spec`` as a smoke test. A pulled image whose
  ``spec`` fails is removed again, so nothing is left half-installed;
- ``launch``: ``docker run --rm -i ... <image> <verb> --config F ...``. The run's
  private folder (config, catalog and state files) is mounted read-only at the
  same path, so the paths in the argv mean the same inside the container, and
  the container runs as the console's own uid, so the 0700 folder and its 0600
  files stay readable to it and to no one else. The config reaches the container
  only through that file: no ``-e``, no console variable, no secret in the argv;
- the Docker CLI cannot run inside bubblewrap (it only talks to the daemon; the
  container is that connector's sandbox), so the launch is not sandboxed;
- ``cleanup``: killing the ``docker run`` process does not stop its container,
  so once the CLI has stopped (finished, timed out, cancelled) the container is
  removed by name, ``docker rm -f``. Containers carry the worker's ``host:pid`` in
  a label, so the reaper removes what a worker killed outright left running.

Answers that cost a process (is the daemon up, which images are here) are kept
for ``CACHE_SECONDS``. They are asked on worker hosts only: workers record whether
the daemon answers (``EmbeddedEngine.record_runtime_status``), and the catalog
page and forms read that record instead of starting ``docker`` in a web request.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from apps.core.pids import pid_alive
from apps.engines.base import RUNTIME_DOCKER, ConnectorRef, EngineError
from apps.engines.embedded import installer, protocol
from apps.engines.embedded.installer import InstallError
from apps.engines.embedded.launch import Launch
from apps.engines.embedded.runner import run_connector
from apps.engines.masking import SecretMasker
from apps.engines.processes import allowlisted_env, stream_command

logger = logging.getLogger(__name__)

OutputCallback = Callable[[str], None]

CACHE_SECONDS = 30.0
# How long a question to the daemon may take (version, image list, rm -f).
PROBE_TIMEOUT = 10.0
CLEANUP_TIMEOUT = 30.0
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
# The label naming the worker process (``host:pid``) that started a container.
WORKER_LABEL = "airbyte-console.worker"
NAME_PREFIX = "airbyte-console-"

# Docker's reference grammar, a little stricter: an optional registry host (with
# a port), then lower-case path components; a tag. Checked before a name becomes
# a docker argument (a leading "-" would be an option).
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(
    rf"^(?:[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*$"
)
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_LAYER_LINE = re.compile(r"^([0-9a-f]{12}): (.+)$")
# Layer statuses said once per layer; the rest ("Waiting", "Downloading"...) are
# steps on the way, dropped from the install log.
_LAYER_DONE = ("Already exists", "Download complete", "Pull complete")
_NOT_FOUND = (
    "pull access denied",
    "repository does not exist",
    "manifest unknown",
    "not found",
    "denied",
    "unauthorized",
)

_lock = threading.Lock()
_available: dict[tuple, tuple[float, tuple[bool, str]]] = {}
_images: dict[tuple, tuple[float, frozenset[str]]] = {}


def forget() -> None:
    """Drop the cached answers (after a pull or removal, and for tests)."""
    with _lock:
        _available.clear()
        _images.clear()


# -- the docker command ----------------------------------------------------------


def docker_env() -> dict[str, str]:
    """The Docker CLI's environment: the allowlist plus its own ``DOCKER_*`` settings.

    ``DOCKER_HOST``, ``DOCKER_CONTEXT``, ``DOCKER_CONFIG`` (registry logins) and
    the TLS settings say which daemon to reach and how. They are the CLI's: a
    container gets none of the CLI's environment unless ``-e`` says so, and the
    console never passes one.
    """
    env = allowlisted_env()
    env.update({k: v for k, v in os.environ.items() if k.startswith("DOCKER_")})
    return env


def _docker() -> str | None:
    """The ``docker`` program on the worker's PATH, or None."""
    return shutil.which("docker", path=os.environ.get("PATH", os.defpath))


def _cache_key() -> tuple:
    # A changed setting, PATH or daemon address is a new question, not a stale one.
    return (
        getattr(settings, "CONNECTOR_DOCKER", "auto"),
        os.environ.get("PATH", ""),
        tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("DOCKER_"))),
    )


def _run(
    args: list[str], timeout: float = PROBE_TIMEOUT
) -> subprocess.CompletedProcess:
    """``docker <args>`` to completion; a timeout is exit code -1 with a note."""
    program = _docker() or "docker"
    try:
        return subprocess.run(
            [program, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=docker_env(),
            timeout=timeout,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(
            args, -1, "", f"docker {args[0]} did not answer within {timeout:g} s"
        )
    except OSError as exc:
        return subprocess.CompletedProcess(args, 127, "", str(exc))


def _said(text: str) -> str:
    """Docker's own error, without its boilerplate prefix, on one line."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()] or lines
    said = errors[-1] if errors else ""
    for prefix in ("Error response from daemon: ", "Error: ", "error: "):
        if said.startswith(prefix):
            said = said[len(prefix) :]
    return said[:500]


# -- is Docker here --------------------------------------------------------------


def available() -> tuple[bool, str]:
    """Is a Docker daemon reachable from this host, and if not, why (cached)."""
    key = _cache_key()
    now = time.monotonic()
    with _lock:
        cached = _available.get(key)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
    answer = _probe()
    with _lock:
        _available[key] = (time.monotonic(), answer)
    return answer


def _probe() -> tuple[bool, str]:
    if getattr(settings, "CONNECTOR_DOCKER", "auto") == "off":
        return False, "turned off (CONNECTOR_DOCKER=off)"
    if _docker() is None:
        return False, "the docker command is not installed on the worker host"
    result = _run(["version", "--format", "{{.Server.Version}}"])
    if result.returncode == 0 and result.stdout.strip():
        return True, ""
    said = result.stderr or result.stdout
    found = re.search(r"daemon(?: socket)? at (\S+?)[.:]?(?:\s|$)", said)
    where = (
        found.group(1)
        if found
        else (os.environ.get("DOCKER_HOST") or _context() or DEFAULT_SOCKET)
    )
    if "permission denied" in said.lower():
        return False, (
            f"the Docker daemon at {where} refused the console's user (permission "
            "denied: add it to the docker group)"
        )
    return False, f"no Docker daemon answers at {where}"


def _context() -> str:
    context = os.environ.get("DOCKER_CONTEXT", "")
    return f"the {context} context" if context else ""


def _refuse(ref: ConnectorRef) -> None:
    ok, reason = available()
    if not ok:
        raise EngineError(
            f"{ref.name} runs as the Docker image {ref.docker_image or '(none)'}, "
            f"and Docker connectors cannot run here: {reason}."
        )


def image(ref: ConnectorRef) -> str:
    """``repository:tag`` of this connector, checked against Docker's grammar."""
    repository = ref.docker_repository
    tag = ref.version or "latest"
    if not REPOSITORY_RE.match(repository or ""):
        raise InstallError(f"{repository!r} is not a valid Docker image name.")
    if not TAG_RE.match(tag):
        raise InstallError(f"{tag!r} is not a valid tag for the image {repository}.")
    return f"{repository}:{tag}"


# -- which images are here -------------------------------------------------------


def _local_images() -> frozenset[str]:
    """Every ``repository:tag`` the daemon holds (one process per CACHE_SECONDS)."""
    key = _cache_key()
    now = time.monotonic()
    with _lock:
        cached = _images.get(key)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
    result = _run(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"])
    found = frozenset(
        line.strip()
        for line in result.stdout.splitlines()
        if line.strip() and "<none>" not in line
    )
    if result.returncode != 0:
        return frozenset()
    with _lock:
        _images[key] = (time.monotonic(), found)
    return found


def _here(name: str) -> bool:
    """Is this exact image on the daemon now (asked, not cached)."""
    return _run(["image", "inspect", "--format", "{{.Id}}", name]).returncode == 0


def installed(ref: ConnectorRef) -> bool:
    """The image is on this host's daemon (cached briefly)."""
    if not ref.docker_repository or not available()[0]:
        return False
    try:
        name = image(ref)
    except EngineError:
        return False
    return _normal(name) in {_normal(found) for found in _local_images()}


def _normal(name: str) -> str:
    # `docker image ls` drops Docker Hub's host; a registry entry may keep it.
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


# -- install ---------------------------------------------------------------------


def install(ref: ConnectorRef, *, on_output: OutputCallback) -> dict[str, Any] | None:
    """``docker pull`` the image, then run its ``spec``; the raw SPEC.

    An image that does not exist (or is private) fails with Docker's words; an
    image whose ``spec`` fails is removed again if this install brought it.
    """
    _refuse(ref)
    name = image(ref)
    emit = on_output or (lambda line: None)
    was_here = _here(name)
    emit(f"Pulling the Docker image {name}.")
    _pull(name, emit)
    forget()
    emit(f"Running `{name} spec` to check the connector starts.")
    try:
        spec = _smoke_spec(ref, name)
    except EngineError:
        if not was_here:
            _run(["rmi", name], timeout=CLEANUP_TIMEOUT)
            forget()
            emit(f"Removed {name} again: it cannot run as a connector.")
        raise
    emit(f"Installed {name}.")
    return spec


def _pull(name: str, emit: OutputCallback) -> None:
    timeout = installer.install_timeout()
    progress = _PullProgress(emit)
    program = _docker() or "docker"
    try:
        output = stream_command(
            [program, "pull", name], env=docker_env(), emit=progress, timeout=timeout
        )
    except OSError as exc:
        raise InstallError(f"Could not run `docker pull {name}`: {exc}") from None
    if output.timed_out:
        raise InstallError(
            f"Pulling the image {name} did not finish within {timeout:g} s; it was "
            "stopped. A retry continues with the layers already pulled."
        )
    if output.returncode == 0:
        return
    said = _said("\n".join(output.lines)) or f"exit code {output.returncode}"
    lowered = said.lower()
    if any(words in lowered for words in _NOT_FOUND):
        raise InstallError(
            f"The image {name} does not exist or is private: docker said: {said}. "
            "Check the connector's image and version in the catalog; a private "
            "image needs a `docker login` on the worker host."
        )
    if "cannot connect to the docker daemon" in lowered:
        forget()
        raise InstallError(f"No Docker daemon answered while pulling {name}: {said}")
    raise InstallError(f"Pulling the image {name} failed: docker said: {said}")


class _PullProgress:
    """``docker pull`` lines to the install log, one line per layer milestone.

    Docker prints several statuses per layer (waiting, downloading, verifying,
    extracting...); the log keeps the ones that say something was done, with a
    count of the layers finished so far.
    """

    def __init__(self, emit: OutputCallback) -> None:
        self.emit = emit
        self.layers: dict[str, str] = {}

    def __call__(self, line: str) -> None:
        # A terminal's progress bar ends in "\r"; keep the last state of the line.
        line = line.rsplit("\r", 1)[-1].strip()
        match = _LAYER_LINE.match(line)
        if match is None:
            if line:
                self.emit(line)
            return
        layer, status = match.group(1), match.group(2)
        status = re.sub(r"\s*\[[=> ]*\].*$", "", status).strip()
        if self.layers.get(layer) == status:
            return
        self.layers[layer] = status
        if status in _LAYER_DONE:
            done = sum(
                1
                for s in self.layers.values()
                if s in ("Already exists", "Pull complete")
            )
            self.emit(f"{layer}: {status} ({done} of {len(self.layers)} layers ready)")


def _smoke_spec(ref: ConnectorRef, name: str) -> dict[str, Any]:
    ready = _launch(ref, name)
    timeout = installer.spec_timeout()
    result = run_connector(
        ready.command,
        "spec",
        masker=SecretMasker(),
        timeout=timeout,
        sandboxed=False,
        extra_env=ready.env,
        cleanup=ready.cleanup,
    )
    message = result.first(protocol.SPEC)
    if message is None or not isinstance(message.get("spec"), dict):
        raise InstallError(
            f"{name} was pulled, but its `spec` failed: "
            + result.failure_message("spec", timeout),
            logs=tuple(result.logs),
        )
    return message["spec"]


# -- run -------------------------------------------------------------------------


def launch(ref: ConnectorRef, *, on_output: OutputCallback | None = None) -> Launch:
    """A ready ``docker run`` of this image, pulling it first if it is not here."""
    _refuse(ref)
    name = image(ref)
    spec = None
    if not _here(name):
        spec = install(ref, on_output=on_output or (lambda line: None))
    return _launch(ref, name, spec)


def _launch(ref: ConnectorRef, name: str, spec: dict[str, Any] | None = None) -> Launch:
    program = _docker() or "docker"
    worker = f"{socket.gethostname()}:{os.getpid()}"
    user = f"{os.getuid()}:{os.getgid()}"

    def prefix(directory: Path) -> list[str]:
        return [
            program,
            "run",
            "--rm",
            "-i",
            # tini as PID 1: the connector gets signals and its children are reaped.
            "--init",
            "--pull",
            "never",
            "--name",
            container_name(directory),
            "--label",
            f"{WORKER_LABEL}={worker}",
            # The console's uid: the 0700 folder and its 0600 files are readable,
            # and nothing in the container runs as root.
            "--user",
            user,
            "--security-opt",
            "no-new-privileges",
            # Docker's default bridge network: the internet and, by name
            # host.docker.internal, services the host publishes, but not the
            # host's loopback (the console's own database and Redis).
            "--add-host",
            "host.docker.internal:host-gateway",
            # Records and secrets in the connector's output are not kept by the
            # daemon's log driver; the console reads them through the attach.
            "--log-driver",
            "none",
            "--env",
            "HOME=/tmp",
            "--volume",
            f"{directory}:{directory}:ro",
            name,
        ]

    return Launch(
        runtime=RUNTIME_DOCKER,
        label=name,
        prefix=prefix,
        sandboxed=False,
        spec=spec,
        env=docker_env(),
        cleanup=remove_container,
    )


def container_name(directory: Path) -> str:
    """The container of the run whose private folder is ``directory``."""
    raw = f"{NAME_PREFIX}{directory.parent.name}-{directory.name}"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", raw)


def remove_container(directory: Path) -> None:
    """``docker rm -f`` the run's container; quiet when ``--rm`` already took it.

    Killing the ``docker run`` CLI (a timeout, a cancel) leaves its container
    running: this is what stops it.
    """
    name = container_name(directory)
    result = _run(["rm", "-f", name], timeout=CLEANUP_TIMEOUT)
    if result.returncode == 0 and name in result.stdout:
        logger.info("Removed the container %s after its run", name)


# -- uninstall -------------------------------------------------------------------


def uninstall(ref: ConnectorRef) -> int:
    """``docker rmi`` every tag of the connector's repository; how many went."""
    if not ref.docker_repository or not available()[0]:
        return 0
    if not REPOSITORY_RE.match(ref.docker_repository):
        raise InstallError(
            f"{ref.docker_repository!r} is not a valid Docker image name."
        )
    listed = _run(
        ["image", "ls", "--format", "{{.Repository}}:{{.Tag}}", ref.docker_repository]
    )
    removed = 0
    for line in listed.stdout.splitlines():
        name = line.strip()
        if not name or "<none>" in name:
            continue
        if _run(["rmi", name], timeout=CLEANUP_TIMEOUT).returncode == 0:
            removed += 1
    forget()
    return removed


# -- after a worker died ---------------------------------------------------------


def stop_worker_containers(worker: str) -> int:
    """Remove the containers a dead worker (``host:pid``) of this host left."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or pid_alive(int(pid)):
        # A live worker removes its own container once its CLI is stopped.
        return 0
    if not available()[0]:
        return 0
    return _remove(_containers(f"label={WORKER_LABEL}={worker}"))


def sweep() -> int:
    """Remove containers of this host's workers that are gone; how many."""
    if not available()[0]:
        return 0
    host = socket.gethostname()
    dead = []
    for line in _containers(f"label={WORKER_LABEL}", with_worker=True):
        container, _, worker = line.partition(" ")
        name, _, pid = worker.rpartition(":")
        if name == host and pid.isdigit() and not pid_alive(int(pid)):
            dead.append(container)
    return _remove(dead)


def _containers(label_filter: str, *, with_worker: bool = False) -> list[str]:
    fields = "{{.ID}}" + (f' {{{{.Label "{WORKER_LABEL}"}}}}' if with_worker else "")
    result = _run(["ps", "-a", "--filter", label_filter, "--format", fields])
    if result.returncode != 0:
        return []
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def _remove(containers: list[str]) -> int:
    if not containers:
        return 0
    result = _run(["rm", "-f", *containers], timeout=CLEANUP_TIMEOUT)
    if result.returncode != 0:
        logger.warning("Could not remove containers %s: %s", containers, result.stderr)
        return 0
    logger.warning("Removed %s container(s) a dead worker left", len(containers))
    return len(containers)
