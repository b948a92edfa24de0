"""The page where each person chooses what notifies them, per workspace."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from apps.core.htmx import render_page
from apps.core.tasks import mail_delivers
from apps.webhooks import preferences
from apps.workspaces.models import Workspace


class NotificationPreferencesForm(forms.Form):
    """Two sets of checkboxes per workspace: in the app, by email."""

    def __init__(
        self, *args: Any, choices: list[preferences.Choice], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.sections: list[tuple[Workspace, list[forms.BoundField]]] = []
        for choice in choices:
            key = str(choice.workspace.public_id)
            for kind, label, initial in (
                ("app", "In the app", choice.in_app),
                ("email", "By email", choice.email),
            ):
                self.fields[f"{key}-{kind}"] = forms.MultipleChoiceField(
                    label=label,
                    choices=preferences.EVENT_CHOICES,
                    initial=initial,
                    required=False,
                    widget=forms.CheckboxSelectMultiple,
                )
            self.sections.append(
                (choice.workspace, [self[f"{key}-app"], self[f"{key}-email"]])
            )

    def chosen(self) -> dict[Workspace, tuple[list[str], list[str]]]:
        return {
            workspace: (
                self.cleaned_data[f"{workspace.public_id}-app"],
                self.cleaned_data[f"{workspace.public_id}-email"],
            )
            for workspace, _ in self.sections
        }


@login_required
@require_http_methods(["GET", "POST"])
def notification_settings(request: HttpRequest) -> HttpResponse:
    """Choose, for each of one's workspaces, which events show and which are mailed."""
    choices = preferences.notification_choices(user=request.user)
    # Unticking everything posts no field at all: still a submitted form.
    data = request.POST if request.method == "POST" else None
    form = NotificationPreferencesForm(data, choices=choices)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            changed = preferences.notification_preferences_save_all(
                actor=request.user, choices=form.chosen()
            )
            messages.success(
                request, "Saved." if changed else "Nothing changed: already saved."
            )
            form = NotificationPreferencesForm(
                choices=preferences.notification_choices(user=request.user)
            )
        else:
            status = 400
    context = {"form": form, "mail_delivers": mail_delivers()}
    return render_page(
        request,
        "webhooks/notification_settings.html",
        context,
        partial="form",
        status=status,
    )
