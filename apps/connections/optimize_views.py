"""The connection page's Recommendations tab: what to change, and what recent
attempts cost (the same reads as `airbyte pipeline optimize|resources`)."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from apps.connections import optimize, selectors
from apps.core.htmx import render_page
from apps.core.roles import Role
from apps.workspaces.access import require_role


@login_required
@require_GET
def recommendations(
    request: HttpRequest, workspace_id: UUID, connection_id: UUID
) -> HttpResponse:
    """Recommendations with their evidence, and the resources of recent attempts."""
    membership = require_role(request, workspace_id, Role.VIEWER)
    connection = selectors.connection_get(
        workspace=membership.workspace, public_id=connection_id
    )
    summary = optimize.connection_resources(
        connections=type(connection).objects.filter(pk=connection.pk)
    )[0]
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "connection": connection,
        "recommendations": optimize.connection_recommendations(connection=connection),
        "recent_jobs": optimize.RECENT_JOBS,
        "summary": summary,
        "attempts": optimize.attempt_resources(connection=connection),
    }
    return render_page(
        request,
        "connections/optimize/recommendations.html",
        context,
        partial="content",
    )
