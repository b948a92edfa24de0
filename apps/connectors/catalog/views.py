"""The connector catalog page: search, filter, install, uninstall, change version.

Everyone in the workspace sees the catalog, the installed versions and how many
of their own sources use each connector. Installing, upgrading and uninstalling
are for console staff only: a connector's virtualenv and its default version serve
every workspace, so a workspace role is not enough (``catalog.access``). Workspace
admins and editors move their own sources between installed versions on each
source's edit page.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from apps.connectors.builder.selectors import visible_definitions
from apps.connectors.catalog import icons, selectors, services
from apps.connectors.catalog.access import can_change_catalog, require_catalog_staff
from apps.connectors.catalog.forms import CatalogFilterForm, InstallForm
from apps.connectors.models import ConnectorDefinition
from apps.core.htmx import render_page
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
    page, definitions = selectors.connector_definition_page(
        search=filters.get("q", ""),
        stage=filters.get("stage", ""),
        kind=filters.get("kind", ""),
        runs=filters.get("runs", ""),
        support=filters.get("support", ""),
        user=request.user,
        workspace=membership.workspace,
        page=request.GET.get("page") or 1,
    )
    query = request.GET.copy()
    query.pop("page", None)
    last_fetch = selectors.registry_last_fetch()
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "can_change_catalog": can_change_catalog(request.user),
        "form": form,
        "definitions": definitions,
        "page_obj": page,
        "query": query.urlencode(),
        "filtered": any(filters.values()),
        "docker_reason": next(
            (d.runtime_reason for d in definitions if d.runtime_reason), ""
        ),
        "last_fetch": last_fetch,
        "last_good_fetch": (
            last_fetch
            if last_fetch is None or last_fetch.status == last_fetch.Status.SUCCEEDED
            else selectors.registry_last_good_fetch()
        ),
    }
    return render_page(request, TEMPLATE, context, partial="rows")


@login_required
@require_GET
def catalog_icon(
    request: HttpRequest, workspace_id: UUID, definition_id: UUID
) -> HttpResponse:
    """A connector's cached icon, or its initials; never fetched from here.

    An SVG may carry script: it is served under a sandboxing CSP and ``nosniff``,
    so opening it on its own runs nothing (as an ``<img>`` it never would).
    """
    membership = require_role(request, workspace_id)
    definition = _definition(definition_id, membership)
    found = icons.cached_icon(definition.definition_id, definition.icon_url)
    if found is None:
        response = HttpResponse(
            icons.initials_svg(definition.name), content_type="image/svg+xml"
        )
        # Short: the refresh may cache the real icon soon.
        response["Cache-Control"] = "private, max-age=300"
    else:
        path, content_type = found
        response = HttpResponse(path.read_bytes(), content_type=content_type)
        response["Cache-Control"] = "private, max-age=86400"
    response["Content-Security-Policy"] = icons.SVG_POLICY
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _definition(definition_id: UUID, membership: Membership) -> ConnectorDefinition:
    """A definition the workspace may see; 404 otherwise.

    A connector another workspace published from its connector builder is that
    workspace's own: its name, icon and versions are not shown to anyone who
    learns its UUID (``visible_definitions``).
    """
    definition = visible_definitions(
        ConnectorDefinition.objects.filter(public_id=definition_id),
        workspace=membership.workspace,
    ).first()
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
    return _render_row(request, membership, definition, status)


def _render_row(
    request: HttpRequest,
    membership: Membership,
    definition: ConnectorDefinition,
    status: int = 200,
) -> HttpResponse:
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "can_change_catalog": can_change_catalog(request.user),
        "d": selectors.connector_definition_with_state(
            definition=definition, user=request.user, workspace=membership.workspace
        ),
    }
    return render_page(request, TEMPLATE, context, partial="row", status=status)


@login_required
@require_GET
def catalog_row(
    request: HttpRequest, workspace_id: UUID, definition_id: UUID
) -> HttpResponse:
    """One connector's row; polled every 2 s while an install runs."""
    membership = require_role(request, workspace_id)
    return _render_row(request, membership, _definition(definition_id, membership))


def _staff_only(request: HttpRequest, workspace_id: UUID) -> Membership:
    """A member of the workspace (outsiders 404) who is console staff (others 403)."""
    membership = require_role(request, workspace_id)
    require_catalog_staff(request.user)
    return membership


@login_required
@require_POST
def catalog_install(
    request: HttpRequest, workspace_id: UUID, definition_id: UUID
) -> HttpResponse:
    """Install a connector, at the pinned version or the one typed (staff)."""
    membership = _staff_only(request, workspace_id)
    definition = _definition(definition_id, membership)
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
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            status = 400
        else:
            staying = services.sources_staying_message(
                definition=definition, version=install.version, actor=request.user
            )
            messages.success(
                request,
                f"Installing {definition.name} {install.version}; new sources will "
                f"use it. {staying}".strip(),
            )
    return _row(request, membership, definition, status)


@login_required
@require_POST
def catalog_uninstall(
    request: HttpRequest, workspace_id: UUID, definition_id: UUID
) -> HttpResponse:
    """Remove a connector's virtualenvs (staff); refused while any source uses it."""
    membership = _staff_only(request, workspace_id)
    definition = _definition(definition_id, membership)
    status = 200
    try:
        services.connector_uninstall_request(actor=request.user, definition=definition)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        status = 400
    else:
        messages.success(request, f"Uninstalling {definition.name}.")
    return _row(request, membership, definition, status)


@login_required
@require_POST
def catalog_refresh(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Fetch the registry now, on a worker (staff); the page shows the outcome."""
    membership = _staff_only(request, workspace_id)
    try:
        location = services.catalog_fetch_request(actor=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            f"Fetching the registry from {location}; reload the catalog in a "
            "minute to see the result.",
        )
    return redirect("connectors:catalog", workspace_id=membership.workspace.public_id)
