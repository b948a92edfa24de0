"""The console's background processes: `airbyte manage start|stop|restart`.

The Celery worker and beat are started detached, each in its own session (so each
is the leader of its own process group), with its output in ``run/<name>.log`` and
a pidfile ``run/<name>.pid`` under ``DATA_DIR`` that records the pid and the
process's start time. The start time is what makes ``stop`` safe: when the pid in a
pidfile now belongs to another process (it was reused after a crash or a reboot),
the pidfile is stale and that process is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from filelock import FileLock

from apps.connections.models import QUEUE_NAME_PATTERN

PROCESSES = ("worker", "beat")
WORKER_NODE = "console-worker"
STOP_TIMEOUT = 30.0
# A process that dies within this long after starting (a bad setting, a broker that
# refuses it) is reported by `start` itself, with the end of its log.
STARTUP_GRACE_SECONDS = 1.5
KILL_WAIT_SECONDS = 5.0


def run_dir() -> Path:
    """Where pidfiles and logs live (``DATA_DIR/run``)."""
    return Path(getattr(settings, "CONSOLE_RUN_DIR", Path(settings.DATA_DIR) / "run"))


def worker_node_name() -> str:
    """The Celery node name of the worker `start` runs (what a ping answers with)."""
    return f"{WORKER_NODE}@{socket.gethostname()}"


def celery_command(*arguments: str) -> list[str]:
    """``celery -A airbyte_console ...`` run by this Python (the venv's Celery)."""
    return [sys.executable, "-m", "celery", "-A", "airbyte_console", *arguments]


def worker_queues() -> str:
    """The queues this host's worker consumes (``WORKER_QUEUES``), comma-separated.

    Beat's tasks (the reaper, the schedule dispatch) go to ``default`` and syncs to
    ``syncs`` unless their connection names a queue, so some host must consume both;
    a host for a team's heavy connections adds theirs (``default,syncs,heavy``).
    """
    names = [name.strip() for name in settings.WORKER_QUEUES.split(",")]
    names = list(dict.fromkeys(name for name in names if name))
    # The rule a connection's queue follows, so every queue a connection can name
    # is one a worker can consume, and the other way round.
    bad = [name for name in names if not re.fullmatch(QUEUE_NAME_PATTERN, name)]
    if not names or bad:
        raise ImproperlyConfigured(
            f"WORKER_QUEUES={settings.WORKER_QUEUES!r}: give queue names separated "
            "by commas (lowercase letters, digits, _ and -), e.g. default,syncs,heavy."
        )
    return ",".join(names)


def command(name: str, *, concurrency: int = 2) -> list[str]:
    """The command line of one managed process (the same as `manage.py serve`'s)."""
    if name == "worker":
        return celery_command(
            "worker",
            "--queues",
            worker_queues(),
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "INFO",
            "--hostname",
            worker_node_name(),
        )
    if name == "beat":
        return celery_command(
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(run_dir() / "celerybeat-schedule"),
        )
    raise ValueError(f"Unknown process {name!r}.")


@dataclass(frozen=True)
class PidRecord:
    """What a pidfile holds."""

    name: str
    pid: int
    start_ticks: int | None
    started_at: str
    command: list[str]
    log: str


@dataclass(frozen=True)
class ProcessState:
    """A managed process as `status`, `start` and `stop` report it."""

    name: str
    running: bool
    message: str
    pid: int | None = None
    started_at: str = ""
    log: str = ""
    ok: bool = True

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def pidfile(name: str) -> Path:
    return run_dir() / f"{name}.pid"


def read_record(name: str) -> PidRecord | None:
    """The pidfile's record; an unreadable pidfile counts as none (and is removed)."""
    path = pidfile(name)
    try:
        raw = json.loads(path.read_text())
        return PidRecord(
            name=name,
            pid=int(raw["pid"]),
            start_ticks=raw.get("start_ticks"),
            started_at=str(raw.get("started_at") or ""),
            command=list(raw.get("command") or []),
            log=str(raw.get("log") or ""),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)
        return None


def _write_record(record: PidRecord) -> None:
    path = pidfile(record.name)
    temporary = path.with_suffix(".pid.tmp")
    temporary.write_text(json.dumps(asdict(record)))
    temporary.replace(path)


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, start time in clock ticks) from /proc, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may hold spaces: split after it.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[2]), int(fields[19])


def _reap(pid: int) -> None:
    # A process this one started (tests call the CLI in-process) stays a zombie
    # until it is waited for, and a zombie still "exists".
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_running(record: PidRecord) -> bool:
    """Is the process the pidfile names alive, and is it still the one started?"""
    _reap(record.pid)
    stat = _proc_stat(record.pid)
    if stat is None:
        if Path("/proc/self/stat").exists():
            return False
        # No /proc (not Linux): the pid exists; its identity cannot be checked.
        try:
            os.kill(record.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    state, _, ticks = stat
    if state in {"Z", "X"}:
        return False
    return record.start_ticks is None or ticks == record.start_ticks


def _group_members(record: PidRecord) -> list[int]:
    """Processes still in the recorded group that started after its leader did."""
    if record.start_ticks is None or not Path("/proc/self/stat").exists():
        return []
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        stat = _proc_stat(int(entry.name))
        if stat is None:
            continue
        state, group, ticks = stat
        # A group id is not reused while any member lives, and a member forked by
        # the leader started no earlier than it: both together identify ours.
        if group == record.pid and ticks >= record.start_ticks and state != "Z":
            members.append(int(entry.name))
    return members


def process_status(name: str) -> ProcessState:
    """One managed process; a pidfile whose process is gone is removed."""
    record = read_record(name)
    if record is None:
        return ProcessState(name=name, running=False, message="not running")
    if is_running(record):
        return ProcessState(
            name=name,
            running=True,
            message=f"running (pid {record.pid}) since {record.started_at}",
            pid=record.pid,
            started_at=record.started_at,
            log=record.log,
        )
    pidfile(name).unlink(missing_ok=True)
    why = (
        "now belongs to another process"
        if _proc_stat(record.pid) is not None
        else "is gone"
    )
    return ProcessState(
        name=name,
        running=False,
        message=f"not running (pid {record.pid} {why}; removed the stale pidfile)",
        log=record.log,
    )


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _exclusive() -> FileLock:
    """One start or stop at a time: two starts at once would each spawn a beat."""
    directory = run_dir()
    directory.mkdir(parents=True, exist_ok=True)
    return FileLock(directory / ".lock")


def start(names: list[str], *, concurrency: int = 2) -> list[ProcessState]:
    """Start the named processes that are not running; report each one."""
    with _exclusive():
        return _start(names, concurrency=concurrency)


def _start(names: list[str], *, concurrency: int) -> list[ProcessState]:
    directory = run_dir()
    directory.mkdir(parents=True, exist_ok=True)
    results: dict[str, ProcessState] = {}
    started: dict[str, tuple[subprocess.Popen, PidRecord]] = {}
    for name in names:
        current = process_status(name)
        if current.running:
            results[name] = ProcessState(
                **{
                    **current.as_dict(),
                    "message": f"already running (pid {current.pid})",
                }
            )
            continue
        argv = command(name, concurrency=concurrency)
        log_path = directory / f"{name}.log"
        with open(log_path, "ab") as log:
            log.write(f"==== {timezone.now():%Y-%m-%d %H:%M:%S} starting\n".encode())
            log.flush()
            process = subprocess.Popen(
                argv,
                cwd=settings.BASE_DIR,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        stat = _proc_stat(process.pid)
        record = PidRecord(
            name=name,
            pid=process.pid,
            start_ticks=stat[2] if stat else None,
            started_at=timezone.now().isoformat(timespec="seconds"),
            command=argv,
            log=str(log_path),
        )
        _write_record(record)
        started[name] = (process, record)
    deadline = time.monotonic() + (STARTUP_GRACE_SECONDS if started else 0)
    while time.monotonic() < deadline and all(
        p.poll() is None for p, _ in started.values()
    ):
        time.sleep(0.1)
    for name, (process, record) in started.items():
        code = process.poll()
        if code is None:
            results[name] = ProcessState(
                name=name,
                running=True,
                message=f"started (pid {record.pid}); log: {record.log}",
                pid=record.pid,
                started_at=record.started_at,
                log=record.log,
            )
            continue
        pidfile(name).unlink(missing_ok=True)
        tail = _log_tail(Path(record.log))
        results[name] = ProcessState(
            name=name,
            running=False,
            message=f"exited at once with code {code}; the end of {record.log}:\n"
            + tail,
            log=record.log,
            ok=False,
        )
    return [results[name] for name in names]


def stop(names: list[str], *, timeout: float = STOP_TIMEOUT) -> list[ProcessState]:
    """Stop the named processes this console started: SIGTERM, then SIGKILL."""
    with _exclusive():
        return _stop(names, timeout=timeout)


def _stop(names: list[str], *, timeout: float) -> list[ProcessState]:
    results: dict[str, ProcessState] = {}
    stopping: dict[str, PidRecord] = {}
    for name in names:
        current = process_status(name)
        record = read_record(name)
        if not current.running or record is None:
            results[name] = current
            continue
        try:
            # The leader only: Celery's worker then shuts its pool down warmly (a
            # running sync finishes, or its attempt is retried elsewhere later).
            os.kill(record.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        except PermissionError:
            results[name] = ProcessState(
                name=name,
                running=True,
                message=f"cannot signal pid {record.pid}: permission denied",
                pid=record.pid,
                ok=False,
            )
            continue
        stopping[name] = record
    started = time.monotonic()
    deadline = started + timeout
    stopped_after: dict[str, float] = {}
    while time.monotonic() < deadline:
        for name, record in stopping.items():
            if name not in stopped_after and not is_running(record):
                stopped_after[name] = time.monotonic() - started
        if len(stopped_after) == len(stopping):
            break
        time.sleep(0.2)
    for name, record in stopping.items():
        killed = False
        if is_running(record):
            killed = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(record.pid, signal.SIGKILL)
            end = time.monotonic() + KILL_WAIT_SECONDS
            while is_running(record) and time.monotonic() < end:
                time.sleep(0.1)
        # Whatever the leader left behind in its group (pool processes) goes too.
        for pid in _group_members(record):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if is_running(record):
            results[name] = ProcessState(
                name=name,
                running=True,
                message=f"still running (pid {record.pid}) after SIGKILL",
                pid=record.pid,
                ok=False,
            )
            continue
        pidfile(name).unlink(missing_ok=True)
        seconds = stopped_after.get(name, time.monotonic() - started)
        message = (
            f"did not stop within {timeout:g} s; killed (pid {record.pid})"
            if killed
            else f"stopped (pid {record.pid}) in {seconds:.1f} s"
        )
        results[name] = ProcessState(
            name=name, running=False, message=message, pid=record.pid, log=record.log
        )
    return [results[name] for name in names]
