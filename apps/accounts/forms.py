"""Sign-in and password forms with the console's labels."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm


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
