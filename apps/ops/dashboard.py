"""A Grafana dashboard for the pipeline metrics (`airbyte metrics dashboard`).

Every expression names only metrics ``apps.core.metrics`` defines (a test reads
them all), so the dashboard cannot drift from what /metrics exports. The data
source is a variable: Grafana asks for the Prometheus to use on import.
"""

from __future__ import annotations

from typing import Any

from apps.core.metrics import PREFIX

UID = "airbyte-console-pipelines"
ENGINE = '{engine=~"$engine"}'


def _metric(name: str) -> str:
    return f"{PREFIX}_{name}"


def _target(expr: str, legend: str) -> dict[str, Any]:
    return {
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": expr,
        "legendFormat": legend,
    }


def _panel(
    title: str,
    targets: list[dict[str, Any]],
    *,
    kind: str = "timeseries",
    unit: str = "short",
    grid: tuple[int, int, int, int],
    description: str = "",
) -> dict[str, Any]:
    x, y, w, h = grid
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [
            {**target, "refId": chr(ord("A") + index)}
            for index, target in enumerate(targets)
        ],
    }


def _quantiles(metric: str, selector: str = "") -> list[dict[str, Any]]:
    bucket = f"{_metric(metric)}_bucket{selector}"
    return [
        _target(
            f"histogram_quantile({q}, sum by (le) (rate({bucket}[$__rate_interval])))",
            f"p{int(q * 100)}",
        )
        for q in (0.5, 0.95)
    ]


def dashboard() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (import it, or provision the file)."""
    finished = _metric("syncs_finished_total")
    panels = [
        _panel(
            "Syncs finished by status",
            [
                _target(
                    f"sum by (status) (increase({finished}{ENGINE}[$__interval]))",
                    "{{status}}",
                )
            ],
            kind="timeseries",
            grid=(0, 0, 12, 8),
        ),
        _panel(
            "Success rate",
            [
                _target(
                    f'sum(increase({finished}{{engine=~"$engine",status="succeeded"}}'
                    f"[$__range])) / sum(increase({finished}{ENGINE}[$__range]))",
                    "success rate",
                )
            ],
            kind="stat",
            unit="percentunit",
            grid=(12, 0, 6, 8),
            description="Succeeded syncs over all syncs that ended in the range.",
        ),
        _panel(
            "Syncs running",
            [_target(f"sum({_metric('syncs_running')})", "running")],
            kind="stat",
            grid=(18, 0, 6, 8),
            description="Attempts running in the console's worker processes now.",
        ),
        _panel(
            "Records committed per second",
            [
                _target(
                    f"sum(rate({_metric('sync_records_committed_total')}{ENGINE}"
                    "[$__rate_interval]))",
                    "records/s",
                )
            ],
            grid=(0, 8, 12, 8),
        ),
        _panel(
            "Bytes committed per second",
            [
                _target(
                    f"sum(rate({_metric('sync_bytes_committed_total')}{ENGINE}"
                    "[$__rate_interval]))",
                    "bytes/s",
                )
            ],
            unit="Bps",
            grid=(12, 8, 12, 8),
        ),
        _panel(
            "Sync duration",
            _quantiles("sync_duration_seconds", ENGINE),
            unit="s",
            grid=(0, 16, 8, 8),
            description="From a job's first start to its end.",
        ),
        _panel(
            "Queue wait",
            _quantiles("sync_queue_wait_seconds", ENGINE),
            unit="s",
            grid=(8, 16, 8, 8),
            description="From a sync's request to a worker's claim.",
        ),
        _panel(
            "Schedule lag",
            _quantiles("schedule_lag_seconds"),
            unit="s",
            grid=(16, 16, 8, 8),
            description="From a schedule's due time to the enqueue of its sync.",
        ),
        _panel(
            "Failures by origin",
            [
                _target(
                    f"sum by (failure_origin) (increase({finished}"
                    '{engine=~"$engine",status="failed"}[$__interval]))',
                    "{{failure_origin}}",
                )
            ],
            kind="barchart",
            grid=(0, 24, 12, 8),
        ),
        _panel(
            "Retries",
            [
                _target(
                    f"sum(increase({_metric('sync_retries_total')}{ENGINE}"
                    "[$__interval]))",
                    "retries",
                )
            ],
            grid=(12, 24, 12, 8),
        ),
        _panel(
            "Webhook deliveries by outcome",
            [
                _target(
                    "sum by (outcome) (increase("
                    f"{_metric('webhook_deliveries_total')}[$__interval]))",
                    "{{outcome}}",
                )
            ],
            grid=(0, 32, 12, 8),
        ),
        _panel(
            "Webhook latency",
            _quantiles("webhook_delivery_seconds"),
            unit="s",
            grid=(12, 32, 12, 8),
        ),
        _panel(
            "Transform runs by status",
            [
                _target(
                    "sum by (status) (increase("
                    f"{_metric('transform_runs_total')}[$__interval]))",
                    "{{status}}",
                )
            ],
            grid=(0, 40, 12, 8),
        ),
        _panel(
            "Connector installs by outcome",
            [
                _target(
                    "sum by (outcome) (increase("
                    f"{_metric('connector_installs_total')}[$__interval]))",
                    "{{outcome}}",
                )
            ],
            grid=(12, 40, 12, 8),
        ),
        _panel(
            "Syncs started by trigger",
            [
                _target(
                    "sum by (trigger) (increase("
                    f"{_metric('syncs_started_total')}{ENGINE}[$__interval]))",
                    "{{trigger}}",
                )
            ],
            grid=(0, 48, 24, 8),
        ),
    ]
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    return {
        "uid": UID,
        "title": "Airbyte Console: pipelines",
        "description": "Syncs, schedules, webhooks, transforms and installs "
        "(airbyte metrics dashboard).",
        "tags": ["airbyte-console"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                },
                {
                    "name": "engine",
                    "label": "Engine",
                    "type": "query",
                    "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    "query": f"label_values({finished}, engine)",
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                    "refresh": 2,
                },
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }
