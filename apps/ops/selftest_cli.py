"""`airbyte test smoke|integration|all`: is this installation working?

``smoke`` checks the running parts in a few seconds; ``integration`` runs one small
real sync end to end in a scratch workspace and removes it; ``all`` runs both and,
in a checkout, the project's test suite (``make test``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

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
    "Run one small real sync (faker to DuckDB) in a scratch workspace, then remove it.",
    TIMEOUT,
    INLINE,
    AS_USER,
)
def selftest_integration(options: dict[str, Any]) -> CliResult:
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
