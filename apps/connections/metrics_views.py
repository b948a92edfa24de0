"""The workspace's Metrics page: how its syncs went over a period."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from apps.connections import metrics_charts, metrics_selectors
from apps.core.htmx import render_page
from apps.workspaces.access import require_role


@login_required
@require_GET
def metrics_page(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Throughput, success rate, durations, queue wait and failures by origin over
    the chosen period (``?period=24h|7d|30d``); htmx swaps only the charts."""
    membership = require_role(request, workspace_id)
    asked = request.GET.get("period", "")
    period = metrics_selectors.PERIODS.get(asked)
    problem = ""
    if period is None:
        period = metrics_selectors.PERIODS[metrics_selectors.DEFAULT_PERIOD]
        if asked:
            choices = ", ".join(metrics_selectors.PERIODS)
            problem = (
                f"Unknown period “{asked[:20]}”: choose one of {choices}. "
                f"Showing the last {period.label}."
            )
    metrics = metrics_selectors.sync_metrics(
        workspace=membership.workspace, period=period
    )
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "periods": metrics_selectors.PERIODS.values(),
        "period": period,
        "problem": problem,
        "time_zone": timezone.get_current_timezone_name(),
        **metrics_charts.metrics_context(metrics),
    }
    return render_page(
        request, "connections/metrics/metrics.html", context, partial="charts"
    )
