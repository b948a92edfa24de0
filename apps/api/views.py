"""Pages under the user's account: their API applications and personal tokens.

Each person sees and revokes only their own; someone else's id is a 404. A new
secret appears exactly once, on the page that answers its creation, marked
``no-store``; lists show a client id or a token's first characters, never more.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods

from apps.api import selectors, services
from apps.api.forms import ApiCredentialForm
from apps.api.models import ApiCredential
from apps.core.forms import apply_validation_error
from apps.core.htmx import redirect, render_page

FORM_TEMPLATE = "api/tokens_form.html"
TITLES = {"application": "New API application", "token": "New personal access token"}


@login_required
@require_GET
def token_list(request: HttpRequest) -> HttpResponse:
    """The user's applications and personal access tokens, with their last use."""
    context = {
        "applications": selectors.application_list(owner=request.user),
        "tokens": selectors.token_list(owner=request.user),
    }
    return render_page(request, "api/tokens.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def application_create(request: HttpRequest) -> HttpResponse:
    """A new application; the answer shows its client secret, once."""
    return _create(request, "application", services.application_create)


@login_required
@require_http_methods(["GET", "POST"])
def token_create(request: HttpRequest) -> HttpResponse:
    """A new personal access token; the answer shows the token, once."""
    return _create(request, "token", services.token_create)


@login_required
@require_http_methods(["GET", "POST"])
def application_revoke(request: HttpRequest, application_id: UUID) -> HttpResponse:
    """Confirm, then revoke: the secret and every bearer it got stop at once."""
    application = selectors.application_get(
        owner=request.user, application_id=application_id
    )
    if request.method == "POST":
        services.application_revoke(actor=request.user, application=application)
    return _revoke(request, "application", application)


@login_required
@require_http_methods(["GET", "POST"])
def token_revoke(request: HttpRequest, token_id: UUID) -> HttpResponse:
    """Confirm, then revoke a personal access token."""
    token = selectors.token_get(owner=request.user, token_id=token_id)
    if request.method == "POST":
        services.token_revoke(actor=request.user, token=token)
    return _revoke(request, "token", token)


def _create(
    request: HttpRequest,
    kind: str,
    create: Callable[..., tuple[ApiCredential, str]],
) -> HttpResponse:
    form = ApiCredentialForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            obj, secret = create(
                actor=request.user,
                name=form.cleaned_data["name"],
                expires_at=form.expires_at(),
            )
        except ValidationError as exc:
            _apply(form, exc)
        else:
            return _secret_page(request, kind, obj, secret)
    context = {"form": form, "kind": kind, "title": TITLES[kind]}
    return render_page(
        request,
        FORM_TEMPLATE,
        context,
        partial="form",
        status=400 if form.errors else 200,
    )


def _apply(form: ApiCredentialForm, exc: ValidationError) -> None:
    # The service speaks of expires_at; the form's field is "expires".
    if hasattr(exc, "error_dict") and "expires_at" in exc.error_dict:
        exc.error_dict["expires"] = exc.error_dict.pop("expires_at")
    apply_validation_error(form, exc)


def _secret_page(
    request: HttpRequest, kind: str, obj: ApiCredential, secret: str
) -> HttpResponse:
    context: dict[str, Any] = {"kind": kind, "obj": obj, "secret": secret}
    response = render_page(request, "api/tokens_secret.html", context, partial="secret")
    add_never_cache_headers(response)
    return response


def _revoke(request: HttpRequest, kind: str, obj: ApiCredential) -> HttpResponse:
    """After a revoke (POST) back to the list; else the confirmation."""
    if request.method == "POST":
        messages.success(request, f"“{obj.name}” is revoked: it no longer works.")
        return redirect(request, "api_tokens:list")
    context = {"kind": kind, "obj": obj}
    return render_page(
        request, "api/tokens_confirm_revoke.html", context, partial="confirm"
    )
