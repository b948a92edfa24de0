"""The connector catalog page: search, filter, install, uninstall, change version.

Everyone in the workspace sees the catalog; editors and admins install, uninstall
and change versions (a connector's virtualenv serves the whole console, so this is
configuration, the editor's job).
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from apps.connectors.catalog import selectors, services
from apps.connectors.catalog.forms import CatalogFilterForm, InstallForm
from apps.connectors.models import ConnectorDefinition
from apps.core.htmx import render_page
from apps.core.roles import Role
from apps.workspaces.access import require_role
from apps.workspaces.models import Membership

TEMPLATE = "connectors/catalog.html"


@login_required
@require_GET
def catalog(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """The catalog with its install states; htmx filter requests get the rows only."""
    membership = require_role(request, workspace_id)
    form = CatalogFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    definitions = selectors.connector_definition_list(
        search=filters.get("q", ""),
        stage=filters.get("stage", ""),
        kind=filters.get("kind", ""),
    )
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "form": form,
        "definitions": definitions,
        "filtered": any(filters.values()),
    }
    return render_page(request, TEMPLATE, context, partial="rows")


def _definition(definition_id: UUID) -> ConnectorDefinition:
    definition = selectors.connector_definition_get(public_id=definition_id)
    if definition is None:
        raise Http404("No such connector.")
    return definition


def _row(
    request: HttpRequest,
    membership: Membership,
    definition: ConnectorDefinition,
    status: int = 200,
) -> HttpResponse:
    if not request.htmx:
        return redirect(
            "connectors:catalog", workspace_id=membership.workspace.public_id
        )
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "d": selectors.connector_definition_with_state(definition=definition),
    }
    return render_page(request, TEMPLATE, context, partial="row", status=status)


@login_required
@require_GET
def catalog_row(
    request: HttpRequest, workspace_id: UUID, definition_id: UUID
) -> HttpResponse:
    """One connector's row; polled every 2 s while an install runs."""
    membership = require_role(request, workspace_id)
    definition = _definition(definition_id)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "d": selectors.connector_definition_with_state(definition=definition),
    }
    return render_page(request, TEMPLATE, context, partial="row")


@login_required
@require_POST
def catalog_install(
    request: HttpRequest, workspace_id: UUID, definition_id: UUID
) -> HttpResponse:
    """Install a connector, at the pinned version or the one typed (editors)."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    definition = _definition(definition_id)
    form = InstallForm(request.POST)
    status = 200
    if not form.is_valid():
        messages.error(
            request, " ".join(e for errs in form.errors.values() for e in errs)
        )
        status = 400
    else:
        try:
            install = services.connector_install_request(
                actor=request.user,
                definition=definition,
                version=form.cleaned_data["version"],
                workspace=membership.workspace,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            status = 400
        else:
            messages.success(
                request, f"Installing {definition.name} {install.version}."
            )
    return _row(request, membership, definition, status)


@login_required
@require_POST
def catalog_uninstall(
    request: HttpRequest, workspace_id: UUID, definition_id: UUID
) -> HttpResponse:
    """Remove a connector's virtualenvs; refused while sources use it (editors)."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    definition = _definition(definition_id)
    status = 200
    try:
        services.connector_uninstall_request(
            actor=request.user, definition=definition, workspace=membership.workspace
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        status = 400
    else:
        messages.success(request, f"Uninstalling {definition.name}.")
    return _row(request, membership, definition, status)
