"""The runner against the suite's tiny connector, run as a plain script."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from apps.core.masking import MASK
from apps.engines.embedded import protocol
from apps.engines.embedded.runner import run_connector
from apps.engines.masking import SecretMasker, secret_values
from tests.engines import fakes

SECRET = "s3cr3t-Canary-Value"


@pytest.fixture
def tiny(tmp_path) -> list[str]:
    return [sys.executable, str(fakes.write_script(tmp_path))]


def masker_for(config: dict) -> SecretMasker:
    return SecretMasker(secret_values(config))


def test_spec_returns_the_spec_message(tiny):
    result = run_connector(tiny, "spec", masker=SecretMasker(), timeout=10)

    spec = protocol.spec_from_message(result.first(protocol.SPEC))
    assert spec.connection_specification["required"] == ["api_key"]
    assert result.returncode == 0


def test_garbage_lines_on_stdout_are_kept_as_logs_not_fatal(tiny):
    config = {"api_key": "right-key", "mode": "garbage"}

    result = run_connector(
        tiny, "check", masker=masker_for(config), config=config, timeout=10
    )

    status = protocol.check_from_message(result.first(protocol.CONNECTION_STATUS))
    assert status.ok
    assert "Starting tiny source v1 (not JSON)" in result.logs
    assert "{this is not json either" in result.logs
    assert '{"type": "NOT_A_MESSAGE"}' in result.logs
    assert [m["type"] for m in result.messages] == ["CONNECTION_STATUS"]


def test_config_file_is_private_and_removed_afterwards(tiny):
    config = {"api_key": "right-key"}

    result = run_connector(
        tiny, "check", masker=masker_for(config), config=config, timeout=10
    )

    line = next(log for log in result.logs if "config file" in log)
    path = Path(line.split("config file ")[1].split(" mode")[0])
    assert line.endswith("mode 0o600 folder 0o700")
    assert not path.exists()
    assert not path.parent.exists()


def test_console_environment_does_not_reach_the_connector(tiny, monkeypatch):
    monkeypatch.setenv("CONSOLE_CANARY_SETTING", SECRET)

    result = run_connector(tiny, "check", masker=SecretMasker(), config={}, timeout=10)

    env_line = next(log for log in result.logs if log.startswith("INFO env has"))
    assert "CONSOLE_CANARY_SETTING" not in env_line
    assert "CONSOLE_DATA_DIR" not in env_line


def test_secrets_are_masked_in_logs_stderr_and_messages(tiny):
    config = {"api_key": SECRET, "mode": "leak"}

    result = run_connector(
        tiny, "check", masker=masker_for(config), config=config, timeout=10
    )

    status = result.first(protocol.CONNECTION_STATUS)
    everything = "\n".join([*result.logs, result.stderr])
    assert SECRET not in everything
    assert f"INFO using api key {MASK}" in result.logs
    assert f"connecting with key {MASK}" in result.stderr
    # The connector's own status message is raw here; the engine masks it.
    assert status is not None


def test_trace_error_becomes_the_failure_message_masked(tiny):
    config = {"api_key": SECRET, "mode": "trace"}

    result = run_connector(
        tiny, "check", masker=masker_for(config), config=config, timeout=10
    )

    assert result.failure_message("check") == f"Auth failed for key {MASK}"
    assert result.errors() == [(f"Auth failed for key {MASK}", "config_error")]


def test_crash_without_a_message_reports_exit_code_and_stderr_tail(tiny):
    config = {"api_key": SECRET, "mode": "crash"}

    result = run_connector(
        tiny, "check", masker=masker_for(config), config=config, timeout=10
    )

    message = result.failure_message("check")
    assert "exited with code 3" in message
    assert f"KeyError boom {MASK}" in message
    assert SECRET not in message


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0) until reaped; it is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except OSError:
        return False


def test_timeout_kills_the_whole_process_group(tiny, tmp_path, settings):
    # Host pids and a pid file in tmp_path need the connector unsandboxed; the
    # sandboxed case is tests/engines/test_sandbox.py.
    settings.CONNECTOR_SANDBOX = "none"
    pid_file = tmp_path / "pids"
    config = {"api_key": "right-key", "mode": "hang", "pid_file": str(pid_file)}
    started = time.monotonic()

    result = run_connector(
        tiny, "check", masker=masker_for(config), config=config, timeout=1.5
    )

    assert time.monotonic() - started < 10
    assert result.timed_out
    assert result.failure_message("check", 1.5) == (
        "`check` did not finish within 1.5 s; the connector was stopped."
    )
    parent, child = (int(p) for p in pid_file.read_text().split())
    deadline = time.monotonic() + 5
    while (_alive(parent) or _alive(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(parent)
    assert not _alive(child)


def test_missing_executable_is_reported_not_raised(tmp_path):
    result = run_connector(
        [str(tmp_path / "nope")], "spec", masker=SecretMasker(), timeout=5
    )

    assert result.returncode == 127
    assert "Could not start the connector" in result.failure_message("spec")


def test_the_cdks_catch_all_error_message_gains_its_internal_reason():
    """ "See the logs" alone helps nobody: the internal message says what broke."""
    generic = "Something went wrong in the connector. See the logs for more details."
    trace = {
        "type": "TRACE",
        "trace": {
            "type": "ERROR",
            "error": {
                "message": generic,
                "internal_message": "Stream 'users' is not defined in the manifest",
                "failure_type": "config_error",
            },
        },
    }
    text, failure_type = protocol.trace_error(trace)
    assert text == f"{generic} Stream 'users' is not defined in the manifest"
    assert failure_type == "config_error"
    # A specific message stays as the connector wrote it.
    trace["trace"]["error"]["message"] = "The API key was refused."
    assert protocol.trace_error(trace)[0] == "The API key was refused."
