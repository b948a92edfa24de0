"""Docker connectors on the embedded engine, against the stand-in ``docker``.

No Docker daemon runs on the test machines; ``tests/engines/stand_in_docker/docker``
plays it (see its docstring). One test reads the real ``docker`` client of this
machine, with no daemon behind it, to check the catalog tells the truth there.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

from apps.engines.base import RUNTIME_DOCKER, ConnectorRef, EngineError
from apps.engines.embedded import docker, launch
from apps.engines.embedded.engine import EmbeddedEngine
from apps.engines.embedded.installer import InstallError
from tests.engines.stand_in_docker import stand_in_docker_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

SECRET = "right-key"  # the stand-in's check accepts exactly this key


def ref(repository: str = "airbyte/source-standin", version: str = "1.0.0"):
    return ConnectorRef(
        kind="source",
        name="Stand-in",
        definition_id="6a3a7a10-0000-4000-8000-000000000001",
        version=version,
        docker_repository=repository,
    )


def run_calls(stand_in) -> list[list[str]]:
    return stand_in.calls_of("run")


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


# -- is Docker here ----------------------------------------------------------------


def test_turned_off_says_so_in_the_catalog(stand_in_docker, settings):
    settings.CONNECTOR_DOCKER = "off"
    docker.forget()

    assert docker.available() == (False, "turned off (CONNECTOR_DOCKER=off)")
    assert EmbeddedEngine.runtime_available(RUNTIME_DOCKER) == (
        False,
        "turned off (CONNECTOR_DOCKER=off)",
    )
    assert stand_in_docker.calls() == []  # it did not even ask


def test_no_docker_command_on_the_worker_host(tmp_path, monkeypatch, settings):
    settings.CONNECTOR_DOCKER = "auto"
    monkeypatch.setenv("PATH", str(tmp_path))
    docker.forget()

    assert docker.available() == (
        False,
        "the docker command is not installed on the worker host",
    )
    docker.forget()


def test_this_machines_docker_client_without_a_daemon_is_reported_truthfully(
    settings, monkeypatch
):
    real = shutil.which("docker")
    if real is None:
        pytest.skip("no docker client on this machine")
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    answered = subprocess.run(
        [real, "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        timeout=30,
    )
    if answered.returncode == 0:
        pytest.skip("a Docker daemon answers on this machine")
    settings.CONNECTOR_DOCKER = "auto"
    docker.forget()

    ok, reason = docker.available()

    assert not ok
    assert reason.startswith("no Docker daemon answers at ") or "permission" in reason
    docker.forget()


def test_daemon_down_then_up(stand_in_docker):
    stand_in_docker.daemon(up=False)
    assert docker.available() == (
        False,
        "no Docker daemon answers at unix:///var/run/docker.sock",
    )
    stand_in_docker.daemon(up=False, denied=True)
    assert docker.available() == (
        False,
        "the Docker daemon at unix:///var/run/docker.sock refused the console's user "
        "(permission denied: add it to the docker group)",
    )
    stand_in_docker.daemon(up=True)
    assert docker.available() == (True, "")


def test_the_answer_is_cached_so_pages_do_not_start_a_process_each(stand_in_docker):
    for _ in range(5):
        assert docker.available()[0]
        assert not docker.installed(ref())
    assert len(stand_in_docker.calls_of("version")) == 1
    assert len(stand_in_docker.calls_of("image")) == 1


# -- install -----------------------------------------------------------------------


def test_install_pulls_with_progress_then_runs_spec(stand_in_docker):
    lines: list[str] = []

    spec = docker.install(ref(), on_output=lines.append)

    assert spec["connectionSpecification"]["properties"]["api_key"]["airbyte_secret"]
    assert lines[0] == "Pulling the Docker image airbyte/source-standin:1.0.0."
    assert "1.0.0: Pulling from airbyte/source-standin" in lines
    # One line per layer milestone, not Docker's every status.
    assert not [line for line in lines if "Waiting" in line or "Downloading" in line]
    assert "2c3d4e5f6071: Pull complete (3 of 3 layers ready)" in lines
    assert lines[-1] == "Installed airbyte/source-standin:1.0.0."
    assert docker.installed(ref())
    assert launch.installed(ref())
    (spec_run,) = run_calls(stand_in_docker)
    assert spec_run[-2:] == ["airbyte/source-standin:1.0.0", "spec"]
    # The smoke test's container is removed by name afterwards.
    name = option(spec_run, "--name")
    assert ["rm", "-f", name] in stand_in_docker.calls()


def test_an_image_that_does_not_exist_says_so_and_installs_nothing(stand_in_docker):
    lines: list[str] = []
    nope = ref("airbyte/source-nope", "1.0")

    with pytest.raises(InstallError) as caught:
        docker.install(nope, on_output=lines.append)

    assert caught.value.message.startswith(
        "The image airbyte/source-nope:1.0 does not exist or is private: docker "
        "said: pull access denied for airbyte/source-nope, repository does not exist"
    )
    assert "docker login" in caught.value.message
    assert not docker.installed(nope)
    assert stand_in_docker.images() == []
    assert run_calls(stand_in_docker) == []


def test_testing_a_source_whose_image_does_not_exist_says_why(stand_in_docker):
    nope = ref("airbyte/source-nope", "1.0")

    result = EmbeddedEngine().check(nope, {"api_key": SECRET})
    with pytest.raises(EngineError) as caught:
        EmbeddedEngine().discover(nope, {"api_key": SECRET})

    assert not result.ok
    assert result.message.startswith(
        "The image airbyte/source-nope:1.0 does not exist or is private"
    )
    assert caught.value.message == result.message
    assert stand_in_docker.images() == []


def test_an_image_whose_spec_fails_is_removed_again(stand_in_docker):
    broken = ref("airbyte/source-broken", "2.0")

    with pytest.raises(InstallError) as caught:
        docker.install(broken, on_output=lambda line: None)

    assert caught.value.message.startswith(
        "airbyte/source-broken:2.0 was pulled, but its `spec` failed:"
    )
    assert "no such file or directory" in caught.value.message
    assert stand_in_docker.images() == []
    assert not docker.installed(broken)


def test_a_name_that_is_not_an_image_never_reaches_docker(stand_in_docker):
    with pytest.raises(InstallError, match="not a valid Docker image name"):
        docker.install(ref("--privileged"), on_output=lambda line: None)
    with pytest.raises(InstallError, match="not a valid tag"):
        docker.install(ref(version="1.0 --rm"), on_output=lambda line: None)
    assert stand_in_docker.calls_of("pull") == []


def test_uninstall_removes_every_tag_of_the_repository(stand_in_docker):
    for name in (
        "airbyte/source-standin:1.0.0",
        "airbyte/source-standin:1.1.0",
        "airbyte/source-other:1.0.0",
    ):
        stand_in_docker.add_image(name)

    assert docker.uninstall(ref()) == 2
    assert stand_in_docker.images() == ["airbyte/source-other:1.0.0"]
    assert not docker.installed(ref())


# -- running -----------------------------------------------------------------------


def test_spec_check_discover_through_the_engine(stand_in_docker):
    engine = EmbeddedEngine()
    spec = engine.spec(ref())
    good = engine.check(ref(), {"api_key": SECRET})
    bad = engine.check(ref(), {"api_key": "wrong-Canary-42"})
    catalog = engine.discover(ref(), {"api_key": SECRET})

    assert "api_key" in spec.connection_specification["properties"]
    assert good.ok, good.message
    assert not bad.ok
    assert bad.message == "The API key was refused."
    assert [s.name for s in catalog.streams] == ["things"]
    assert catalog.stream("things").default_cursor_field == ("id",)
    # Pulled once (the first launch), then run from the local image.
    assert len(stand_in_docker.calls_of("pull")) == 1
    # The config reached the containers through the mounted file only.
    for argv in stand_in_docker.calls():
        assert not any(SECRET in arg or "Canary" in arg for arg in argv), argv


def test_the_docker_run_command(stand_in_docker, tmp_path):
    stand_in_docker.add_image("airbyte/source-standin:1.0.0")
    ready = launch.launch(ref())
    folder = tmp_path / "worker-1" / "run-abc"

    argv = ready.command(folder)

    assert ready.runtime == RUNTIME_DOCKER
    assert ready.sandboxed is False  # the container is the sandbox
    assert os.path.basename(argv[0]) == "docker"
    assert argv[1:5] == ["run", "--rm", "-i", "--init"]
    assert option(argv, "--name") == "airbyte-console-worker-1-run-abc"
    assert option(argv, "--user") == f"{os.getuid()}:{os.getgid()}"
    assert option(argv, "--volume") == f"{folder}:{folder}:ro"
    assert option(argv, "--label") == (
        f"airbyte-console.worker={socket.gethostname()}:{os.getpid()}"
    )
    assert option(argv, "--pull") == "never"
    assert option(argv, "--log-driver") == "none"
    # The only variable the container gets is a writable HOME.
    assert [argv[i + 1] for i, a in enumerate(argv) if a in ("-e", "--env")] == [
        "HOME=/tmp"
    ]
    assert argv[-1] == "airbyte/source-standin:1.0.0"
    assert stand_in_docker.calls_of("pull") == []  # it was already here


def test_a_check_that_times_out_stops_its_container(stand_in_docker, settings):
    settings.CONNECTOR_TIMEOUTS = {"spec": 60, "check": 2, "discover": 60}
    stand_in_docker.add_image("airbyte/source-standin:1.0.0")
    started = time.monotonic()

    result = EmbeddedEngine().check(ref(), {"api_key": SECRET, "mode": "slow"})

    assert not result.ok
    assert "did not finish within 2 s" in result.message
    assert time.monotonic() - started < 30
    check_run = next(argv for argv in run_calls(stand_in_docker) if "check" in argv)
    name = option(check_run, "--name")
    assert ["rm", "-f", name] in stand_in_docker.calls()
    # Killing the CLI alone would have left the container reading forever.
    assert name not in stand_in_docker.containers()


def test_turned_off_refuses_with_the_reason(stand_in_docker, settings):
    settings.CONNECTOR_DOCKER = "off"
    docker.forget()

    result = EmbeddedEngine().check(ref(), {"api_key": SECRET})
    with pytest.raises(EngineError) as caught:
        launch.launch(ref())

    assert not result.ok
    assert result.message == (
        "Stand-in runs as the Docker image airbyte/source-standin:1.0.0, and Docker "
        "connectors cannot run here: turned off (CONNECTOR_DOCKER=off)."
    )
    assert caught.value.message == result.message
    assert stand_in_docker.calls() == []


# -- after a worker died -------------------------------------------------------------


NO_PID = 4_194_305  # above Linux's highest pid_max: never a process


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_the_sweep_removes_containers_of_dead_workers_only(stand_in_docker):
    host = socket.gethostname()
    dead = f"{host}:{_dead_pid()}"
    alive = f"{host}:{os.getpid()}"
    elsewhere = f"another-host:{_dead_pid()}"
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        stand_in_docker.add_container("left-by-dead", pid=sleeper.pid, worker=dead)
        stand_in_docker.add_container("still-running", pid=NO_PID, worker=alive)
        stand_in_docker.add_container("other-host", pid=NO_PID, worker=elsewhere)

        EmbeddedEngine.recover_lost_jobs()  # the reaper, every minute

        assert sorted(stand_in_docker.containers()) == ["other-host", "still-running"]
        assert sleeper.wait(timeout=10) == -9  # the "container" was stopped
        assert docker.stop_worker_containers(alive) == 0
    finally:
        if sleeper.poll() is None:
            sleeper.kill()


def test_the_reaper_stops_the_container_of_a_lost_attempt(stand_in_docker):
    dead = f"{socket.gethostname()}:{_dead_pid()}"
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        stand_in_docker.add_container("lost", pid=sleeper.pid, worker=dead)

        EmbeddedEngine().stop_lost_attempt(worker=dead, process_group=None)

        assert stand_in_docker.containers() == {}
        assert sleeper.wait(timeout=10) == -9
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
