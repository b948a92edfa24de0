"""The workspace audit page (admins), with filters and HTMX pagination.

It lives with the workspace pages because it needs their access rules; the audit
app below stays free of workspace imports.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from apps.audit.forms import AuditFilterForm
from apps.audit.selectors import audit_action_choices, audit_event_list
from apps.core.htmx import render_page
from apps.core.roles import Role
from apps.workspaces.access import require_role

PAGE_SIZE = 50


@login_required
@require_GET
def audit_list(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """The workspace's audit trail, newest first."""
    membership = require_role(request, workspace_id, Role.ADMIN)
    workspace = membership.workspace
    form = AuditFilterForm(
        request.GET or None, actions=audit_action_choices(workspace=workspace)
    )
    filters = form.cleaned_data if form.is_valid() else {}
    events = audit_event_list(
        workspace=workspace,
        action=filters.get("action", ""),
        actor=filters.get("actor", ""),
        search=filters.get("q", ""),
        since=filters.get("since"),
        until=filters.get("until"),
    )
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "workspace": workspace,
        "membership": membership,
        "form": form,
        "page": page,
        "query": query.urlencode(),
    }
    return render_page(request, "audit/audit_list.html", context, partial="results")
