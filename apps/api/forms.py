"""The form that names a new API application or token and picks its expiry."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.utils import timezone

EXPIRY_CHOICES = [
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
    ("never", "Never"),
]


class ApiCredentialForm(forms.Form):
    """Name and lifetime of a new application or personal access token."""

    name = forms.CharField(
        max_length=100,
        help_text="What uses it, so you know what breaks when you revoke it.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    expires = forms.ChoiceField(
        choices=EXPIRY_CHOICES,
        initial="90",
        help_text="It stops working then; you can revoke it any time before.",
    )

    def expires_at(self) -> datetime | None:
        """The chosen expiry as a time, or None for never (after ``is_valid()``)."""
        choice = self.cleaned_data["expires"]
        if choice == "never":
            return None
        return timezone.now() + timedelta(days=int(choice))
