"""Running one dbt command against a project folder.

Each invocation:
- gets a profiles.yml (profile ``console``, target ``console``) in a private 0700
  temp folder (the file 0600) that is removed afterwards, whatever happens; dbt's
  own log file goes in the same folder and goes with it;
- runs ``dbt`` from the adapter's virtualenv in its own process group, with an
  allowlisted environment (never the console's secrets) and no phoning home;
- writes ``--target-path`` into the project's kept ``target/`` folder, so the next
  run partial-parses;
- has every line dbt prints turned into readable text and masked with the
  profile's secrets before ``on_line`` sees it;
- stops when ``should_cancel()`` says so or the timeout passes: SIGINT to the group
  (dbt cancels its open queries), then SIGTERM, then SIGKILL.

``on_line`` is called from a reader thread (one line at a time, in order);
``on_start`` gets the process group id before dbt does any work.

dbt runs with ``--log-format json``: the structured events give the show/compile
output and the error text without scraping, and are rendered back to dbt's own
text for the log.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.core.pids import group_members
from apps.engines import sandbox
from apps.engines.masking import SecretMasker, secret_values
from apps.transforms.dbt.install import dbt_env_extra, safe_env

COMMANDS = (
    "build",
    "run",
    "test",
    "seed",
    "snapshot",
    "compile",
    "docs generate",
    "show",
    "parse",
    "source freshness",
    "debug",
)
PROFILE_NAME = "console"
TARGET_NAME = "console"
POLL_SECONDS = 0.5
# After SIGINT dbt cancels its queries and exits; then SIGTERM, then SIGKILL.
INTERRUPT_GRACE_SECONDS = 5.0
TERM_GRACE_SECONDS = 3.0
ERROR_TAIL_LINES = 12
MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class Invocation:
    dbt: Path
    project_dir: Path
    target_dir: Path
    profile: dict
    command: str
    selector: str = ""
    extra_args: tuple[str, ...] = ()
    timeout: float = 3600


@dataclass
class Outcome:
    returncode: int | None
    cancelled: bool
    timed_out: bool
    run_results: dict | None
    manifest: dict | None
    output: dict = field(default_factory=dict)
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.returncode == 0 and not self.cancelled and not self.timed_out


def argv_for(inv: Invocation, profiles_dir: Path, log_dir: Path) -> list[str]:
    """The dbt command line (no secret in it: those are in profiles.yml)."""
    if inv.command not in COMMANDS:
        raise ValueError(
            f"{inv.command!r} is not a dbt command the console runs "
            f"({', '.join(COMMANDS)})."
        )
    dbt = Path(inv.dbt)
    python = dbt.parent / "python"
    # Run the script through its virtualenv's python: its shebang may name the
    # folder it was built in.
    prefix = [str(python), str(dbt)] if python.exists() else [str(dbt)]
    argv = [
        *prefix,
        *inv.command.split(),
        "--project-dir",
        str(inv.project_dir),
        "--profiles-dir",
        str(profiles_dir),
        "--profile",
        PROFILE_NAME,
        "--target",
        TARGET_NAME,
        "--target-path",
        str(inv.target_dir),
        "--log-path",
        str(log_dir),
        "--log-format",
        "json",
        "--no-version-check",
        "--no-use-colors",
        "--no-send-anonymous-usage-stats",
    ]
    if inv.selector:
        argv += ["--select", inv.selector]
    if inv.command == "show" and "--output" not in inv.extra_args:
        argv += ["--output", "json"]
    argv += list(inv.extra_args)
    return argv


def sandboxed(
    inv: Invocation, argv: list[str], env: dict[str, str], profiles_dir: Path
) -> tuple[list[str], dict[str, str]]:
    """The command inside the connectors' sandbox, where it is on.

    A project is code a workspace member wrote: SQL that DuckDB can point at any
    file (``read_text``, ``COPY ... TO``), Jinja, and with dbt-duckdb Python
    models. Inside the sandbox dbt sees its virtualenv, the project, its
    ``target/``, the private profile folder and, for DuckDB, the folder of the
    database file; not ``var/`` (keys, the console's database, other workspaces).
    Started in a session of its own by ``invoke``, so SIGINT to the group still
    reaches dbt and it cancels its queries.
    """
    if not sandbox.enabled():
        return argv, env
    if shutil.which(sandbox.BWRAP) is None:
        raise OSError(
            "CONNECTOR_SANDBOX is bwrap but bubblewrap is not installed: "
            "apt-get install bubblewrap, or set CONNECTOR_SANDBOX=none."
        )
    writable = [Path(inv.target_dir).resolve(), Path(profiles_dir).resolve()]
    database = inv.profile.get("path") if inv.profile.get("type") == "duckdb" else None
    if database and database != ":memory:":
        # Before the workspace's first sync its DuckDB folder may not exist yet,
        # and bubblewrap refuses to bind a missing path.
        folder = Path(database).resolve().parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        writable.append(folder)
    wrapped = sandbox.wrap(
        argv,
        private_dir=Path(inv.project_dir).resolve(),
        writable=tuple(dict.fromkeys(writable)),
        new_session=False,
    )
    return wrapped, sandbox.environment(env)


def masker_for(profile: dict, secrets: Iterable[str] = ()) -> SecretMasker:
    values = set(secret_values(profile)) | {str(s) for s in secrets if s}
    return SecretMasker(values)


@contextlib.contextmanager
def private_profiles(profile: dict):
    """A 0700 folder holding a 0600 profiles.yml; removed on the way out."""
    folder = Path(tempfile.mkdtemp(prefix="console-dbt-"))
    try:
        os.chmod(folder, 0o700)
        document = {
            PROFILE_NAME: {"target": TARGET_NAME, "outputs": {TARGET_NAME: profile}}
        }
        path = folder / "profiles.yml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            # JSON is YAML: no quoting surprises for passwords with ':' or '#'.
            json.dump(document, handle, indent=2)
        logs = folder / "logs"
        logs.mkdir(mode=0o700)
        yield folder, logs
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def invoke(
    inv: Invocation,
    *,
    on_line: Callable[[str], None],
    on_start: Callable[[int], None] = lambda pgid: None,
    should_cancel: Callable[[], bool] = lambda: False,
    secrets: Iterable[str] = (),
) -> Outcome:
    masker = masker_for(inv.profile, secrets)
    target = Path(inv.target_dir)
    target.mkdir(parents=True, exist_ok=True)
    # A run_results.json from an earlier run must never pass for this one's.
    with contextlib.suppress(FileNotFoundError):
        (target / "run_results.json").unlink()
    started = time.time()
    reader = _Reader(masker, on_line)
    with private_profiles(inv.profile) as (profiles_dir, log_dir):
        argv = argv_for(inv, profiles_dir, log_dir)
        env = safe_env(Path(inv.dbt).parent, **dbt_env_extra())
        argv, env = sandboxed(inv, argv, env, profiles_dir)
        process = subprocess.Popen(
            argv,
            cwd=str(inv.project_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        thread = threading.Thread(target=reader.read, args=(process.stdout,))
        thread.daemon = True
        thread.start()
        cancelled = timed_out = False
        try:
            on_start(process.pid)
            deadline = time.monotonic() + float(inv.timeout)
            while process.poll() is None:
                if should_cancel():
                    cancelled = True
                elif time.monotonic() >= deadline:
                    timed_out = True
                if cancelled or timed_out:
                    stop_group(process)
                    break
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=POLL_SECONDS)
        except BaseException:
            stop_group(process)
            raise
        finally:
            process.wait()
            thread.join(timeout=10)
    if cancelled:
        reader.emit_text("dbt was cancelled.")
    elif timed_out:
        reader.emit_text(
            f"dbt did not finish within {inv.timeout:g} s and was stopped."
        )
    run_results = _masked_results(
        _read_json(target / "run_results.json", since=started), masker
    )
    manifest = _read_json(target / "manifest.json", since=started)
    outcome = Outcome(
        returncode=process.returncode,
        cancelled=cancelled,
        timed_out=timed_out,
        run_results=run_results,
        manifest=manifest,
        output=_mask_output(_output(inv, reader, target, started), masker),
    )
    if not outcome.succeeded:
        outcome.error = masker.mask(_error_text(inv, outcome, reader))
    return outcome


def stop_group(process: subprocess.Popen) -> None:
    """SIGINT the group (dbt cancels its queries), then SIGTERM, then SIGKILL."""
    pgid = process.pid
    for sig, grace in (
        (signal.SIGINT, INTERRUPT_GRACE_SECONDS),
        (signal.SIGTERM, TERM_GRACE_SECONDS),
    ):
        if sig == signal.SIGINT:
            _interrupt_inside(pgid)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)
        end = time.monotonic() + grace
        while process.poll() is None and time.monotonic() < end:
            time.sleep(0.05)
        if process.poll() is not None:
            break
    # Children may outlive the leader; the group id stays theirs.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _interrupt_inside(pgid: int) -> None:
    """SIGINT dbt, but not the sandbox around it.

    bubblewrap dies of a SIGINT and takes its PID namespace down with SIGKILL, so
    dbt would never get to cancel its queries: a killed dbt leaves a PostgreSQL
    query running on the server. The group's members other than ``bwrap`` are
    dbt and its children (the group is the same inside the sandbox).
    """
    for pid, name in group_members(pgid):
        if name != sandbox.BWRAP:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGINT)


class _Reader:
    """Turns dbt's JSON log lines into masked text lines, keeping what we need."""

    def __init__(self, masker: SecretMasker, on_line: Callable[[str], None]) -> None:
        self.masker = masker
        self.on_line = on_line
        self.errors: list[str] = []
        self.tail: deque[str] = deque(maxlen=200)
        self.events: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def read(self, stream) -> None:
        try:
            for raw in iter(stream.readline, b""):
                self.feed(raw.decode("utf-8", "replace").rstrip("\n"))
        finally:
            stream.close()

    def feed(self, raw: str) -> None:
        if not raw.strip():
            return
        event = None
        if raw.startswith("{"):
            with contextlib.suppress(ValueError):
                event = json.loads(raw)
        if not isinstance(event, dict) or "info" not in event:
            self.emit_text(raw)
            return
        info = event.get("info") or {}
        name = str(info.get("name") or "")
        if name in ("ShowNode", "CompiledNode"):
            self.events.setdefault(name, []).append(event.get("data") or {})
        level = str(info.get("level") or "info")
        message = str(info.get("msg") or "")
        if level == "debug" and not message:
            return
        if level == "error":
            self.errors.append(self.masker.mask(message))
        stamp = str(info.get("ts") or "")[11:19]
        prefix = f"{stamp}  " if stamp else ""
        self.emit_text(message, prefix=prefix)

    def emit_text(self, text: str, prefix: str = "") -> None:
        with self._lock:
            for line in text.splitlines() or [""]:
                masked = self.masker.mask(
                    f"{prefix}{line}" if line else prefix.rstrip()
                )
                self.tail.append(masked)
                self.on_line(masked)


def _read_json(path: Path, *, since: float) -> dict | None:
    try:
        if path.stat().st_mtime < since - 1:
            return None
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _masked_results(run_results: dict | None, masker: SecretMasker) -> dict | None:
    """A database error may quote the SQL it ran: mask what the console stores."""
    for result in (run_results or {}).get("results") or []:
        for key in ("message", "compiled_code"):
            if isinstance(result.get(key), str):
                result[key] = masker.mask(result[key])
    return run_results


def _mask_output(output: dict, masker: SecretMasker) -> dict:
    """Previewed rows, compiled SQL and docs go to pages: no secret of the profile."""
    for key in ("sql", "docs_html"):
        if key in output:
            output[key] = masker.mask(output[key])
    if "rows" in output:
        output["rows"] = [
            [masker.mask(v) if isinstance(v, str) else v for v in row]
            for row in output["rows"]
        ]
    return output


def _output(inv: Invocation, reader: _Reader, target: Path, started: float) -> dict:
    if inv.command == "show":
        for data in reader.events.get("ShowNode", []):
            return _show_output(data)
        return {}
    if inv.command == "compile" and inv.selector:
        nodes = reader.events.get("CompiledNode", [])
        if nodes:
            return {"sql": str(nodes[-1].get("compiled") or "")}
        return {}
    if inv.command == "docs generate":
        page = target / "static_index.html"
        with contextlib.suppress(OSError):
            if page.stat().st_mtime >= started - 1:
                return {"docs_html": page.read_text(encoding="utf-8")}
        return {}
    return {}


def _show_output(data: dict) -> dict:
    preview = data.get("preview")
    rows_in: Any = preview
    if isinstance(preview, str):
        try:
            rows_in = json.loads(preview)
        except ValueError:
            return {"columns": [], "rows": [], "text": preview}
    if isinstance(rows_in, dict) and "show" in rows_in:
        rows_in = rows_in["show"]
    if not isinstance(rows_in, list):
        return {"columns": [], "rows": []}
    columns: list[str] = []
    for row in rows_in:
        if isinstance(row, dict):
            for key in row:
                if key not in columns:
                    columns.append(str(key))
    rows = [[row.get(c) for c in columns] for row in rows_in if isinstance(row, dict)]
    return {"columns": columns, "rows": rows}


_BAD = {"error", "fail", "runtime error"}
_ENCOUNTERED = re.compile(r"^Encountered an error:\s*", re.IGNORECASE)
# A database error quotes the failing line of the SQL dbt sent ("LINE 7: ...").
_NAMED_FILE = re.compile(r"Error in \w+ \S+ \(([^()\s]+\.sql)\)")
_DB_LINE = re.compile(r"^\s*LINE (\d+):\s?(.*)$", re.MULTILINE)


def _source_line(inv: Invocation, node: dict, message: str) -> str:
    """``models/x.sql line 3`` when the quoted SQL line is found in the model's file.

    The database counts lines of the statement dbt sent (wrapped in DDL); the
    user edits the model's file, so the quoted text is looked up there.
    """
    match = _DB_LINE.search(message)
    path = str(node.get("original_file_path") or "")
    if not match or not path:
        return ""
    quoted = match.group(2).strip()
    if len(quoted) < 3:
        return ""
    try:
        lines = (Path(inv.project_dir) / path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    for number, line in enumerate(lines, start=1):
        if line.strip() and (line.strip() in quoted or quoted in line):
            return f"{path} line {number}"
    return ""


def _error_text(inv: Invocation, outcome: Outcome, reader: _Reader) -> str:
    """One paragraph a user can act on, from dbt's own words."""
    if outcome.cancelled:
        return "The run was cancelled; dbt was stopped."
    if outcome.timed_out:
        return f"dbt did not finish within {inv.timeout:g} s and was stopped."
    parts: list[str] = []
    results = (outcome.run_results or {}).get("results") or []
    failed = [r for r in results if str(r.get("status")) in _BAD]
    nodes = (outcome.manifest or {}).get("nodes") or {}
    for result in failed[:5]:
        message = str(result.get("message") or "").strip()
        unique_id = str(result.get("unique_id") or "")
        where = _source_line(inv, nodes.get(unique_id) or {}, message)
        if where:
            message = f"{message}\n({where})"
        parts.append(f"{unique_id}: {message}" if message else unique_id)
    if len(failed) > 5:
        parts.append(f"... and {len(failed) - 5} more.")
    if not parts and reader.errors:
        # Parse and compile errors: dbt's own text names the file and line.
        seen: list[str] = []
        for message in reader.errors:
            message = _ENCOUNTERED.sub("", message.strip()).strip()
            if message and message not in seen:
                seen.append(message)
        parts = []
        for message in seen[:5]:
            named = _NAMED_FILE.search(message)
            where = _source_line(
                inv, {"original_file_path": named.group(1) if named else ""}, message
            )
            parts.append(f"{message}\n({where})" if where else message)
    if not parts:
        tail = [line for line in reader.tail if line.strip()][-ERROR_TAIL_LINES:]
        parts = [f"dbt exited with code {outcome.returncode}.", *tail]
    text = "\n".join(p for p in parts if p)
    return text[:MAX_ERROR_CHARS]
