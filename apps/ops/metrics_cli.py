"""`airbyte metrics enable|disable|export|dashboard`: Prometheus for the console.

``enable`` creates the scrape token (stored hashed, shown once) and prints the
scrape config that uses it; ``disable`` revokes it. ``export`` prints the current
values, summed over every process, from the metrics folder; ``dashboard`` writes
a Grafana dashboard built on the same metric names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import CommandError
from django.urls import reverse

from apps.core import metrics
from apps.core.clikit import CliResult, arg, cli_user, group
from apps.ops.dashboard import dashboard
from apps.ops.scrape import scrape_token_create, scrape_token_revoke
from apps.workspaces.cli import AS_USER

metrics_group = group(
    "metrics",
    "Prometheus: a scrape token and its config, the current values, a Grafana "
    "dashboard.",
)

JOB_NAME = "airbyte-console"


def _staff(options: dict[str, Any]) -> Any:
    user = cli_user(options.get("as_user"))
    if not (user.is_staff or user.is_superuser):
        raise CommandError(
            f"{user.get_username()} is not staff: the metrics cover every workspace, "
            "so only staff may open or close them to a scraper."
        )
    return user


def scrape_config(token: str) -> dict[str, Any]:
    """Prometheus's ``scrape_configs`` entry for this console (CONSOLE_BASE_URL)."""
    base = urlsplit(settings.CONSOLE_BASE_URL)
    return {
        "job_name": JOB_NAME,
        "scheme": base.scheme or "http",
        "metrics_path": base.path.rstrip("/") + reverse("metrics"),
        "authorization": {"type": "Bearer", "credentials": token},
        "static_configs": [{"targets": [base.netloc or "127.0.0.1:8000"]}],
    }


def scrape_config_yaml(config: dict[str, Any]) -> str:
    """The entry as prometheus.yml has it (every value is a plain word: no quoting)."""
    return "\n".join(
        [
            "scrape_configs:",
            f"  - job_name: {config['job_name']}",
            f"    scheme: {config['scheme']}",
            f"    metrics_path: {config['metrics_path']}",
            "    authorization:",
            f"      type: {config['authorization']['type']}",
            f"      credentials: {config['authorization']['credentials']}",
            "    static_configs:",
            "      - targets:",
            *(
                f"          - {target}"
                for target in config["static_configs"][0]["targets"]
            ),
        ]
    )


@metrics_group.action(
    "enable",
    "Create a scrape token (replacing any) and print a Prometheus scrape config.",
    AS_USER,
)
def metrics_enable(options: dict[str, Any]) -> CliResult:
    user = _staff(options)
    token, raw, replaced = scrape_token_create(actor=user)
    config = scrape_config(raw)
    yaml = scrape_config_yaml(config)
    lines = [
        "Scrape token created"
        + (" (the previous one is revoked)." if replaced else ".")
        + " It is shown once: put this in prometheus.yml.",
        "",
        yaml,
        "",
        f"The target comes from CONSOLE_BASE_URL ({settings.CONSOLE_BASE_URL}).",
        "A worker host without the web process serves its own metrics on "
        "WORKER_METRICS_PORT; add it as another target (same token).",
        "`airbyte metrics disable` revokes the token.",
    ]
    return CliResult(
        data={
            "token": raw,
            "prefix": token.prefix,
            "replaced": replaced,
            "scrape_config": config,
            "yaml": yaml,
        },
        text="\n".join(lines),
    )


@metrics_group.action("disable", "Revoke the scrape token.", AS_USER)
def metrics_disable(options: dict[str, Any]) -> CliResult:
    user = _staff(options)
    revoked = scrape_token_revoke(actor=user)
    lines = [
        "Scrape token revoked: scrapes with it are refused from now on."
        if revoked
        else "No scrape token was active; nothing changed."
    ]
    still = []
    if settings.METRICS_TOKEN:
        still.append("the METRICS_TOKEN setting")
    if settings.METRICS_ALLOW_LOOPBACK:
        still.append("clients on this host (METRICS_ALLOW_LOOPBACK)")
    if still:
        lines.append("Still allowed: " + " and ".join(still) + ", and staff logins.")
    return CliResult(
        data={"revoked": revoked, "still_allowed": still}, text="\n".join(lines)
    )


@metrics_group.action(
    "export",
    "Print the current values, summed over every process of this console.",
    arg(
        "--format",
        dest="output_format",
        choices=["prometheus", "json"],
        default="prometheus",
        help="Prometheus's text format (default) or JSON.",
    ),
    arg(
        "--all",
        dest="include_django",
        action="store_true",
        help="Include Django's own metrics (requests, database), not only pipelines.",
    ),
)
def metrics_export(options: dict[str, Any]) -> CliResult:
    pipeline_only = not options["include_django"]
    families = metrics.snapshot(pipeline_only=pipeline_only)
    if options["output_format"] == "json":
        text = json.dumps(families, indent=2)
    else:
        text = metrics.exposition(pipeline_only=pipeline_only).decode().rstrip("\n")
    return CliResult(data=families, text=text or "(no values yet)")


@metrics_group.action(
    "dashboard",
    "Write a Grafana dashboard (JSON) for these metrics.",
    arg("--output", metavar="FILE", help="Write it here (default: print it)."),
)
def metrics_dashboard(options: dict[str, Any]) -> CliResult:
    model = dashboard()
    text = json.dumps(model, indent=2)
    output = options.get("output")
    if not output:
        return CliResult(data=model, text=text)
    path = Path(output).expanduser()
    try:
        path.write_text(text + "\n")
    except OSError as exc:
        raise CommandError(f"Cannot write {path}: {exc.strerror or exc}.") from None
    return CliResult(
        data={"output": str(path), "panels": len(model["panels"])},
        text=f"Wrote the Grafana dashboard ({len(model['panels'])} panels) to {path}. "
        "Import it in Grafana (Dashboards > New > Import) and pick the Prometheus "
        "data source.",
    )
