"""The "Re-create in Airbyte" button of a source, destination or connection page.

Shown by ``{% airbyte_note %}`` when the server deleted the object; one POST, one
service (``mirror.remote_recreate``), which audits it and pushes after the commit.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from apps.airbyte.mirror import KINDS, remote_recreate
from apps.core.htmx import redirect
from apps.core.roles import Role
from apps.engines.base import EngineError
from apps.workspaces.access import require_role

DETAIL_URLS = {
    "source": "connectors:source_detail",
    "destination": "connectors:destination_detail",
    "connection": "connections:detail",
}


@login_required
@require_POST
def recreate(
    request: HttpRequest, workspace_id: UUID, kind: str, public_id: UUID
) -> HttpResponse:
    """Forget the copy Airbyte deleted and create the object there again."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    model = KINDS.get(kind)
    if model is None:
        raise Http404("No such kind.")
    obj = (
        model.objects.filter(workspace=membership.workspace, public_id=public_id)
        .select_related("workspace")
        .first()
    )
    if obj is None:
        raise Http404(f"No such {kind}.")
    try:
        remote_recreate(actor=request.user, obj=obj)
    except EngineError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"“{obj.name}” is being created again on the Airbyte server."
        )
    return redirect(request, DETAIL_URLS[kind], workspace_id, public_id)
