"""Project-level views: the start page, health check and metrics.

The start page is here rather than in core because it reads workspace memberships,
and core may import no domain app; ops is the top layer.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
)
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

import airbyte_console
from apps.api import problems
from apps.api.api import render_problem
from apps.core import metrics as pipeline_metrics
from apps.ops.health import run_probes
from apps.ops.scrape import scrape_allowed
from apps.workspaces.models import Membership


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Back to the last workspace visited, else the first one, else the list."""
    memberships = Membership.objects.filter(user_id=request.user.pk)
    last = request.session.get("workspace_id")
    if last and memberships.filter(workspace__public_id=last).exists():
        return redirect("workspaces:detail", workspace_id=last)
    first = (
        memberships.order_by("workspace__name")
        .values_list("workspace__public_id", flat=True)
        .first()
    )
    if first:
        return redirect("workspaces:detail", workspace_id=first)
    return redirect("workspaces:home")


def bad_request(
    request: HttpRequest, exception: Exception | None = None
) -> HttpResponse:
    """The 400 page, rendered without the request's context processors.

    Django answers a Host header outside ``ALLOWED_HOSTS`` (and other suspicious
    requests) with this view, often before the session and authentication
    middleware ran; the layout's context processors read ``request.user`` and the
    page became a 500. The page needs nothing from the request. Under ``/api/`` the
    answer is the API's problem body (JSON), as for every other API error.
    """
    if request.path.startswith("/api/"):
        return render_problem(
            request, problems.bad_request("The request could not be understood.")
        )
    return HttpResponseBadRequest(render_to_string("400.html"))


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """JSON health of the database and broker: 200 when all are up, else 503."""
    results = run_probes()
    healthy = all(result.ok for result in results)
    body = {
        "status": "ok" if healthy else "unavailable",
        "version": airbyte_console.__version__,
        "checks": {
            r.name: {"ok": r.ok, "detail": r.detail, "latency_ms": r.latency_ms}
            for r in results
        },
    }
    return JsonResponse(body, status=200 if healthy else 503)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics: staff sessions, loopback clients, or a scrape token.

    The body is the sum of every process's values (the multiprocess folder):
    Django's own metrics and the pipeline's (``apps.core.metrics``).
    """
    if not _may_read_metrics(request):
        return HttpResponse(
            "Forbidden: metrics need a staff login or a token.\n",
            status=403,
            content_type="text/plain",
        )
    return HttpResponse(pipeline_metrics.exposition(), content_type=CONTENT_TYPE_LATEST)


def _may_read_metrics(request: HttpRequest) -> bool:
    if request.user.is_authenticated and request.user.is_staff:
        return True
    return scrape_allowed(
        authorization=request.headers.get("Authorization", ""),
        remote_addr=request.META.get("REMOTE_ADDR", ""),
    )
