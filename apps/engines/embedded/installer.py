"""Installing source connectors, each into its own virtualenv.

Layout under ``settings.CONNECTORS_DIR`` (default ``var/connectors``)::

    <package>-<version>/          a virtualenv, ready when it holds MARKER
    .locks/<package>-<version>.lock
    .tmp/                         installs in progress (renamed into place when done)

An install builds a fresh virtualenv in ``.tmp/``, pip-installs the pinned version,
finds the connector's console script, runs its ``spec`` as a smoke test, writes the
marker, and only then renames the directory into place. A failed install therefore
never touches the previous one. A ``filelock.FileLock`` per package and version
makes concurrent workers on one machine wait for each other instead of racing;
whoever comes second finds the marker and uses the finished install.

Connector virtualenvs are made ``--without-pip`` and filled by the console's own pip
(``pip --python``): a new virtualenv takes milliseconds instead of seconds, and the
connector's environment holds only what the connector needs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from filelock import FileLock, Timeout

from apps.core import metrics
from apps.engines.base import (
    PACKAGE_RE,
    VERSION_RE,
    ConnectorStartError,
    EngineError,
)
from apps.engines.embedded import protocol
from apps.engines.embedded.runner import connector_env, run_connector
from apps.engines.masking import SecretMasker
from apps.engines.processes import stream_command, with_pip_settings

logger = logging.getLogger(__name__)

MARKER = ".airbyte-console.json"
DEFAULT_INSTALL_TIMEOUT = 15 * 60
DEFAULT_SPEC_TIMEOUT = 120
PIP_TAIL_LINES = 15

OutputCallback = Callable[[str], None]


class InstallError(EngineError):
    """An install failed; ``message`` says why in words a user can act on."""


class SpecProbeError(InstallError, ConnectorStartError):
    """The package installed, but its ``spec`` smoke test failed on this host."""


@dataclass(frozen=True)
class Installation:
    """A ready connector virtualenv."""

    package: str
    version: str
    path: Path
    entrypoint: str
    installed_at: str = ""
    # The connector's SPEC (protocol ``spec`` object) from the install's smoke test.
    spec: dict[str, Any] | None = None

    @property
    def bin_dir(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.bin_dir / "python"

    def command(self) -> list[str]:
        """The argv prefix that runs the connector.

        The script is run through the virtualenv's python rather than by its
        shebang, which still names the temporary directory it was built in.
        """
        return [str(self.python), str(self.bin_dir / self.entrypoint)]


def connectors_dir() -> Path:
    return Path(
        getattr(settings, "CONNECTORS_DIR", Path(settings.DATA_DIR) / "connectors")
    )


def install_timeout() -> float:
    return float(
        getattr(settings, "CONNECTOR_INSTALL_TIMEOUT", DEFAULT_INSTALL_TIMEOUT)
    )


def spec_timeout() -> float:
    timeouts = getattr(settings, "CONNECTOR_TIMEOUTS", {}) or {}
    return float(timeouts.get("spec", DEFAULT_SPEC_TIMEOUT))


def validate(package: str, version: str) -> None:
    """Refuse names that are not PyPI names (they become paths and pip arguments)."""
    if not PACKAGE_RE.match(package or ""):
        raise InstallError(f"{package!r} is not a valid package name.")
    if not VERSION_RE.match(version or ""):
        raise InstallError(f"{version!r} is not a valid version for {package}.")


def venv_path(package: str, version: str) -> Path:
    validate(package, version)
    return connectors_dir() / f"{package}-{version}"


def _lock(package: str, version: str) -> FileLock:
    locks = connectors_dir() / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    return FileLock(locks / f"{package}-{version}.lock", timeout=install_timeout() + 60)


def installed(package: str, version: str) -> Installation | None:
    """The finished install of this package and version on this machine, if any."""
    path = venv_path(package, version)
    try:
        marker = orjson.loads((path / MARKER).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    entrypoint = str(marker.get("entrypoint") or "")
    if not entrypoint or not (path / "bin" / entrypoint).is_file():
        return None
    return Installation(
        package=package,
        version=version,
        path=path,
        entrypoint=entrypoint,
        installed_at=str(marker.get("installed_at") or ""),
        spec=marker.get("spec"),
    )


def ensure_installed(
    package: str,
    version: str,
    *,
    entrypoint: str = "",
    on_output: OutputCallback | None = None,
) -> Installation:
    """The install of this package and version, installing it first if needed.

    A worker that has to run a connector its machine does not have yet calls this;
    the lock makes a second worker wait for the first one's install and reuse it.
    """
    found = installed(package, version)
    if found is not None:
        return found
    return install(package, version, entrypoint=entrypoint, on_output=on_output)


def install(
    package: str,
    version: str,
    *,
    entrypoint: str = "",
    on_output: OutputCallback | None = None,
    force: bool = False,
) -> Installation:
    """Install ``package==version`` (again, with ``force``) and return it."""
    validate(package, version)
    emit = on_output or (lambda line: None)
    try:
        with _lock(package, version):
            if not force:
                found = installed(package, version)
                if found is not None:
                    emit(f"{package} {version} is already installed.")
                    return found
            with metrics.connector_install():
                return _install_locked(package, version, entrypoint, emit)
    except Timeout:
        raise InstallError(
            f"Another install of {package} {version} is still running; try again "
            "when it has finished."
        ) from None


def _install_locked(
    package: str, version: str, entrypoint: str, emit: OutputCallback
) -> Installation:
    root = connectors_dir()
    staging = root / ".tmp" / f"{package}-{version}-{uuid.uuid4().hex[:8]}"
    staging.parent.mkdir(parents=True, exist_ok=True)
    try:
        emit(f"Creating a virtualenv for {package} {version}.")
        _run_checked(
            [sys.executable, "-m", "venv", "--without-pip", str(staging)],
            what="Creating the virtualenv",
            emit=emit,
            timeout=120,
        )
        emit(f"Installing {package}=={version} with pip.")
        _pip_install(staging, package, version, emit)
        script = _find_entrypoint(staging, package, version, entrypoint)
        emit(f"Running `{script} spec` to check the connector starts.")
        spec = _smoke_spec(staging, script, package, version)
        final = venv_path(package, version)
        _write_marker(staging, package, version, script, spec)
        _fix_scripts(staging, final)
        _replace(staging, final)
        emit(f"Installed {package} {version}.")
        return Installation(
            package=package,
            version=version,
            path=final,
            entrypoint=script,
            installed_at=_now(),
            spec=spec,
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _now() -> str:
    return datetime.now(tz=UTC).isoformat(timespec="seconds")


def _pip_install(venv: Path, package: str, version: str, emit: OutputCallback) -> None:
    extra = [str(a) for a in getattr(settings, "CONNECTOR_PIP_ARGS", []) or []]
    argv = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(venv / "bin" / "python"),
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        *extra,
        f"{package}=={version}",
    ]
    output = _run_checked(
        argv, what="pip", emit=emit, timeout=install_timeout(), raise_on_error=False
    )
    if output.returncode != 0:
        raise InstallError(pip_failure_message(package, version, output.lines))


@dataclass
class _Output:
    returncode: int
    lines: list[str]


_URL_CREDENTIALS = SecretMasker()


def _run_checked(
    argv: list[str],
    *,
    what: str,
    emit: OutputCallback,
    timeout: float,
    raise_on_error: bool = True,
) -> _Output:
    """Run a command, streaming its output lines to ``emit``; killed on timeout."""
    result = stream_command(
        argv,
        env=with_pip_settings(connector_env()),
        emit=emit,
        timeout=timeout,
        masker=_URL_CREDENTIALS,
    )
    if result.timed_out:
        raise InstallError(
            f"{what} did not finish within {timeout:g} s and was stopped."
        )
    if result.returncode != 0 and raise_on_error:
        raise InstallError(
            f"{what} failed (exit code {result.returncode}): "
            + " | ".join(result.lines[-PIP_TAIL_LINES:])
        )
    return _Output(result.returncode, result.lines)


_NO_VERSION = re.compile(
    r"(Could not find a version that satisfies the requirement|"
    r"No matching distribution found for)",
    re.IGNORECASE,
)
_IGNORED_PYTHON = re.compile(
    r"Ignored the following versions that require a different python version:(.*)",
    re.IGNORECASE,
)
_REQUIRES_PYTHON = re.compile(
    r"Package '([^']+)' requires a different Python: (\S+) not in '([^']+)'",
    re.IGNORECASE,
)
_FROM_VERSIONS = re.compile(r"\(from versions: ([^)]*)\)")


def pip_failure_message(package: str, version: str, lines: list[str]) -> str:
    """A clear reason from pip's output: missing version, wrong Python, or the tail."""
    text = "\n".join(lines)
    python = ".".join(str(p) for p in sys.version_info[:3])
    match = _REQUIRES_PYTHON.search(text)
    if match:
        name, running, required = match.groups()
        return (
            f"{name} needs Python {required}, but connectors here run on Python "
            f"{running}. Pick a version of {package} that supports Python {python}."
        )
    if _NO_VERSION.search(text):
        ignored = _IGNORED_PYTHON.search(text)
        if ignored and re.search(
            rf"(^|[\s,]){re.escape(version)} Requires-Python ([^;]+)", ignored.group(1)
        ):
            needed = re.search(
                rf"(^|[\s,]){re.escape(version)} Requires-Python ([^;]+)",
                ignored.group(1),
            )
            return (
                f"{package} {version} needs Python {needed.group(2).strip()}, but "
                f"connectors here run on Python {python}. Pick a version that "
                f"supports Python {python}."
            )
        available = _FROM_VERSIONS.search(text)
        newest = ""
        if available and available.group(1).strip() not in ("", "none"):
            versions = [v.strip() for v in available.group(1).split(",")]
            newest = f" The newest available is {versions[-1]}."
        missing = next(
            (
                line.split("No matching distribution found for", 1)[1].strip()
                for line in lines
                if "No matching distribution found for" in line
            ),
            f"{package}=={version}",
        )
        if missing.split("==")[0].strip().lower() != package.lower():
            return (
                f"{package} {version} depends on {missing}, which pip could not "
                f"find for Python {python}."
            )
        return (
            f"Version {version} of {package} does not exist on the package index."
            f"{newest}"
        )
    tail = [line for line in lines if line.strip()][-PIP_TAIL_LINES:]
    return f"pip could not install {package} {version}: " + " | ".join(tail)


def _find_entrypoint(venv: Path, package: str, version: str, wanted: str) -> str:
    """The console script that runs the connector."""
    bin_dir = venv / "bin"
    if wanted:
        if (bin_dir / wanted).is_file():
            return wanted
        raise InstallError(f"{package} {version} has no `{wanted}` command.")
    derived = package.removeprefix("airbyte-")
    if (bin_dir / derived).is_file():
        return derived
    # Otherwise the first console script the package itself declares.
    normalized = re.sub(r"[-_.]+", "_", package).lower()
    for entry_points in venv.glob(
        "lib/python*/site-packages/*.dist-info/entry_points.txt"
    ):
        dist = entry_points.parent.name.rsplit("-", 1)[0].lower()
        if re.sub(r"[-_.]+", "_", dist) != normalized:
            continue
        section = ""
        for line in entry_points.read_text().splitlines():
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[console_scripts]" and "=" in line:
                name = line.split("=", 1)[0].strip()
                if (bin_dir / name).is_file():
                    return name
    raise InstallError(
        f"{package} {version} installed, but it has no command that runs a connector."
    )


def _smoke_spec(venv: Path, script: str, package: str, version: str) -> dict[str, Any]:
    result = run_connector(
        [str(venv / "bin" / "python"), str(venv / "bin" / script)],
        "spec",
        masker=SecretMasker(),
        timeout=spec_timeout(),
        bin_dir=venv / "bin",
    )
    message = result.first(protocol.SPEC)
    if message is None or not isinstance(message.get("spec"), dict):
        raise SpecProbeError(
            f"{package} {version} installed, but `{script} spec` failed: "
            + result.failure_message("spec", spec_timeout()),
            logs=tuple(result.logs),
        )
    return message["spec"]


def _write_marker(
    venv: Path, package: str, version: str, script: str, spec: dict[str, Any]
) -> None:
    marker = {
        "package": package,
        "version": version,
        "entrypoint": script,
        "installed_at": _now(),
        "python": ".".join(str(p) for p in sys.version_info[:3]),
        "spec": spec,
    }
    (venv / MARKER).write_bytes(orjson.dumps(marker, option=orjson.OPT_INDENT_2))


def _fix_scripts(staging: Path, final: Path) -> None:
    """Point the scripts' shebangs at the final place, so they also run directly."""
    old = str(staging).encode()
    new = str(final).encode()
    for path in (staging / "bin").iterdir():
        if not path.is_file() or path.is_symlink():
            continue
        with contextlib.suppress(OSError):
            head = path.read_bytes()[:2]
            if head == b"#!" or path.name.startswith("activate"):
                data = path.read_bytes()
                if old in data:
                    path.write_bytes(data.replace(old, new))


def _replace(staging: Path, final: Path) -> None:
    """Move the new install into place; the old one goes only once that is done."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        trash = final.parent / ".tmp" / f"old-{final.name}-{uuid.uuid4().hex[:8]}"
        os.rename(final, trash)
        os.rename(staging, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.rename(staging, final)


def uninstall(package: str, version: str | None = None) -> list[Path]:
    """Remove this machine's install of ``package`` (one version, or every one)."""
    root = connectors_dir()
    if not root.exists():
        return []
    if version is not None:
        candidates = [venv_path(package, version)]
    else:
        validate(package, "0")
        candidates = [
            p
            for p in root.iterdir()
            if p.is_dir()
            and p.name.startswith(f"{package}-")
            and _marker_says(p, package)
        ]
    removed = []
    for path in candidates:
        if not path.exists():
            continue
        with _lock(package, path.name[len(package) + 1 :]):
            trash = root / ".tmp" / f"old-{path.name}-{uuid.uuid4().hex[:8]}"
            trash.parent.mkdir(parents=True, exist_ok=True)
            os.rename(path, trash)
            shutil.rmtree(trash, ignore_errors=True)
            removed.append(path)
    return removed


def _marker_says(path: Path, package: str) -> bool:
    try:
        return orjson.loads((path / MARKER).read_bytes()).get("package") == package
    except (OSError, orjson.JSONDecodeError):
        # An unfinished directory of this package is removed as well, but never
        # one of another package whose name merely starts the same way.
        rest = path.name[len(package) + 1 :]
        return "-" not in rest and bool(VERSION_RE.match(rest))
