"""The airbyte engine's health: each distinct server once, and what `manage` says.

Targets are read in the caller's thread: one per server and sign-in the chosen
workspaces use (secrets included, so a stale secret is not hidden behind a good
one), plus one for workspaces on this engine with no server set up. The check
reaches, signs in and lists on the server with a short timeout and no retries,
while people wait for `airbyte status`.
"""

from __future__ import annotations

import time
from typing import Any

from django.db.models import Q

from apps.airbyte.client import RetryPolicy
from apps.airbyte.models import AirbyteServer
from apps.airbyte.services import server_probe
from apps.engines.health import (
    HealthCheck,
    HealthTarget,
    elapsed_ms,
    run_health_checks,
)

NAME = "airbyte"
# Seconds a server gets to answer each call while status or smoke run.
PROBE_TIMEOUT = 3.0
ABCTL_STEPS = [
    ("curl -LsfS https://get.airbyte.com | bash -", "installs abctl (needs Docker)"),
    (
        "abctl local install --port 8001",
        "installs and starts Airbyte; --port because `make run` serves the console "
        "on 8000, --disable-auth to turn sign-in off",
    ),
    ("abctl local credentials", "prints the client id and secret the console needs"),
]


def targets(workspaces: list[Any]) -> list[HealthTarget]:
    """Each distinct server these workspaces use, once; then those with none."""
    chosen = list(workspaces)
    found = {
        s.workspace_id: s
        for s in AirbyteServer.objects.filter(workspace__in=[w.pk for w in chosen])
    }
    servers: dict[tuple[str, ...], tuple[AirbyteServer, list[str]]] = {}
    unset: list[str] = []
    for workspace in chosen:
        server = found.get(workspace.pk)
        if server is None:
            unset.append(workspace.name)
            continue
        key = (
            server.url,
            server.auth,
            server.client_id,
            server.client_secret,
            server.username,
            server.password,
        )
        servers.setdefault(key, (server, []))[1].append(workspace.name)
    result = [
        HealthTarget(
            engine=NAME, name=server.url, workspaces=tuple(names), payload=server
        )
        for server, names in servers.values()
    ]
    if unset:
        result.append(
            HealthTarget(engine=NAME, name="(not set up)", workspaces=tuple(unset))
        )
    return result


def check(target: HealthTarget) -> HealthCheck:
    """Reach, sign in and list on the server (read-only, short timeouts)."""
    started = time.monotonic()
    server: AirbyteServer | None = target.payload
    if server is None:
        return HealthCheck(
            engine=NAME,
            name=target.name,
            ok=False,
            detail="these workspaces use the airbyte engine but have no server set "
            "up (Settings, Engine)",
            latency_ms=0,
            workspaces=target.workspaces,
        )
    # One quick try while people wait: a short timeout, no retries.
    probe = server_probe(server, timeout=PROBE_TIMEOUT, retry=RetryPolicy(attempts=0))
    facts = {
        "url": server.url,
        "auth": server.auth,
        "version": probe.version or server.server_version,
        "edition": probe.edition or server.server_edition,
        "auth_mode": probe.auth_mode or server.server_auth_mode,
        "steps": [
            {"name": s.name, "ok": s.ok, "detail": s.detail} for s in probe.steps
        ],
    }
    return HealthCheck(
        engine=NAME,
        name=server.url,
        ok=probe.ok,
        detail=probe.summary,
        latency_ms=elapsed_ms(started),
        workspaces=target.workspaces,
        facts=facts,
        headline=server.url,
        notes=(
            f"version {facts['version'] or 'unknown'}, edition "
            f"{facts['edition'] or 'unknown'}, auth mode "
            f"{facts['auth_mode'] or 'unknown'} (console signs in with "
            f"{facts['auth']})",
            probe.summary,
        ),
    )


def manage_install(*, url: str = "") -> tuple[dict[str, Any], list[str], bool]:
    """The abctl steps (the console installs no Airbyte), then: do servers answer?"""
    lines = [
        "Airbyte server: the console does not install Airbyte. To run one on this "
        "machine:"
    ]
    width = max(len(step) for step, _ in ABCTL_STEPS)
    for number, (step, why) in enumerate(ABCTL_STEPS, start=1):
        lines.append(f"  {number}. {step:<{width}}  # {why}")
    lines.append(
        "  Then, in a workspace's Settings > Engine: the server's URL "
        "(http://localhost:8001), the client id and the client secret."
    )
    chosen = _install_targets(url)
    data: dict[str, Any] = {
        "steps": [step for step, _ in ABCTL_STEPS],
        "servers": [],
    }
    if not chosen:
        lines.append(
            "No Airbyte server is set up in any workspace yet, so there is nothing "
            "to check: pass --url http://HOST:PORT to check one."
        )
        return data, lines, False
    lines.append("Checking:")
    ok = True
    for found in run_health_checks(chosen):
        reachable = _reachable(found, ad_hoc=bool(url))
        ok = ok and reachable
        data["servers"].append({**found.as_dict(), "reachable": reachable})
        where = (
            f" (workspaces: {', '.join(found.workspaces)})" if found.workspaces else ""
        )
        state = "ok" if reachable else "FAIL"
        lines.append(f"  {state:<5} {found.name}{where}: {found.detail}")
        if url and reachable and not found.ok:
            lines.append(
                "        It answers; to sign in, save its client id and secret in "
                "the workspace's engine settings."
            )
    return data, lines, ok


def _install_targets(url: str) -> list[HealthTarget]:
    from apps.workspaces.models import Workspace

    if url:
        # Not saved anywhere: only to see whether something answers there.
        server = AirbyteServer(url=url, auth=AirbyteServer.Auth.NONE)
        return [HealthTarget(engine=NAME, name=url, workspaces=(), payload=server)]
    # A server saved for a workspace that has not switched engines yet counts too.
    workspaces = (
        Workspace.objects.filter(Q(engine=NAME) | Q(airbyte_server__isnull=False))
        .distinct()
        .order_by("name")
    )
    return targets(list(workspaces))


def _reachable(found: HealthCheck, ad_hoc: bool) -> bool:
    if not ad_hoc:
        return found.ok
    # An address given with --url has no credentials: answering is what counts.
    steps = found.facts.get("steps") or []
    return bool(steps) and steps[0]["name"] == "reach" and steps[0]["ok"]


def process_note() -> str:
    """Said by start/stop when workspaces use an Airbyte server: it is not ours."""
    try:
        urls = sorted(
            set(
                AirbyteServer.objects.filter(workspace__engine=NAME).values_list(
                    "url", flat=True
                )
            )
        )
    except Exception:  # the database may be down; the note is only a reminder
        return ""
    if not urls:
        return ""
    return (
        f"The Airbyte server ({', '.join(urls)}) is not started or stopped by the "
        "console: abctl runs it."
    )
