"""The workspace's notification list: every member sees it, unread ones marked."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET, require_POST

from apps.core.htmx import redirect, render_page
from apps.webhooks import selectors
from apps.webhooks.services import notifications
from apps.workspaces.access import require_role

PER_PAGE = 30


@login_required
@require_GET
def notification_list(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Failures and changes in the workspace, newest first."""
    membership = require_role(request, workspace_id)
    workspace = membership.workspace
    page = Paginator(
        selectors.notification_list(workspace=workspace, user=request.user), PER_PAGE
    ).get_page(request.GET.get("page"))
    context = {
        "workspace": workspace,
        "membership": membership,
        "page": page,
        "seen_at": selectors.notification_seen_at(
            user=request.user, workspace=workspace
        ),
    }
    return render_page(
        request, "webhooks/notification_list.html", context, partial="items"
    )


@login_required
@require_POST
def notification_mark_read(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Mark everything so far as read for the requesting member."""
    membership = require_role(request, workspace_id)
    notifications.notification_mark_read(
        actor=request.user, workspace=membership.workspace
    )
    return redirect(request, "notifications:list", workspace_id)
