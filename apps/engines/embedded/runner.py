"""Running a connector process: ``spec``, ``check``, ``discover`` (later ``read``).

Each run:
- gets its config (and catalog, state) through 0600 files in a private 0700 temp
  directory that is removed afterwards, whatever happens;
- runs in its own process group with a scrubbed environment (the console's own
  secrets, such as the database URL or the encryption key, never reach a connector)
  and, under ``CONNECTOR_SANDBOX=bwrap``, inside bubblewrap (``sandbox.py``): it
  sees its virtualenv, the system's libraries, its private folder and its
  workspace's ``/local``, never the console's files;
- has a deadline: past it the whole group gets SIGTERM, then SIGKILL;
- has its stdout parsed line by line (protocol.parse_line), its stderr kept as a
  bounded tail, and every line it printed masked with the config's secrets before
  anything is stored or logged.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from apps.engines import sandbox
from apps.engines.embedded import protocol, scratch
from apps.engines.masking import SecretMasker
from apps.engines.processes import KILL_GRACE_SECONDS, allowlisted_env, kill_group

logger = logging.getLogger(__name__)


MAX_LOG_LINES = 500
MAX_LINE_CHARS = 4000
STDERR_TAIL_LINES = 200


def connector_env(bin_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment for a connector process: an allowlist, never the console's."""
    # Unbuffered so a connector killed on timeout has already printed what it had.
    return allowlisted_env(
        bin_dir, **{"PYTHONUNBUFFERED": "1", "DO_NOT_TRACK": "1", **extra}
    )


def read_argv(command: list[str], files: dict[str, Path]) -> list[str]:
    """``<command> read --config F --catalog F [--state F]`` over ``private_files``."""
    argv = [
        *command,
        "read",
        "--config",
        str(files["config"]),
        "--catalog",
        str(files["catalog"]),
    ]
    if "state" in files:
        argv += ["--state", str(files["state"])]
    return argv


@contextlib.contextmanager
def private_files(**contents: Any) -> Iterator[tuple[Path, dict[str, Path]]]:
    """A private temp dir with one 0600 JSON file per keyword; removed afterwards."""
    # Under this worker's own folder, so what a dead worker left is found and swept.
    directory = Path(tempfile.mkdtemp(prefix="run-", dir=scratch.worker_dir()))
    try:
        os.chmod(directory, 0o700)
        paths: dict[str, Path] = {}
        for name, value in contents.items():
            if value is None:
                continue
            path = directory / f"{name}.json"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(orjson.dumps(value))
            paths[name] = path
        yield directory, paths
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class RunResult:
    """What a finished connector process said (all text already masked)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    stderr: str = ""
    returncode: int | None = None
    timed_out: bool = False
    duration: float = 0.0

    def first(self, message_type: str) -> dict[str, Any] | None:
        return next((m for m in self.messages if m.get("type") == message_type), None)

    def errors(self) -> list[tuple[str, str]]:
        """``(text, failure_type)`` of every ERROR trace, in order."""
        found = []
        for message in self.messages:
            if message.get("type") == protocol.TRACE:
                error = protocol.trace_error(message)
                if error is not None:
                    found.append(error)
        return found

    def failure_message(self, verb: str, timeout: float | None = None) -> str:
        """Why the run produced no answer, in words a user can act on."""
        if self.timed_out:
            return (
                f"`{verb}` did not finish within {timeout:g} s; the connector was "
                "stopped."
            )
        errors = self.errors()
        if errors:
            return errors[-1][0]
        tail = _last_lines(self.stderr) or _last_lines("\n".join(self.logs))
        code = self.returncode
        if code is not None and code < 0:
            reason = f"was killed by signal {-code}"
        else:
            reason = f"exited with code {code}"
        detail = f": {tail}" if tail else "."
        return f"The connector {reason} without answering `{verb}`{detail}"


def _last_lines(text: str, count: int = 5) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:])


class ConnectorProcess:
    """One connector process: start it, iterate its messages, stop it.

    ``messages()`` yields every protocol message except LOG; LOG messages and lines
    that are not messages go to ``logs`` (masked, bounded). Used as a context
    manager the process group is always killed on exit.
    """

    def __init__(
        self,
        argv: list[str],
        *,
        masker: SecretMasker,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float | None = None,
        workspace_id: str | None = None,
        sandboxed: bool = True,
        on_exit: Callable[[int], None] | None = None,
    ) -> None:
        self.argv = argv
        self.masker = masker
        # False for a program that must not run in bubblewrap (the Docker CLI:
        # the container is that connector's sandbox).
        self.sandboxed = sandboxed
        self.env = env if env is not None else connector_env()
        self.cwd = cwd
        self.timeout = timeout
        # Whose data folder the sandbox mounts at /local (None: no /local).
        self.workspace_id = workspace_id
        # Called with the pid once the process has exited but before it is
        # reaped: its final CPU times are still readable then (resources.py).
        self.on_exit = on_exit
        self.logs: deque[str] = deque(maxlen=MAX_LOG_LINES)
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.timed_out = False
        self.process: subprocess.Popen | None = None
        self._timer: threading.Timer | None = None
        self._stderr_thread: threading.Thread | None = None
        self._started = 0.0

    def __enter__(self) -> ConnectorProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._started = time.monotonic()
        argv, env = self._command()
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=self.cwd,
            env=env,
            start_new_session=True,
        )
        # A bigger pipe lets the connector run ahead while the console commits a
        # batch; the default 64 KiB holds a few milliseconds of output.
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(self.process.stdout.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
        self._stderr_thread = threading.Thread(
            target=self._drain_stderr, args=(self.process.stderr,), daemon=True
        )
        self._stderr_thread.start()
        if self.timeout:
            self._timer = threading.Timer(self.timeout, self._on_timeout)
            self._timer.daemon = True
            self._timer.start()

    def _command(self) -> tuple[list[str], dict[str, str]]:
        """The argv and environment to start: the connector's, sandboxed if on.

        Every connector process of the embedded engine starts here, so this is
        the one place the sandbox is applied. A missing program or ``bwrap`` is
        an OSError, as it would be without the sandbox.
        """
        if not sandbox.enabled() or not self.sandboxed:
            # No bwrap --die-with-parent: the kernel still kills the connector
            # when the worker dies (setpriv sets its parent-death signal).
            setpriv = shutil.which("setpriv")
            if setpriv:
                return [setpriv, "--pdeathsig", "KILL", "--", *self.argv], self.env
            return self.argv, self.env
        if shutil.which(sandbox.BWRAP) is None:
            raise FileNotFoundError(
                errno.ENOENT,
                "bubblewrap (bwrap) is not installed, and CONNECTOR_SANDBOX=bwrap "
                "needs it",
            )
        program = self.argv[0]
        if not os.access(program, os.X_OK) or os.path.isdir(program):
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), program)
        argv = sandbox.wrap(
            self.argv, private_dir=self.cwd, workspace_id=self.workspace_id
        )
        return argv, sandbox.environment(self.env)

    def _on_timeout(self) -> None:
        self.timed_out = True
        if self.process is not None:
            logger.warning("Connector %s timed out; stopping it.", self.argv[-1:])
            kill_group(self.process)

    def _drain_stderr(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self.stderr_tail.append(self.masker.mask(line[:MAX_LINE_CHARS]))

    def _log(self, line: str) -> None:
        self.logs.append(self.masker.mask(line[:MAX_LINE_CHARS]))

    def messages(self) -> Iterator[dict[str, Any]]:
        assert self.process is not None and self.process.stdout is not None
        for raw in iter(self.process.stdout.readline, b""):
            message = protocol.parse_line(raw)
            if message is None:
                text = raw.decode("utf-8", "replace").rstrip()
                if text:
                    self._log(text)
                continue
            if message["type"] == protocol.LOG:
                self._log(protocol.log_text(message))
                continue
            if message["type"] == protocol.TRACE:
                message = self._masked_trace(message)
            yield message

    def _masked_trace(self, message: dict[str, Any]) -> dict[str, Any]:
        error = (message.get("trace") or {}).get("error")
        if isinstance(error, dict):
            for key in ("message", "internal_message", "stack_trace"):
                if isinstance(error.get(key), str):
                    error[key] = self.masker.mask(error[key])
        return message

    def stop(self) -> int | None:
        """Wait briefly for the process, kill its group, and collect stderr."""
        if self.process is None:
            return None
        if self._timer is not None:
            self._timer.cancel()
        deadline = time.monotonic() + KILL_GRACE_SECONDS
        if (
            self.on_exit is not None
            and self.process.returncode is None
            and _exited_unreaped(self.process.pid, deadline)
        ):
            try:
                self.on_exit(self.process.pid)
            except Exception:  # a measurement must never keep a process running
                logger.warning("on_exit of %s failed", self.argv[:1], exc_info=True)
        try:
            self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            kill_group(self.process, grace=0.5)
            self.process.wait()
        # Grandchildren left behind in the group go too.
        kill_group(self.process, grace=0)
        if self._stderr_thread is not None:
            self._stderr_thread.join(timeout=2)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return self.process.returncode

    @property
    def duration(self) -> float:
        return time.monotonic() - self._started


def _exited_unreaped(pid: int, deadline: float) -> bool:
    """Wait until ``pid`` exits, leaving it unreaped; False if not by ``deadline``.

    False too when it was reaped already (a cancel's ``kill_group`` polls it).
    """
    while True:
        try:
            found = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False
        if found is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def run_connector(
    command: list[str] | Callable[[Path], list[str]],
    verb: str,
    *,
    masker: SecretMasker,
    config: dict[str, Any] | None = None,
    timeout: float | None = None,
    bin_dir: Path | None = None,
    workspace_id: str | None = None,
    sandboxed: bool = True,
    extra_env: Mapping[str, str] | None = None,
    cleanup: Callable[[Path], None] | None = None,
) -> RunResult:
    """Run ``<command> <verb> [--config FILE]`` to completion and collect its output.

    ``command`` is the argv prefix, or a function of the run's private folder
    that gives it (a Docker run mounts that folder). ``workspace_id`` (a public
    id) mounts that workspace's data folder at ``/local`` in the sandbox; without
    one the connector gets no ``/local``. ``cleanup(folder)`` runs once the
    process has stopped.
    """
    with private_files(config=config) as (directory, files):
        prefix = command(directory) if callable(command) else command
        argv = [*prefix, verb]
        if "config" in files:
            argv += ["--config", str(files["config"])]
        process = ConnectorProcess(
            argv,
            masker=masker,
            env=connector_env(bin_dir, **dict(extra_env or {})),
            cwd=directory,
            timeout=timeout,
            workspace_id=workspace_id,
            sandboxed=sandboxed,
        )
        result = RunResult()
        try:
            process.start()
        except OSError as exc:
            result.stderr = f"Could not start the connector: {exc.strerror or exc}"
            result.returncode = 127
            return result
        try:
            result.messages.extend(process.messages())
        finally:
            result.returncode = process.stop()
            if cleanup is not None:
                cleanup(directory)
        result.logs = list(process.logs)
        result.stderr = "\n".join(process.stderr_tail)
        result.timed_out = process.timed_out
        result.duration = process.duration
        return result
