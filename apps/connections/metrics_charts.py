"""What the Metrics page draws: SVG geometry and the numbers as people read them.

Like ``presenters.job_chart``: the bars are computed here and the template only
places them. Every chart also says its numbers in words (its SVG title and
description) and in a table, for screen readers and for copying.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from apps.connections.metrics_selectors import Bucket, Spread, SyncMetrics
from apps.connections.models import SyncJob

# Horizontal bar charts (durations, failures): a name column, the bars, and room
# after the longest bar for its numbers.
VIEW_WIDTH = 720
LABEL_WIDTH = 200
BAR_SPACE = 360
ROW_HEIGHT = 26
# The duration chart shows the slowest connections; the table lists them all.
MOST_CONNECTIONS_CHARTED = 15


def seconds_label(seconds: float | None) -> str:
    """A time for reading: ``0.4 s``, ``42 s``, ``3 min 5 s``, ``2 h 10 min``."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, rest = divmod(whole, 3600)
    minutes = rest // 60
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def percent_label(rate: float | None) -> str:
    if rate is None:
        return "—"
    text = f"{100 * rate:.1f}"
    return f"{text.removesuffix('.0')}%"


def rate_label(per_second: float | None) -> str:
    if per_second is None:
        return "—"
    if per_second < 100:
        return f"{per_second:,.1f}".removesuffix(".0")
    return f"{per_second:,.0f}"


def spread_label(spread: Spread) -> dict[str, str]:
    return {"p50": seconds_label(spread.p50), "p95": seconds_label(spread.p95)}


def metrics_context(metrics: SyncMetrics) -> dict[str, Any]:
    """The template's context for the charts part of the page."""
    outcomes = metrics.outcomes
    return {
        "metrics": metrics,
        "summary": {
            "syncs": outcomes.total,
            "succeeded": outcomes.succeeded,
            "failed": outcomes.failed,
            "cancelled": outcomes.cancelled,
            "success_rate": percent_label(outcomes.success_rate),
            "records": outcomes.records,
            "records_per_second": rate_label(outcomes.records_per_second),
            "duration": spread_label(metrics.duration),
            "queue_wait": spread_label(metrics.queue_wait),
        },
        "rows": [
            {
                "connection": c,
                "success_rate": percent_label(c.outcomes.success_rate),
                "duration": spread_label(c.duration),
                "queue_wait": spread_label(c.queue_wait),
                "records_per_second": rate_label(c.outcomes.records_per_second),
            }
            for c in metrics.connections
        ],
        "throughput": throughput_chart(
            metrics.buckets, hours=metrics.period.bucket_hours
        ),
        "durations": duration_chart(metrics),
        "failures": failure_chart(metrics),
    }


def bar_label(start: datetime) -> str:
    """A bar's start in the current zone, with the zone: ``2026-10-25 03:00 CET``.

    In the hour a DST fall-back repeats, the UTC offset tells the two apart
    (``02:00 CEST (UTC+02:00)``, ``02:00 CET (UTC+01:00)``): not every zone's
    abbreviation changes, and Django's ``date`` filter leaves the zone out of
    such an ambiguous time altogether.
    """
    local = timezone.localtime(start)
    text = f"{local:%Y-%m-%d %H:%M} {local.tzname()}"
    offset = local.utcoffset()
    if offset is not None and local.replace(fold=1 - local.fold).utcoffset() != offset:
        minutes = round(offset.total_seconds() / 60)
        hours, rest = divmod(abs(minutes), 60)
        text += f" (UTC{'-' if minutes < 0 else '+'}{hours:02d}:{rest:02d})"
    return text


def throughput_chart(buckets: list[Bucket], *, hours: int) -> dict[str, Any]:
    """Records committed per bar (top) and syncs ended by outcome (bottom)."""
    most_records = max((b.outcomes.records for b in buckets), default=0)
    most_syncs = max((b.outcomes.total for b in buckets), default=0)
    # At least 1 so nothing divides by zero; the caption says the real maxima.
    records_scale = most_records or 1
    syncs_scale = most_syncs or 1
    step = 20
    bars = []
    for index, bucket in enumerate(buckets):
        o = bucket.outcomes
        records_h = round(80 * o.records / records_scale)
        # Stacked from the axis down: succeeded, failed, cancelled.
        y = 110
        stack = []
        for name, count in (
            ("succeeded", o.succeeded),
            ("failed", o.failed),
            ("cancelled", o.cancelled),
        ):
            height = round(80 * count / syncs_scale)
            if height:
                stack.append({"status": name, "y": y, "h": height})
                y += height
        bars.append(
            {
                "x": index * step + 2,
                "bucket": bucket,
                "records_y": 90 - records_h,
                "records_h": records_h,
                "stack": stack,
                "records_per_second": rate_label(bucket.records_per_second),
                "label": bar_label(bucket.start),
                "covers": seconds_label(bucket.seconds),
            }
        )
    return {
        "bars": bars,
        "width": max(len(buckets), 1) * step,
        "most_records": most_records,
        "most_syncs": most_syncs,
        "bar_hours": hours,
    }


def duration_chart(metrics: SyncMetrics) -> dict[str, Any] | None:
    """Per connection, the median sync (bar) and the 95th percentile (whisker)."""
    timed = [c for c in metrics.connections if c.duration.p95 is not None]
    if not timed:
        return None
    timed.sort(key=lambda c: (-(c.duration.p95 or 0), c.name.lower()))
    timed = timed[:MOST_CONNECTIONS_CHARTED]
    longest = max(c.duration.p95 or 0 for c in timed) or 1
    rows = []
    for index, c in enumerate(timed):
        top = index * ROW_HEIGHT
        p50_w = max(1, round(BAR_SPACE * (c.duration.p50 or 0) / longest))
        p95_x = LABEL_WIDTH + max(1, round(BAR_SPACE * (c.duration.p95 or 0) / longest))
        rows.append(
            {
                "connection": c,
                "name": _short(c.name),
                "text_y": top + 17,
                "bar_y": top + 6,
                "mid_y": top + 13,
                "p50_w": p50_w,
                "p50_end": LABEL_WIDTH + p50_w,
                "p95_x": p95_x,
                "label_x": p95_x + 6,
                "p50": seconds_label(c.duration.p50),
                "p95": seconds_label(c.duration.p95),
            }
        )
    return {
        "rows": rows,
        "height": len(rows) * ROW_HEIGHT + 4,
        "x0": LABEL_WIDTH,
        "view_width": VIEW_WIDTH,
        "longest": seconds_label(longest),
        "more": len([c for c in metrics.connections if c.duration.p95 is not None])
        - len(rows),
    }


def failure_chart(metrics: SyncMetrics) -> dict[str, Any] | None:
    """Failed syncs by where the failure came from, most first."""
    if not metrics.failures_by_origin:
        return None
    labels = dict(SyncJob.FailureOrigin.choices)
    most = max(n for _, n in metrics.failures_by_origin) or 1
    rows = []
    for index, (origin, count) in enumerate(metrics.failures_by_origin):
        width = max(1, round(BAR_SPACE * count / most))
        top = index * ROW_HEIGHT
        rows.append(
            {
                "origin": origin or "unknown",
                "label": labels.get(origin, "Unknown"),
                "count": count,
                "text_y": top + 17,
                "bar_y": top + 6,
                "width": width,
                "count_x": LABEL_WIDTH + width + 6,
            }
        )
    return {
        "rows": rows,
        "height": len(rows) * ROW_HEIGHT + 4,
        "x0": LABEL_WIDTH,
        "view_width": VIEW_WIDTH,
        "total": sum(n for _, n in metrics.failures_by_origin),
    }


def _short(name: str, most: int = 30) -> str:
    return name if len(name) <= most else name[: most - 1] + "…"
