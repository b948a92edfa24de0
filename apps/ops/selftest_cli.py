"""`airbyte test smoke|integration|all`: is this installation working?

``smoke`` checks the running parts in a few seconds; ``integration`` runs one small
real sync end to end in a scratch workspace and removes it; ``all`` runs both and,
in a checkout, the project's test suite (``make test``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from django.core.management.base import CommandError

from apps.core.clikit import CliResult, arg, cli_user, group
from apps.core.roles import Role
from apps.ops import selftest
from apps.workspaces.cli import AS_USER, WORKSPACE, cli_membership

test = group("test", "Check this installation: smoke, integration, or all.")

TIMEOUT = arg(
    "--timeout",
    type=float,
    default=120.0,
    help="Seconds the sync may take (120).",
)
INLINE = arg(
    "--inline",
    action="store_true",
    help="Run the sync in this process instead of on a worker.",
)


def progress(line: str) -> None:
    """Progress goes to stderr, so ``--json`` output on stdout stays clean."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _smoke(options: dict[str, Any]) -> selftest.SmokeResult:
    workspaces = None
    if options.get("workspace"):
        workspaces = [cli_membership(options, Role.VIEWER).workspace]
    return selftest.smoke_run(workspaces)


def _smoke_lines(result: selftest.SmokeResult) -> list[str]:
    width = max(len(check.name) for check in result.checks)
    lines = [
        f"  {'ok' if c.ok else 'FAIL':<5} {c.name:<{width}}  {c.detail} ({c.ms} ms)"
        for c in result.checks
    ]
    failed = [c.name for c in result.checks if not c.ok]
    if failed:
        lines.append(
            f"Smoke test failed ({', '.join(failed)}) in {result.seconds:.1f} s."
        )
    else:
        lines.append(f"Smoke test passed in {result.seconds:.1f} s.")
    return lines


@test.action(
    "smoke",
    "Check the database, broker, workers and engines answer (under 10 s).",
    WORKSPACE,
    AS_USER,
)
def selftest_smoke(options: dict[str, Any]) -> CliResult:
    result = _smoke(options)
    return CliResult(
        data=result.as_dict(),
        text="\n".join(["Smoke test", *_smoke_lines(result)]),
        exit_code=0 if result.ok else 1,
    )


ENGINE = arg(
    "--engine",
    choices=["embedded", "airbyte"],
    default="embedded",
    help="embedded (default): a sync on this console's own workers; airbyte: the "
    "whole airbyte-engine flow against the Airbyte server at --url (each job there "
    "may take --timeout, at least 300 s).",
)
URL = arg("--url", default="", help="The Airbyte server (--engine airbyte).")
CLIENT_ID = arg(
    "--client-id",
    default="",
    help="An application's client id there (else $AIRBYTE_CLIENT_ID).",
)
CLIENT_SECRET = arg(
    "--client-secret",
    default="",
    help="Its client secret (else $AIRBYTE_CLIENT_SECRET, which keeps it out of "
    "the process list).",
)
REMOTE_WORKSPACE = arg(
    "--remote-workspace",
    default="",
    help="The server's workspace to work in (else the first it lists).",
)


def _airbyte_integration(options: dict[str, Any]) -> selftest.AirbyteIntegrationResult:
    url = options.get("url") or ""
    if not url:
        raise CommandError("--engine airbyte needs --url (the Airbyte server).")
    client_id = options.get("client_id") or os.environ.get("AIRBYTE_CLIENT_ID", "")
    client_secret = options.get("client_secret") or os.environ.get(
        "AIRBYTE_CLIENT_SECRET", ""
    )
    if not client_id or not client_secret:
        raise CommandError(
            "--engine airbyte needs an application's --client-id and --client-secret "
            "(or $AIRBYTE_CLIENT_ID and $AIRBYTE_CLIENT_SECRET)."
        )
    return selftest.airbyte_integration_run(
        actor=cli_user(options.get("as_user")),
        url=url,
        client_id=client_id,
        client_secret=client_secret,
        remote_workspace_id=options.get("remote_workspace") or "",
        timeout=max(options["timeout"], 300.0),
        inline=options["inline"],
        echo=progress if not options.get("json") else (lambda line: None),
    )


def _airbyte_lines(result: selftest.AirbyteIntegrationResult) -> list[str]:
    if result.ok:
        return [
            f"Integration test against {result.url} passed in {result.seconds:.1f} s: "
            f"{result.records} records synced on {result.server}, a second sync "
            "cancelled.",
            result.cleanup,
        ]
    lines = [
        f"Integration test against {result.url} failed after {result.seconds:.1f} s: "
        f"{result.error}"
    ]
    if result.cleanup:
        lines.append(result.cleanup)
    return lines


def _integration(options: dict[str, Any]) -> selftest.IntegrationResult:
    return selftest.integration_run(
        actor=cli_user(options.get("as_user")),
        timeout=options["timeout"],
        inline=options["inline"],
        echo=progress if not options.get("json") else (lambda line: None),
    )


def _integration_lines(result: selftest.IntegrationResult) -> list[str]:
    if result.ok:
        tables = ", ".join(f"{t} {n}" for t, n in result.tables.items())
        return [
            f"Integration test passed in {result.seconds:.1f} s: {result.records} "
            f"records synced in {result.sync_seconds:.1f} s ({tables}).",
            result.cleanup,
        ]
    lines = [f"Integration test failed after {result.seconds:.1f} s: {result.error}"]
    if result.cleanup:
        lines.append(result.cleanup)
    return lines


@test.action(
    "integration",
    "Run one small real sync (faker to DuckDB) in a scratch workspace, then remove "
    "it; with --engine airbyte --url URL, the whole airbyte-engine flow against "
    "that server (test, choose a workspace, import, connect, sync, cancel).",
    TIMEOUT,
    INLINE,
    ENGINE,
    URL,
    CLIENT_ID,
    CLIENT_SECRET,
    REMOTE_WORKSPACE,
    AS_USER,
)
def selftest_integration(options: dict[str, Any]) -> CliResult:
    if options.get("engine") == "airbyte":
        found = _airbyte_integration(options)
        return CliResult(
            data=found.as_dict(),
            text="\n".join(_airbyte_lines(found)),
            exit_code=0 if found.ok else 1,
        )
    result = _integration(options)
    return CliResult(
        data=result.as_dict(),
        text="\n".join(_integration_lines(result)),
        exit_code=0 if result.ok else 1,
    )


@test.action(
    "all",
    "The smoke test, then the integration test, then (in a checkout) `make test`; "
    "stops at the first failure.",
    TIMEOUT,
    INLINE,
    arg("--no-suite", action="store_true", help="Skip the project's test suite."),
    WORKSPACE,
    AS_USER,
)
def selftest_all(options: dict[str, Any]) -> CliResult:
    lines: list[str] = ["Smoke test"]
    data: dict[str, Any] = {}
    smoke = _smoke(options)
    data["smoke"] = smoke.as_dict()
    lines.extend(_smoke_lines(smoke))
    integration = None
    if smoke.ok:
        integration = _integration(options)
        data["integration"] = integration.as_dict()
        lines.extend(_integration_lines(integration))
    else:
        data["integration"] = {"skipped": "the smoke test failed"}
        lines.append("Integration test: skipped (the smoke test failed).")
    data["suite"] = suite = _suite(options, run=bool(integration and integration.ok))
    lines.append(suite["message"])
    ok = smoke.ok and bool(integration and integration.ok) and suite["ok"]
    data["ok"] = ok
    return CliResult(data=data, text="\n".join(lines), exit_code=0 if ok else 1)


def _suite(options: dict[str, Any], *, run: bool) -> dict[str, Any]:
    found = selftest.suite_command()
    if found is None:
        return {
            "ok": True,
            "skipped": "not a checkout",
            "message": "Test suite: skipped (no tests/ and Makefile here; this is not "
            "a checkout).",
        }
    argv, cwd = found
    row: dict[str, Any] = {"command": " ".join(argv), "cwd": str(cwd)}
    if options["no_suite"]:
        return {
            **row,
            "ok": True,
            "skipped": "--no-suite",
            "message": f"Test suite: skipped (--no-suite); it would run "
            f"`{row['command']}` in {cwd}.",
        }
    if not run:
        return {
            **row,
            "ok": False,
            "skipped": "an earlier test failed",
            "message": "Test suite: skipped (an earlier test failed).",
        }
    progress(f"Running the test suite: `{row['command']}` in {cwd} ...")
    started = time.monotonic()
    # The suite's output streams to stderr line by line, so stdout keeps only the
    # summary (and stays valid JSON with --json).
    with subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as suite:
        for line in suite.stdout or ():
            progress(line.rstrip("\n"))
    seconds = time.monotonic() - started
    ok = suite.returncode == 0
    return {
        **row,
        "ok": ok,
        "exit_code": suite.returncode,
        "seconds": round(seconds, 1),
        "message": f"Test suite: {'passed' if ok else 'FAILED'} "
        f"(`{row['command']}` exited {suite.returncode} after {seconds:.0f} s).",
    }
