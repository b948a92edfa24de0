"""Engine health for `airbyte status` and `airbyte test smoke`: plain data, one runner.

Each engine answers two class-level verbs (``Engine.health_targets`` and
``Engine.check_health``). The targets are read in the caller's thread, where the
database is; ``run_health_checks`` then checks them in parallel threads that touch
no database, each bounded by one deadline, so a server that hangs cannot hold up
the command. Nothing here names an engine: it asks the registry.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from apps.engines import registry

# Seconds a check gets by default before it counts as down.
DEFAULT_TIMEOUT = 4.0


@dataclass(frozen=True)
class HealthTarget:
    """One thing an engine checks, and the workspaces that depend on it."""

    engine: str
    name: str
    workspaces: tuple[str, ...]
    # What the engine read for the check in the caller's thread (a server's
    # settings, the connectors to look for); the check itself touches no database.
    payload: Any = None


@dataclass(frozen=True)
class HealthCheck:
    """What checking one target found, in words for each command that shows it."""

    engine: str
    name: str
    ok: bool
    detail: str
    latency_ms: int
    workspaces: tuple[str, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)
    # `airbyte status`: the first line's text (the detail when empty) and the lines
    # under it.
    headline: str = ""
    notes: tuple[str, ...] = ()
    # `airbyte test smoke`: a stricter verdict and its words, where the engine has
    # one (can the self-test's connector run here?).
    smoke_ok: bool | None = None
    smoke_detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "latency_ms": self.latency_ms,
            "workspaces": list(self.workspaces),
            **self.facts,
        }


def run_health_checks(
    targets: list[HealthTarget], timeout: float = DEFAULT_TIMEOUT
) -> list[HealthCheck]:
    """Check every target in parallel; one with no answer by ``timeout`` is down."""
    results: dict[int, HealthCheck] = {}

    def run(index: int, target: HealthTarget) -> None:
        try:
            results[index] = registry.engine_class(target.engine).check_health(target)
        except Exception as exc:  # a check reports any failure as "down"
            results[index] = down(target, f"{type(exc).__name__}: {exc}")

    # Daemon threads, so a hung server never keeps the command from exiting.
    with _quiet("httpx"):
        threads = [
            threading.Thread(target=run, args=(i, t), daemon=True, name=f"engine-{i}")
            for i, t in enumerate(targets)
        ]
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    checks = []
    for index, target in enumerate(targets):
        found = results.get(index)
        if found is None:
            found = down(
                target,
                f"no answer within {timeout:.0f} s",
                latency_ms=int(timeout * 1000),
            )
        checks.append(found)
    return checks


def down(target: HealthTarget, detail: str, *, latency_ms: int = 0) -> HealthCheck:
    """A failed check of ``target`` that says why."""
    return HealthCheck(
        engine=target.engine,
        name=target.name,
        ok=False,
        detail=detail,
        latency_ms=latency_ms,
        workspaces=target.workspaces,
    )


def elapsed_ms(started: float) -> int:
    """Milliseconds since ``started`` (a ``time.monotonic()`` reading)."""
    return int((time.monotonic() - started) * 1000)


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Hide a library's INFO lines (one per HTTP request) while people read a report."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(max(before, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(before)
