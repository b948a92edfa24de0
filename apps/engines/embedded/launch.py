"""How the embedded engine starts one connector, whatever it is made of.

A connector reaches this host in one of three ways (``ConnectorRef.runtime``): a
PyPI package in its own virtualenv (``installer.py``), a low-code manifest run by
the CDK's declarative runner (``manifests.py``), or a Docker image run by the
worker host's Docker daemon (``docker.py``). Each module answers the same four
verbs, and the engine and the sync loop only ever hold a ``Launch``:

- ``launch(ref)``: a ready ``Launch`` (installing first if needed);
- ``install(ref, on_output)``: install now; the raw SPEC if the install ran it;
- ``installed(ref)``: is it ready on this host;
- ``uninstall(ref)``: remove every version; how many went.

A ``Launch`` says what to run (``command(directory)``, where ``directory`` is the
run's private folder holding the config, catalog and state files), whether the
console's sandbox wraps it (a Docker CLI cannot run inside bubblewrap: the
container is its sandbox), how the user's config becomes the connector's (a
manifest rides inside it) and what to clean up once the process has stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from apps.engines.base import RUNTIME_PYPI, ConnectorRef, EngineError
from apps.engines.embedded import installer

OutputCallback = Callable[[str], None]


def _same(config: dict[str, Any]) -> dict[str, Any]:
    return config


def _nothing(directory: Path) -> None:
    return None


@dataclass(frozen=True)
class Launch:
    """Everything needed to start one connector process on this host."""

    runtime: str
    # What logs and messages call it: the console script, manifest or image.
    label: str
    # The argv before the verb (``spec``, ``check --config F``...), given the
    # run's private folder.
    prefix: Callable[[Path], list[str]]
    # The virtualenv's bin folder, first on PATH (None: no virtualenv).
    bin_dir: Path | None = None
    # Run inside the console's bubblewrap sandbox when it is on.
    sandboxed: bool = True
    # The connector's SPEC when known without running it (an install's smoke
    # test, a manifest's own ``spec`` section).
    spec: dict[str, Any] | None = None
    # The stored config -> what the connector reads (a manifest rides inside).
    prepare_config: Callable[[dict[str, Any]], dict[str, Any]] = _same
    # Extra environment for the process (on top of the allowlisted one).
    env: Mapping[str, str] = field(default_factory=dict)
    # Called with the private folder once the process has stopped, whatever
    # happened (a container left behind by a killed CLI goes here).
    cleanup: Callable[[Path], None] = _nothing

    def command(self, directory: Path) -> list[str]:
        return self.prefix(directory)


def from_installation(installation: installer.Installation) -> Launch:
    """The launch of a connector virtualenv from PyPI."""
    command = installation.command()
    return Launch(
        runtime=RUNTIME_PYPI,
        label=installation.entrypoint,
        prefix=lambda directory: list(command),
        bin_dir=installation.bin_dir,
        spec=installation.spec,
    )


class Runtime(Protocol):
    """One way connectors reach this host: the four verbs above."""

    def launch(
        self, ref: ConnectorRef, *, on_output: OutputCallback | None = None
    ) -> Launch: ...

    def install(
        self, ref: ConnectorRef, *, on_output: OutputCallback
    ) -> dict[str, Any] | None: ...

    def installed(self, ref: ConnectorRef) -> bool: ...

    def uninstall(self, ref: ConnectorRef) -> int: ...


_runtimes: dict[str, Runtime] = {}


def register_runtime(name: str, runtime: Runtime) -> None:
    """Make ``runtime`` start connectors whose ``ConnectorRef.runtime`` is ``name``.

    The app's ``ready()`` registers PyPI, manifests and Docker; a new way of
    running connectors is a module with the four verbs and one call here.
    """
    _runtimes[name] = runtime


def _module(ref: ConnectorRef) -> Runtime:
    found = _runtimes.get(ref.runtime)
    if found is None:
        raise EngineError(
            f"{ref.name} has no PyPI package, manifest or image, so the embedded "
            "engine cannot run it."
        )
    return found


def launch(ref: ConnectorRef, *, on_output: OutputCallback | None = None) -> Launch:
    """A ready launch of this connector version, installing it first if needed."""
    return _module(ref).launch(ref, on_output=on_output)


def install(ref: ConnectorRef, *, on_output: OutputCallback) -> dict[str, Any] | None:
    """Install this connector version now; its raw SPEC if the install ran it."""
    return _module(ref).install(ref, on_output=on_output)


def installed(ref: ConnectorRef) -> bool:
    """Is this connector version ready on this host?"""
    try:
        module = _module(ref)
    except EngineError:
        return False
    return module.installed(ref)


def uninstall(ref: ConnectorRef) -> int:
    """Remove every version of this connector from this host; how many went."""
    return _module(ref).uninstall(ref)


class PyPIRuntime:
    """PyPI packages, one virtualenv per version (``installer.py``)."""

    @staticmethod
    def _version(ref: ConnectorRef) -> str:
        if not ref.version:
            raise EngineError(
                f"{ref.name} has no PyPI version pinned, so the embedded engine "
                "cannot run it."
            )
        return ref.version

    @staticmethod
    def launch(ref: ConnectorRef, *, on_output: OutputCallback | None = None) -> Launch:
        installation = installer.ensure_installed(
            ref.package,
            PyPIRuntime._version(ref),
            entrypoint=ref.entrypoint,
            on_output=on_output,
        )
        return from_installation(installation)

    @staticmethod
    def install(ref: ConnectorRef, *, on_output: OutputCallback) -> dict | None:
        installation = installer.install(
            ref.package, ref.version, entrypoint=ref.entrypoint, on_output=on_output
        )
        return installation.spec

    @staticmethod
    def installed(ref: ConnectorRef) -> bool:
        return bool(ref.version) and (
            installer.installed(ref.package, ref.version) is not None
        )

    @staticmethod
    def uninstall(ref: ConnectorRef) -> int:
        return len(installer.uninstall(ref.package))
