"""Starting other people's programs: an allowlisted environment, group kills, pip runs.

Connectors and dbt are code the console did not write, and so are the pip installs
that bring them. They all start with an allowlisted environment (never the
console's secrets, database URL or keys), in a process group of their own that is
stopped as a whole. The embedded engine's runner and installer and the transforms
app's dbt installer share these pieces, so the list of what a child may inherit is
kept in one place.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from apps.engines.masking import SecretMasker

# The only variables a child process inherits from the console's environment.
SAFE_ENV = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "USER",
    "LOGNAME",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
)

KILL_GRACE_SECONDS = 3.0
# How many of a command's last output lines are kept for its error message.
TAIL_LINES = 200


def allowlisted_env(bin_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """The console's environment cut to ``SAFE_ENV``, ``bin_dir`` first on PATH."""
    env = {k: os.environ[k] for k in SAFE_ENV if k in os.environ}
    if bin_dir is not None:
        env["PATH"] = os.pathsep.join(
            [str(bin_dir), env.get("PATH", os.defpath)]
        ).rstrip(os.pathsep)
    env.update(extra)
    return env


def with_pip_settings(env: dict[str, str]) -> dict[str, str]:
    """``env`` plus pip's own settings (index, certificates) of this host."""
    return {**env, **{k: v for k, v in os.environ.items() if k.startswith("PIP_")}}


def kill_group(process: subprocess.Popen, grace: float = KILL_GRACE_SECONDS) -> None:
    """SIGTERM the process's whole group, then SIGKILL whatever is left."""
    pgid = process.pid
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    # Children may outlive the leader; the group id stays theirs.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


@dataclass
class Streamed:
    """How a streamed command ended, with the tail of what it printed."""

    returncode: int
    lines: list[str]
    timed_out: bool


def stream_command(
    argv: list[str],
    *,
    env: dict[str, str],
    emit: Callable[[str], None],
    timeout: float,
    masker: SecretMasker | None = None,
) -> Streamed:
    """Run ``argv`` in its own group, each output line (masked) to ``emit``.

    Past ``timeout`` seconds the whole group is stopped and ``timed_out`` is set;
    the caller words the error, since it knows what was being done.
    """
    masker = masker or SecretMasker()
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    timed_out = threading.Event()

    def on_timeout() -> None:
        timed_out.set()
        kill_group(process)

    timer = threading.Timer(timeout, on_timeout)
    timer.daemon = True
    timer.start()
    assert process.stdout is not None
    try:
        for raw in iter(process.stdout.readline, b""):
            # An index URL with a password in it must not reach the install log.
            line = masker.mask(raw.decode("utf-8", "replace").rstrip())
            if line:
                tail.append(line)
                emit(line)
        process.wait()
    finally:
        timer.cancel()
        process.stdout.close()
    return Streamed(process.returncode, list(tail), timed_out.is_set())
