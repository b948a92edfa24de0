"""The connection's Quality tab: the page, and the report it loads with htmx.

The page answers at once with a "Checking…" placeholder; the report reads the
destination (each statement bounded, see ``quality.py``) when the placeholder asks
for it, or when the report's URL is opened without JavaScript.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from apps.connections import quality, selectors
from apps.core.htmx import render_page
from apps.core.roles import Role
from apps.workspaces.access import require_role

TEMPLATE = "connections/quality/quality.html"
# The report is computed in the request: each statement gets less time than the
# CLI's, so the whole check (no new stream after four statements' time) ends well
# inside gunicorn's 60 s worker timeout.
WEB_STATEMENT_SECONDS = 5.0


def _context(request: HttpRequest, workspace_id: UUID, connection_id: UUID) -> dict:
    membership = require_role(request, workspace_id, Role.VIEWER)
    connection = selectors.connection_get(
        workspace=membership.workspace, public_id=connection_id
    )
    return {
        "workspace": membership.workspace,
        "membership": membership,
        "connection": connection,
        "sample_rows": quality.SAMPLE_ROWS,
    }


@login_required
@require_GET
def quality_page(
    request: HttpRequest, workspace_id: UUID, connection_id: UUID
) -> HttpResponse:
    """The Quality tab, with a placeholder that loads the report."""
    context = _context(request, workspace_id, connection_id)
    return render_page(request, TEMPLATE, {**context, "report": None})


@login_required
@require_GET
def quality_report(
    request: HttpRequest, workspace_id: UUID, connection_id: UUID
) -> HttpResponse:
    """Check the connection's data now: the report (the whole page without htmx)."""
    context = _context(request, workspace_id, connection_id)
    report = quality.connection_quality(
        connection=context["connection"], statement_seconds=WEB_STATEMENT_SECONDS
    )
    return render_page(
        request, TEMPLATE, {**context, "report": report}, partial="report"
    )
