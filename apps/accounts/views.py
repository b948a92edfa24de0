"""Sign in, sign out and change password."""

from __future__ import annotations

from axes.helpers import get_lockout_message
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts import services
from apps.accounts.forms import ConsolePasswordChangeForm, LoginForm


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """Sign in; failures are audited and rate-limited by django-axes."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    if request.user.is_authenticated and request.method == "GET":
        return redirect(next_url or "home")
    form = LoginForm(request, data=request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            services.user_login(request=request, user=form.get_user())
            return redirect(next_url or "home")
        locked_out = bool(getattr(request, "axes_locked_out", False))
        services.user_login_failed(
            username=request.POST.get("username", ""), locked_out=locked_out
        )
        if locked_out:
            return render(
                request,
                "accounts/locked_out.html",
                {"message": get_lockout_message()},
                status=429,
            )
    status = 400 if form.errors else 200
    return render(
        request, "accounts/login.html", {"form": form, "next": next_url}, status=status
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """Sign out (POST only, so a link cannot sign anyone out)."""
    services.user_logout(request=request)
    messages.info(request, "You are signed out.")
    return redirect("accounts:login")


@sensitive_post_parameters()
@login_required
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    """Change one's own password; this session stays signed in."""
    form = ConsolePasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.user_password_change(
            request=request,
            user=request.user,
            new_password=form.cleaned_data["new_password1"],
        )
        messages.success(request, "Password changed.")
        return redirect("accounts:password_change")
    status = 400 if form.errors else 200
    return render(
        request, "accounts/password_change.html", {"form": form}, status=status
    )
