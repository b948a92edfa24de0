"""Probes for /healthz and `airbyte status`: each one bounded by a timeout."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection


@dataclass(frozen=True)
class ProbeResult:
    name: str
    ok: bool
    detail: str
    latency_ms: int


def probe_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return connection.vendor


def probe_broker() -> str:
    from kombu import Connection

    url = settings.CELERY_BROKER_URL
    with Connection(
        url,
        connect_timeout=settings.HEALTH_PROBE_TIMEOUT,
        transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
    ) as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.HEALTH_PROBE_TIMEOUT)
        return (
            conn.transport_cls
            if isinstance(conn.transport_cls, str)
            else url.split(":")[0]
        )


def probe_workers() -> str:
    from airbyte_console.celery import app

    replies = app.control.ping(timeout=min(1.0, settings.HEALTH_PROBE_TIMEOUT)) or []
    if not replies:
        raise RuntimeError("no worker answered")
    return f"{len(replies)} worker(s): " + ", ".join(
        sorted(k for r in replies for k in r)
    )


PROBES: dict[str, Callable[[], str]] = {
    "database": probe_database,
    "broker": probe_broker,
}


def run_probes(
    names: list[str] | None = None, timeout: float | None = None
) -> list[ProbeResult]:
    """Run probes in parallel; a probe that has not answered by ``timeout`` is down."""
    timeout = timeout if timeout is not None else settings.HEALTH_PROBE_TIMEOUT + 1
    chosen = {name: PROBES_ALL[name] for name in (names or list(PROBES))}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(chosen))
    started = time.monotonic()
    futures = {name: pool.submit(_timed, probe) for name, probe in chosen.items()}
    results = []
    for name, future in futures.items():
        remaining = max(0.0, timeout - (time.monotonic() - started))
        try:
            ok, detail, latency = future.result(timeout=remaining)
        except concurrent.futures.TimeoutError:
            ok, detail, latency = (
                False,
                f"no answer within {timeout:.0f} s",
                int(timeout * 1000),
            )
        results.append(ProbeResult(name, ok, detail, latency))
    # Never wait for a hung probe: its thread ends on its own timeout.
    pool.shutdown(wait=False, cancel_futures=True)
    return results


def _timed(probe: Callable[[], str]) -> tuple[bool, str, int]:
    started = time.monotonic()
    try:
        detail = probe()
        ok = True
    except Exception as exc:  # a probe reports any failure as "down" with its reason
        detail, ok = f"{type(exc).__name__}: {exc}", False
    finally:
        # Threads reuse nothing: close this thread's database connection.
        connection.close()
    return ok, detail, int((time.monotonic() - started) * 1000)


PROBES_ALL: dict[str, Callable[[], str]] = {**PROBES, "workers": probe_workers}
