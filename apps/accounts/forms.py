"""Sign-in and password forms with the console's labels."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import (
    AuthenticationForm,
    PasswordChangeForm,
    PasswordResetForm,
    SetPasswordForm,
    _unicode_ci_compare,
)
from django.template.loader import render_to_string

from apps.core.tasks import send_email_task


class LoginForm(AuthenticationForm):
    username = forms.CharField(
        label="Email or username",
        max_length=254,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )


class ConsolePasswordChangeForm(PasswordChangeForm):
    """Django's password change form; the service saves it."""

    def save(self, commit: bool = True):  # pragma: no cover - the service saves
        raise NotImplementedError("Use accounts.services.user_password_change.")


class ConsolePasswordResetForm(PasswordResetForm):
    """Django's reset form; the message goes out on a worker, after the request."""

    email = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    def get_users(self, email: str) -> Any:
        """Active accounts with this email, also those without a password yet.

        Django leaves passwordless accounts out (they may sign in elsewhere);
        here they are people invited who lost their link, and the mail goes to
        their own address.
        """
        users = get_user_model()._default_manager.filter(
            email__iexact=email, is_active=True
        )
        # Django's own check: the same address once case-folded, no lookalike.
        return (u for u in users if _unicode_ci_compare(u.email, email))

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        self.sent_to = getattr(self, "sent_to", 0) + 1
        send_email_task.delay_on_commit(
            [to_email],
            render_to_string(subject_template_name, context),
            render_to_string(email_template_name, context),
        )


class ConsoleSetPasswordForm(SetPasswordForm):
    """Django's set-password form; the service saves it (and audits)."""

    def save(self, commit: bool = True):  # pragma: no cover - the service saves
        raise NotImplementedError("Use accounts.services.user_password_set.")


class ProfileForm(forms.Form):
    """One's own settings: the time zone of every time the pages show."""

    time_zone = forms.ChoiceField(
        required=False,
        label="Time zone",
        help_text="Every time in the console is shown in this zone, and says so.",
    )

    def __init__(self, *args: Any, browser_zone: str = "", **kwargs: Any) -> None:
        from apps.accounts.timezones import zone_choices

        super().__init__(*args, **kwargs)
        automatic = (
            f"Your browser's zone (now {browser_zone})"
            if browser_zone
            else "Your browser's zone (UTC until it tells us)"
        )
        self.fields["time_zone"].choices = [
            ("", automatic),
            *((name, name.replace("_", " ")) for name in zone_choices()),
        ]
