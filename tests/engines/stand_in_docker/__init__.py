"""The stand-in ``docker`` command (``./docker``) and a fixture that puts it on PATH.

No Docker daemon can run on the test machines, so the console's Docker runtime is
tested against this executable: it records each call and plays the daemon's part
(images, containers that outlive their CLI, the Airbyte protocol). See its
docstring for what it checks.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent / "docker"


@dataclass
class StandIn:
    """The stand-in's files: its call log and its "daemon's" state."""

    bin_dir: Path
    log: Path
    state: Path
    monkeypatch: pytest.MonkeyPatch

    def calls(self) -> list[list[str]]:
        """Every argv the console gave ``docker``, in order."""
        if not self.log.exists():
            return []
        return [json.loads(line)["argv"] for line in self.log.read_text().splitlines()]

    def calls_of(self, command: str) -> list[list[str]]:
        return [argv for argv in self.calls() if argv[:1] == [command]]

    def images(self) -> list[str]:
        path = self.state / "images.json"
        return json.loads(path.read_text()) if path.exists() else []

    def add_image(self, name: str) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "images.json").write_text(json.dumps([*self.images(), name]))

    def containers(self) -> dict[str, dict]:
        folder = self.state / "containers"
        if not folder.exists():
            return {}
        return {p.name: json.loads(p.read_text()) for p in folder.iterdir()}

    def add_container(self, name: str, *, pid: int, worker: str) -> None:
        """A container the "daemon" runs, as a console worker labels it."""
        folder = self.state / "containers"
        folder.mkdir(parents=True, exist_ok=True)
        labels = {"airbyte-console.worker": worker}
        (folder / name).write_text(json.dumps({"pid": pid, "labels": labels}))

    def daemon(self, up: bool, *, denied: bool = False) -> None:
        from apps.engines.embedded import docker

        state = "denied" if denied else "up" if up else "down"
        self.monkeypatch.setenv("DOCKER_STANDIN_DAEMON", state)
        docker.forget()


@pytest.fixture(name="stand_in_docker")
def stand_in_docker_fixture(tmp_path, monkeypatch, settings) -> StandIn:
    """The stand-in first on PATH, its daemon up, the runtime's caches empty."""
    from apps.engines.embedded import docker

    bin_dir = tmp_path / "docker-bin"
    bin_dir.mkdir()
    program = bin_dir / "docker"
    # The test's own Python runs it, whatever ``python3`` is on this machine.
    source = SCRIPT.read_text().split("\n", 1)[1]
    program.write_text(f"#!{sys.executable}\n{source}")
    program.chmod(program.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP)
    stand_in = StandIn(
        bin_dir=bin_dir,
        log=tmp_path / "docker-calls.jsonl",
        state=tmp_path / "docker-state",
        monkeypatch=monkeypatch,
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("DOCKER_STANDIN_LOG", str(stand_in.log))
    monkeypatch.setenv("DOCKER_STANDIN_STATE", str(stand_in.state))
    monkeypatch.setenv("DOCKER_STANDIN_DAEMON", "up")
    settings.CONNECTOR_DOCKER = "auto"
    docker.forget()
    yield stand_in
    docker.forget()
    # A failed test may leave a "container" running: it goes with the test.
    for info in stand_in.containers().values():
        if int(info["pid"]) <= 1:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(info["pid"], signal.SIGKILL)
