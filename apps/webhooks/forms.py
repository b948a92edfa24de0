"""The endpoint form: name, URL, events and format (the secret is never a field)."""

from __future__ import annotations

from django import forms

from apps.webhooks.delivery import allow_private
from apps.webhooks.models import Event, WebhookEndpoint


class WebhookEndpointForm(forms.Form):
    name = forms.CharField(max_length=100)
    url = forms.URLField(
        label="URL",
        max_length=2000,
        assume_scheme="https",
    )
    events = forms.MultipleChoiceField(
        choices=Event.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event."},
    )
    format = forms.ChoiceField(
        choices=WebhookEndpoint.Format.choices,
        initial=WebhookEndpoint.Format.CONSOLE,
        help_text="Slack: an incoming-webhook URL gets text and blocks.",
    )

    def __init__(self, *args: object, editing: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["url"].help_text = url_help()
        if editing:
            self.fields["enabled"] = forms.BooleanField(
                required=False,
                help_text="Enabling a disabled endpoint clears the reason it was "
                "turned off.",
            )


def url_help() -> str:
    """What the URL may point at, in the mode this console runs in."""
    if allow_private():
        return (
            "Where events are POSTed. Public addresses, and (WEBHOOKS_ALLOW_PRIVATE "
            "is on) private and loopback ones; never link-local, cloud metadata or "
            "multicast addresses."
        )
    return (
        "Where events are POSTed. Only public addresses are called: private, "
        "loopback, link-local and metadata addresses are refused."
    )
