"""Webhook pages: endpoints, their delivery log, test and resend.

Editors and admins use them; viewers and runners get 403, because a URL and a
receiver's responses may carry tokens. The signing secret appears exactly twice in
its life: on the page that answers its creation and the one that answers its
rotation, both marked ``no-store``.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.core.forms import apply_validation_error
from apps.core.htmx import redirect, render_page
from apps.core.roles import Role
from apps.webhooks import selectors
from apps.webhooks.forms import WebhookEndpointForm
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from apps.webhooks.services import dispatch, endpoints
from apps.workspaces.access import require_role
from apps.workspaces.models import Membership

FORM_TEMPLATE = "webhooks/webhook_form.html"
DELIVERIES_PER_PAGE = 25


def _endpoint(
    request: HttpRequest, workspace_id: UUID, endpoint_id: UUID
) -> tuple[Membership, WebhookEndpoint]:
    membership = require_role(request, workspace_id, Role.EDITOR)
    endpoint = selectors.webhook_endpoint_get(
        workspace=membership.workspace, endpoint_id=endpoint_id
    )
    return membership, endpoint


def _secret_page(
    request: HttpRequest, membership: Membership, endpoint: WebhookEndpoint, secret: str
) -> HttpResponse:
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "endpoint": endpoint,
        "secret": secret,
    }
    response = render_page(
        request, "webhooks/webhook_secret.html", context, partial="secret"
    )
    add_never_cache_headers(response)
    return response


@login_required
@require_GET
def webhook_list(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """The workspace's endpoints, with why any of them is disabled."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "endpoints": selectors.webhook_endpoint_list(workspace=membership.workspace),
    }
    return render_page(request, "webhooks/webhook_list.html", context, partial="rows")


@login_required
@require_http_methods(["GET", "POST"])
def webhook_create(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """A new endpoint; the answer shows its signing secret, once."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    form = WebhookEndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = endpoints.webhook_endpoint_create(
                actor=request.user, workspace=membership.workspace, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Endpoint “{endpoint.name}” created.")
            return _secret_page(request, membership, endpoint, secret)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "form": form,
    }
    return render_page(
        request,
        FORM_TEMPLATE,
        context,
        partial="form",
        status=400 if form.errors else 200,
    )


@login_required
@require_GET
def webhook_detail(
    request: HttpRequest, workspace_id: UUID, endpoint_id: UUID
) -> HttpResponse:
    """One endpoint and its delivery log: every attempt, newest first."""
    membership, endpoint = _endpoint(request, workspace_id, endpoint_id)
    page = Paginator(
        selectors.webhook_delivery_list(endpoint=endpoint), DELIVERIES_PER_PAGE
    ).get_page(request.GET.get("page"))
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "endpoint": endpoint,
        "page": page,
        "live": _has_unsettled(page),
    }
    return render_page(
        request, "webhooks/webhook_detail.html", context, partial="deliveries"
    )


@login_required
@require_http_methods(["GET", "POST"])
def webhook_edit(
    request: HttpRequest, workspace_id: UUID, endpoint_id: UUID
) -> HttpResponse:
    """Change an endpoint's name, URL, events, format or whether it is enabled."""
    membership, endpoint = _endpoint(request, workspace_id, endpoint_id)
    initial = {
        "name": endpoint.name,
        "url": endpoint.url,
        "events": endpoint.events,
        "format": endpoint.format,
        "enabled": endpoint.enabled,
    }
    form = WebhookEndpointForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = endpoints.webhook_endpoint_update(
                actor=request.user, endpoint=endpoint, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Endpoint “{endpoint.name}” saved.")
            return redirect(
                request, "webhooks:detail", workspace_id, endpoint.public_id
            )
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "form": form,
        "endpoint": endpoint,
    }
    return render_page(
        request,
        FORM_TEMPLATE,
        context,
        partial="form",
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def webhook_rotate(
    request: HttpRequest, workspace_id: UUID, endpoint_id: UUID
) -> HttpResponse:
    """A new signing secret, in force at once and shown once."""
    membership, endpoint = _endpoint(request, workspace_id, endpoint_id)
    secret = endpoints.webhook_endpoint_rotate_secret(
        actor=request.user, endpoint=endpoint
    )
    messages.success(request, f"New signing secret for “{endpoint.name}”.")
    return _secret_page(request, membership, endpoint, secret)


@login_required
@require_http_methods(["GET", "POST"])
def webhook_delete(
    request: HttpRequest, workspace_id: UUID, endpoint_id: UUID
) -> HttpResponse:
    """Confirm, then delete the endpoint and its delivery log."""
    membership, endpoint = _endpoint(request, workspace_id, endpoint_id)
    if request.method == "POST":
        endpoints.webhook_endpoint_delete(actor=request.user, endpoint=endpoint)
        messages.success(request, f"Endpoint “{endpoint.name}” deleted.")
        return redirect(request, "webhooks:list", workspace_id)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "endpoint": endpoint,
    }
    return render_page(request, "webhooks/webhook_confirm_delete.html", context)


def _has_unsettled(page: Page) -> bool:
    """A delivery on the page is being sent or is due within a minute: the log
    refreshes itself until it settles, so a test event shows its response without a
    reload. A retry hours away does not keep the page polling."""
    soon = timezone.now() + timedelta(minutes=1)
    return any(
        d.status == WebhookDelivery.Status.DELIVERING
        or (
            d.status == WebhookDelivery.Status.PENDING
            and (d.next_attempt_at is None or d.next_attempt_at <= soon)
        )
        for d in page.object_list
    )


def _back_to_log(
    request: HttpRequest, membership: Membership, endpoint: WebhookEndpoint
) -> HttpResponse:
    """The delivery log again: its fragment for htmx, else a redirect to the page."""
    if getattr(request, "htmx", False):
        return _log_fragment(request, membership, endpoint)
    return redirect(
        request, "webhooks:detail", membership.workspace.public_id, endpoint.public_id
    )


def _log_fragment(
    request: HttpRequest, membership: Membership, endpoint: WebhookEndpoint
) -> HttpResponse:
    page = Paginator(
        selectors.webhook_delivery_list(endpoint=endpoint), DELIVERIES_PER_PAGE
    ).get_page(1)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "endpoint": endpoint,
        "page": page,
        "live": _has_unsettled(page),
    }
    return render_page(
        request, "webhooks/webhook_detail.html", context, partial="deliveries"
    )


@login_required
@require_POST
def webhook_test(
    request: HttpRequest, workspace_id: UUID, endpoint_id: UUID
) -> HttpResponse:
    """Send a test event now; the log shows how it went."""
    membership, endpoint = _endpoint(request, workspace_id, endpoint_id)
    try:
        endpoints.webhook_test_send(actor=request.user, endpoint=endpoint)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Test event queued for “{endpoint.name}”.")
    return _back_to_log(request, membership, endpoint)


@login_required
@require_POST
def webhook_resend(
    request: HttpRequest, workspace_id: UUID, endpoint_id: UUID, delivery_id: UUID
) -> HttpResponse:
    """Send a delivery again with the same ``webhook-id``, so receivers can dedupe."""
    membership, endpoint = _endpoint(request, workspace_id, endpoint_id)
    delivery = selectors.webhook_delivery_get(
        endpoint=endpoint, delivery_id=delivery_id
    )
    try:
        dispatch.webhook_delivery_resend(actor=request.user, delivery=delivery)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, "Delivery queued again with the same webhook-id.")
    return _back_to_log(request, membership, endpoint)
