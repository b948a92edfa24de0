"""A tiny protocol-speaking connector of the suite's own, for the fault cases.

Real connectors cannot be made to hang, print garbage or leak a secret on demand;
this one can. It runs as a plain script (runner tests) or installed from a wheel
the suite builds itself (installer tests, offline through pip's --find-links).

Its behaviour comes from the config's ``mode``; ``SPEC_MODE`` is baked in when a
wheel is built, so a version whose ``spec`` hangs or crashes can be installed.
Mode ``probe`` plays a hostile connector: it tries to read and write the paths its
config names and logs what happened (``probe {path: sha256 | written | error}``),
so the sandbox tests can compare what it saw with what the console holds.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

TINY_SOURCE = r"""
import hashlib
import json
import os
import stat
import subprocess
import sys
import time

SPEC_MODE = "{spec_mode}"

SPEC = {{
    "documentationUrl": "https://example.invalid/tiny",
    "connectionSpecification": {{
        "type": "object",
        "required": ["api_key"],
        "properties": {{
            "api_key": {{"type": "string", "airbyte_secret": True}},
            "mode": {{"type": "string"}},
        }},
    }},
}}


def emit(message):
    print(json.dumps(message), flush=True)


def log(text):
    emit({{"type": "LOG", "log": {{"level": "INFO", "message": text}}}})


def run():
    args = sys.argv[1:]
    command = args[0] if args else "spec"
    config = {{}}
    if "--config" in args:
        path = args[args.index("--config") + 1]
        mode = stat.S_IMODE(os.stat(path).st_mode)
        folder = stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode)
        log(f"config file {{path}} mode {{oct(mode)}} folder {{oct(folder)}}")
        with open(path) as handle:
            config = json.load(handle)
    names = sorted(k for k in os.environ if k.startswith("CONSOLE_"))
    log("env has " + ",".join(names))
    mode = config.get("mode", "ok")
    secret = config.get("api_key", "")
    if command == "spec":
        if SPEC_MODE == "hang":
            time.sleep(600)
        if SPEC_MODE == "crash":
            sys.stderr.write("spec is broken in this version\n")
            sys.exit(4)
        emit({{"type": "SPEC", "spec": SPEC}})
        return
    if mode == "garbage":
        print("Starting tiny source v1 (not JSON)", flush=True)
        print("{{this is not json either", flush=True)
        print('["a", "list"]', flush=True)
        print('{{"type": "NOT_A_MESSAGE"}}', flush=True)
        sys.stdout.write("\x00\xff binary-ish\n")
    if mode == "probe":
        probe(config)
    if mode == "hang":
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)"]
        )
        # In a sandbox the test's folder may not exist: then there is no pid file.
        try:
            with open(config["pid_file"], "w") as handle:
                handle.write(f"{{os.getpid()}} {{child.pid}}")
            if config.get("ns_file"):
                with open(config["ns_file"], "w") as handle:
                    handle.write(os.readlink("/proc/self/ns/pid"))
        except OSError:
            pass
        time.sleep(600)
    if mode == "leak":
        sys.stderr.write(f"debug: connecting with key {{secret}}\n")
        log(f"using api key {{secret}}")
    if mode == "crash":
        sys.stderr.write(f"Traceback: KeyError boom {{secret}}\n")
        sys.exit(3)
    if mode == "trace":
        emit({{
            "type": "TRACE",
            "trace": {{
                "type": "ERROR",
                "emitted_at": 0,
                "error": {{
                    "message": f"Auth failed for key {{secret}}",
                    "internal_message": "401",
                    "failure_type": "config_error",
                }},
            }},
        }})
        sys.exit(1)
    if command == "check":
        ok = secret == "right-key"
        status = {{"status": "SUCCEEDED" if ok else "FAILED"}}
        if not ok:
            status["message"] = f"Wrong key {{secret}}"
        emit({{"type": "CONNECTION_STATUS", "connectionStatus": status}})
    elif command == "discover":
        emit({{
            "type": "CATALOG",
            "catalog": {{"streams": [{{
                "name": "things",
                "json_schema": {{
                    "type": "object",
                    "properties": {{"id": {{"type": "integer"}}}},
                }},
                "supported_sync_modes": ["full_refresh", "incremental"],
                "source_defined_cursor": True,
                "default_cursor_field": ["id"],
                "source_defined_primary_key": [["id"]],
            }}]}},
        }})
    elif command == "read":
        read(config, mode)


def probe(config):
    seen = {{}}
    for path in config.get("read", []):
        try:
            with open(path, "rb") as handle:
                seen[path] = hashlib.sha256(handle.read()).hexdigest()
        except OSError as exc:
            seen[path] = f"error: {{type(exc).__name__}}"
    for path, text in (config.get("write") or {{}}).items():
        try:
            with open(path, "w") as handle:
                handle.write(text)
            seen[path] = "written"
        except OSError as exc:
            seen[path] = f"error: {{type(exc).__name__}}"
    log("probe " + json.dumps(seen))


def record(n, value=None):
    emit({{"type": "RECORD", "record": {{
        "stream": "things", "emitted_at": 1700000000000 + n,
        "data": {{"id": n if value is None else value, "name": f"thing {{n}}"}},
    }}}})


def state(n):
    emit({{"type": "STATE", "state": {{"type": "STREAM", "stream": {{
        "stream_descriptor": {{"name": "things"}}, "stream_state": {{"id": n}},
    }}}}}})


def read(config, mode):
    # Read modes: records with a STATE every 10, then what the mode says.
    total = int(config.get("records", 50))
    for n in range(1, total + 1):
        if mode == "bad_record" and n == 5:
            record(n, value="not-a-number")
        else:
            record(n)
        if n % 10 == 0:
            state(n)
            time.sleep(float(config.get("pause", 0)))
        if mode == "garbage_midway" and n == 15:
            print("WARNING: this line is not JSON", flush=True)
            print("{{half a message", flush=True)
    if mode == "die_midway":
        sys.stderr.write("Segmentation fault (pretend)\n")
        sys.exit(139)
    if mode == "silent_midway":
        time.sleep(600)
    if mode == "control":
        emit({{"type": "CONTROL", "control": {{
            "type": "CONNECTOR_CONFIG", "emitted_at": 0,
            "connectorConfig": {{
                "config": {{**config, "api_key": "rotated-key-9876"}},
            }},
        }}}})


if __name__ == "__main__":
    run()
"""

PACKAGE = "airbyte-source-tiny"
MODULE = "source_tiny"


def tiny_script(spec_mode: str = "ok") -> str:
    return TINY_SOURCE.format(spec_mode=spec_mode)


def write_script(directory: Path, spec_mode: str = "ok") -> Path:
    """The tiny connector as a script in a venv-like ``bin/`` folder."""
    bin_dir = directory / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "source-tiny"
    script.write_text(tiny_script(spec_mode))
    return script


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"{name},sha256={digest.decode()},{len(data)}"


def build_wheel(
    directory: Path,
    version: str,
    *,
    spec_mode: str = "ok",
    requires_python: str = "",
    package: str = PACKAGE,
) -> Path:
    """A pure-Python wheel of the tiny connector with a ``source-tiny`` script."""
    dist = package.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n"
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    files = {
        f"{MODULE}/__init__.py": tiny_script(spec_mode).encode(),
        f"{info}/METADATA": metadata.encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
        f"{info}/entry_points.txt": (
            f"[console_scripts]\nsource-tiny = {MODULE}:run\n".encode()
        ),
    }
    record = [_record_line(name, data) for name, data in files.items()]
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = directory / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path
