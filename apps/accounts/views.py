"""Sign in, sign out, change or reset a password, and accept an invitation."""

from __future__ import annotations

from typing import Any

from axes.helpers import get_lockout_message
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.forms import Form
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts import services
from apps.accounts.forms import (
    ConsolePasswordChangeForm,
    ConsolePasswordResetForm,
    ConsoleSetPasswordForm,
    LoginForm,
    ProfileForm,
)
from apps.core.invitations import invitation_token_generator, join_token_generator


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


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    """One's own settings: the time zone pages show times in."""
    from django.core.exceptions import ValidationError

    from apps.accounts.models import Profile
    from apps.accounts.timezones import browser_zone
    from apps.core.forms import apply_validation_error

    detected = browser_zone(request)
    current = (
        Profile.objects.filter(user=request.user)
        .values_list("time_zone", flat=True)
        .first()
    )
    form = ProfileForm(
        request.POST or None,
        initial={"time_zone": current or ""},
        browser_zone=str(detected) if detected else "",
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.profile_update(
                request=request,
                user=request.user,
                time_zone=form.cleaned_data["time_zone"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, "Profile saved.")
            return redirect("accounts:profile")
    status = 400 if form.errors else 200
    return render(request, "accounts/profile.html", {"form": form}, status=status)


# Password reset by email, with Django's views (their token handling: the link's
# token moves into the session before the form shows, so it never leaks in a
# Referer). The console's forms send the mail on a worker and save through the
# services, so each step is audited.


class PasswordResetView(auth_views.PasswordResetView):
    """Ask for a reset link; the answer is the same for any email."""

    form_class = ConsolePasswordResetForm
    template_name = "accounts/password_reset.html"
    subject_template_name = "accounts/email/password_reset_subject.txt"
    email_template_name = "accounts/email/password_reset.txt"
    success_url = reverse_lazy("accounts:password_reset_sent")

    def form_valid(self, form: ConsolePasswordResetForm) -> HttpResponse:
        response = super().form_valid(form)
        services.user_password_reset_request(
            email=form.cleaned_data["email"], sent_to=getattr(form, "sent_to", 0)
        )
        return response


class PasswordResetSentView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_sent.html"


class _SetPasswordFromLink(auth_views.PasswordResetConfirmView):
    """A password chosen from an emailed link, then signed in."""

    form_class = ConsoleSetPasswordForm
    invitation = False

    def get_user(self, uidb64: str) -> Any:
        user = super().get_user(uidb64)
        # A switched-off account takes no password from a link: it would be in
        # force, known to whoever held the link, the day the account is back.
        return user if user is not None and user.is_active else None

    def form_valid(self, form: Form) -> HttpResponse:
        user = form.user
        services.user_password_set(
            user=user,
            new_password=form.cleaned_data["new_password1"],
            invitation=self.invitation,
        )
        del self.request.session[auth_views.INTERNAL_RESET_SESSION_TOKEN]
        user.backend = "apps.accounts.backends.EmailOrUsernameBackend"
        services.user_login(request=self.request, user=user)
        messages.success(self.request, self.done_message)
        return HttpResponseRedirect(reverse_lazy("home"))


class PasswordResetConfirmView(_SetPasswordFromLink):
    template_name = "accounts/password_reset_confirm.html"
    done_message = "Password changed. You are signed in."


class InvitationView(_SetPasswordFromLink):
    """An invitation's link: choose a first password, or sign in if there is one.

    Its tokens come from their own generator, so an invitation link is never a
    password reset link for an account that already has a password.
    """

    template_name = "accounts/invitation.html"
    token_generator = invitation_token_generator
    invitation = True
    done_message = "Welcome! Your password is set and you are signed in."

    def dispatch(self, *args: Any, **kwargs: Any) -> HttpResponse:
        # An account that existed already got a link that only says to sign in.
        user = self.get_user(kwargs["uidb64"])
        token = kwargs["token"]
        if (
            user is not None
            and token != self.reset_url_token
            and join_token_generator.check_token(user, token)
        ):
            return render(
                self.request,
                self.template_name,
                {"validlink": True, "has_account": True, "invitee": user},
            )
        return super().dispatch(*args, **kwargs)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["invitee"] = self.user
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.user.has_usable_password():
            return redirect("accounts:login")
        return super().post(request, *args, **kwargs)
