"""Installing dbt-core and one adapter into a virtualenv of its own.

Layout under ``settings.DBT_DIR``::

    <adapter>-<core version>-<adapter version>/   a virtualenv (ready: holds MARKER)
    .locks/<adapter>.lock
    .tmp/                                         installs in progress

dbt's own pins never touch the console's environment. An install builds a fresh
virtualenv ``--without-pip`` in ``.tmp/``, fills it with the console's pip
(``pip --python``), runs ``dbt --version`` as a smoke test, writes the marker and
only then renames the folder into place: a failed install leaves the previous one
alone. A file lock per adapter makes a second worker on the same host wait for the
first one's install and reuse it. The duckdb adapter's virtualenv also pins duckdb
to the console's own release, so dbt and the console's writer open the same files.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson
from django.conf import settings
from filelock import FileLock, Timeout

from apps.engines.masking import SecretMasker
from apps.engines.processes import allowlisted_env, stream_command, with_pip_settings

ADAPTERS = ("postgres", "duckdb")
MARKER = ".airbyte-console-dbt.json"
DEFAULT_INSTALL_TIMEOUT = 15 * 60
SMOKE_TIMEOUT = 120
TAIL_LINES = 15

OutputCallback = Callable[[str], None]

SMOKE_SCRIPT = (
    "import importlib.metadata as m, dbt.cli.main, dbt.adapters.{adapter}; "
    "print('dbt-core', m.version('dbt-core'), "
    "'dbt-{adapter}', m.version('dbt-{adapter}'))"
)


class DbtInstallError(Exception):
    """An install failed; ``message`` says why in words a user can act on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class DbtEnv:
    """A ready dbt virtualenv for one adapter."""

    adapter: str
    path: Path
    dbt: Path
    core_version: str
    adapter_version: str

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"


def dbt_dir() -> Path:
    return Path(settings.DBT_DIR)


def install_timeout() -> float:
    return float(getattr(settings, "DBT_INSTALL_TIMEOUT", DEFAULT_INSTALL_TIMEOUT))


def core_version() -> str:
    return str(settings.DBT_CORE_VERSION)


def adapter_version(adapter: str) -> str:
    _check_adapter(adapter)
    versions = getattr(settings, "DBT_ADAPTER_VERSIONS", {}) or {}
    version = str(versions.get(adapter) or "")
    if not version:
        raise DbtInstallError(
            f"No dbt-{adapter} version is configured (settings.DBT_ADAPTER_VERSIONS)."
        )
    return version


def _check_adapter(adapter: str) -> None:
    if adapter not in ADAPTERS:
        raise DbtInstallError(
            f"{adapter!r} is not a dbt adapter the console installs; "
            f"supported adapters: {', '.join(ADAPTERS)}."
        )


def requirements(adapter: str) -> list[str]:
    """The pinned packages of one adapter's virtualenv."""
    reqs = [f"dbt-core=={core_version()}", f"dbt-{adapter}=={adapter_version(adapter)}"]
    if adapter == "duckdb":
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            reqs.append(f"duckdb=={importlib.metadata.version('duckdb')}")
    return reqs


def venv_path(adapter: str) -> Path:
    _check_adapter(adapter)
    return dbt_dir() / f"{adapter}-{core_version()}-{adapter_version(adapter)}"


def _lock(adapter: str) -> FileLock:
    locks = dbt_dir() / ".locks"
    locks.mkdir(parents=True, exist_ok=True)
    return FileLock(locks / f"{adapter}.lock", timeout=install_timeout() + 60)


def dbt_installed(adapter: str) -> DbtEnv | None:
    """The finished install of this adapter (at the configured pins) here, if any."""
    try:
        path = venv_path(adapter)
    except DbtInstallError:
        return None
    try:
        marker = orjson.loads((path / MARKER).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    dbt = path / "bin" / "dbt"
    if not dbt.is_file() or marker.get("requirements") != requirements(adapter):
        return None
    return DbtEnv(
        adapter=adapter,
        path=path,
        dbt=dbt,
        core_version=core_version(),
        adapter_version=adapter_version(adapter),
    )


def dbt_ensure(adapter: str, *, on_output: OutputCallback | None = None) -> DbtEnv:
    """The install of this adapter, installing it first if this host lacks it."""
    found = dbt_installed(adapter)
    if found is not None:
        return found
    return dbt_install(adapter, on_output=on_output)


def dbt_install(
    adapter: str,
    *,
    on_output: OutputCallback | None = None,
    timeout: float | None = None,
    force: bool = False,
) -> DbtEnv:
    """Install dbt-core and dbt-<adapter> (again, with ``force``) and return it."""
    _check_adapter(adapter)
    emit = on_output or (lambda line: None)
    deadline = time.monotonic() + (timeout if timeout else install_timeout())
    try:
        with _lock(adapter):
            if not force:
                found = dbt_installed(adapter)
                if found is not None:
                    emit(
                        f"dbt-core {found.core_version} with dbt-{adapter} "
                        f"{found.adapter_version} is already installed."
                    )
                    return found
            return _install_locked(adapter, emit, deadline)
    except Timeout:
        raise DbtInstallError(
            f"Another install of dbt-{adapter} is still running; try again when it "
            "has finished."
        ) from None


def dbt_uninstall(adapter: str) -> bool:
    """Remove this host's installs of the adapter; True if there was one."""
    _check_adapter(adapter)
    root = dbt_dir()
    if not root.exists():
        return False
    removed = False
    with _lock(adapter):
        for path in root.iterdir():
            if not path.is_dir() or not path.name.startswith(f"{adapter}-"):
                continue
            trash = root / ".tmp" / f"old-{path.name}-{uuid.uuid4().hex[:8]}"
            trash.parent.mkdir(parents=True, exist_ok=True)
            os.rename(path, trash)
            shutil.rmtree(trash, ignore_errors=True)
            removed = True
    return removed


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise DbtInstallError("The dbt install did not finish in time and was stopped.")
    return left


def _install_locked(adapter: str, emit: OutputCallback, deadline: float) -> DbtEnv:
    root = dbt_dir()
    final = venv_path(adapter)
    staging = root / ".tmp" / f"{final.name}-{uuid.uuid4().hex[:8]}"
    staging.parent.mkdir(parents=True, exist_ok=True)
    reqs = requirements(adapter)
    try:
        emit(f"Creating a virtualenv for dbt-{adapter}.")
        _run(
            [sys.executable, "-m", "venv", "--without-pip", str(staging)],
            what="Creating the virtualenv",
            emit=emit,
            timeout=min(120.0, _remaining(deadline)),
        )
        emit(f"Installing {' '.join(reqs)} with pip.")
        extra = [
            str(a)
            for a in (
                getattr(settings, "DBT_PIP_ARGS", None)
                or getattr(settings, "CONNECTOR_PIP_ARGS", None)
                or []
            )
        ]
        pip = _run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(staging / "bin" / "python"),
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--progress-bar",
                "off",
                *extra,
                *reqs,
            ],
            what="pip",
            emit=emit,
            timeout=_remaining(deadline),
            check=False,
        )
        if pip.returncode != 0:
            raise DbtInstallError(pip_failure_message(adapter, reqs, pip.lines))
        if not (staging / "bin" / "dbt").is_file():
            raise DbtInstallError(
                f"pip installed dbt-{adapter}, but the virtualenv has no `dbt` command."
            )
        # `dbt --version` itself asks PyPI for the latest release; dbt must never
        # reach the internet, so the smoke test imports dbt and the adapter instead.
        emit("Checking that dbt and its adapter load.")
        smoke = _run(
            [
                str(staging / "bin" / "python"),
                "-c",
                SMOKE_SCRIPT.format(adapter=adapter),
            ],
            what="Loading dbt",
            emit=emit,
            timeout=min(float(SMOKE_TIMEOUT), _remaining(deadline)),
            check=False,
            env_extra=dbt_env_extra(),
        )
        expected = f"dbt-core {core_version()} dbt-{adapter} {adapter_version(adapter)}"
        if smoke.returncode != 0 or expected not in smoke.lines:
            raise DbtInstallError(
                f"dbt-{adapter} installed, but dbt does not load: "
                + " | ".join(smoke.lines[-TAIL_LINES:])
            )
        marker = {
            "adapter": adapter,
            "requirements": reqs,
            "installed_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
            "python": ".".join(str(p) for p in sys.version_info[:3]),
            "version_output": smoke.lines[-20:],
        }
        (staging / MARKER).write_bytes(orjson.dumps(marker, option=orjson.OPT_INDENT_2))
        _fix_scripts(staging, final)
        _replace(staging, final)
        emit(
            f"Installed dbt-core {core_version()} with dbt-{adapter} "
            f"{adapter_version(adapter)}."
        )
        return DbtEnv(
            adapter=adapter,
            path=final,
            dbt=final / "bin" / "dbt",
            core_version=core_version(),
            adapter_version=adapter_version(adapter),
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def dbt_env_extra() -> dict[str, str]:
    """What every dbt process gets on top of the safe environment: no phoning home."""
    return {
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_NO_VERSION_CHECK": "true",
        "DO_NOT_TRACK": "1",
        "PYTHONUNBUFFERED": "1",
    }


def safe_env(bin_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """An allowlisted environment (never the console's secrets), plus ``extra``."""
    return allowlisted_env(bin_dir, **extra)


@dataclass
class _Output:
    returncode: int
    lines: list[str]


# An index URL with a password in it must not reach the install log.
_URL_CREDENTIALS = SecretMasker()


def _run(
    argv: list[str],
    *,
    what: str,
    emit: OutputCallback,
    timeout: float,
    check: bool = True,
    env_extra: dict[str, str] | None = None,
) -> _Output:
    result = stream_command(
        argv,
        env=with_pip_settings(safe_env(**(env_extra or {}))),
        emit=emit,
        timeout=timeout,
        masker=_URL_CREDENTIALS,
    )
    if result.timed_out:
        raise DbtInstallError(
            f"{what} did not finish within {timeout:.0f} s and was stopped."
        )
    if check and result.returncode != 0:
        raise DbtInstallError(
            f"{what} failed (exit code {result.returncode}): "
            + " | ".join(result.lines[-TAIL_LINES:])
        )
    return _Output(result.returncode, result.lines)


_NOT_FOUND = re.compile(r"No matching distribution found for (\S+)", re.IGNORECASE)
_NETWORK = re.compile(
    r"(Max retries exceeded|Failed to establish a new connection|"
    r"Temporary failure in name resolution|Network is unreachable|"
    r"Could not fetch URL|ProxyError|SSLError)",
    re.IGNORECASE,
)


def pip_failure_message(adapter: str, reqs: list[str], lines: list[str]) -> str:
    """A reason a user can act on: a missing version, no network, or pip's tail."""
    text = "\n".join(lines)
    python = ".".join(str(p) for p in sys.version_info[:3])
    missing = _NOT_FOUND.search(text)
    if missing:
        if _NETWORK.search(text):
            return (
                f"pip could not reach the package index to install dbt-{adapter} "
                f"({missing.group(1)}). Check this host's network or proxy "
                "(PIP_INDEX_URL), then try again."
            )
        return (
            f"pip could not find {missing.group(1)} for Python {python}. Check the "
            "dbt versions in the settings (DBT_CORE_VERSION, DBT_POSTGRES_VERSION, "
            "DBT_DUCKDB_VERSION)."
        )
    tail = [line for line in lines if line.strip()][-TAIL_LINES:]
    return f"pip could not install {' '.join(reqs)}: " + " | ".join(tail)


def _fix_scripts(staging: Path, final: Path) -> None:
    """Point the scripts' shebangs at the final place, so they run directly."""
    old = str(staging).encode()
    new = str(final).encode()
    for path in (staging / "bin").iterdir():
        if not path.is_file() or path.is_symlink():
            continue
        with contextlib.suppress(OSError):
            data = path.read_bytes()
            if (data[:2] == b"#!" or path.name.startswith("activate")) and old in data:
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
