"""Forms of the catalog page: the filter bar and the install / change-version form."""

from __future__ import annotations

from django import forms

from apps.connectors.catalog.selectors import RUNS_CHOICES
from apps.connectors.models import ConnectorDefinition


class CatalogFilterForm(forms.Form):
    """Search by name; filter by kind, how it runs, support level, release stage."""

    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Name or package"}
        ),
    )
    kind = forms.ChoiceField(
        label="Kind",
        required=False,
        choices=[("", "Sources and destinations"), *ConnectorDefinition.Kind.choices],
    )
    runs = forms.ChoiceField(
        label="How it runs",
        required=False,
        choices=[("", "Any way"), *RUNS_CHOICES],
    )
    support = forms.ChoiceField(
        label="Support level",
        required=False,
        choices=[
            ("", "Any support level"),
            ("certified", "Certified"),
            ("community", "Community"),
            ("archived", "Archived"),
        ],
    )
    stage = forms.ChoiceField(
        label="Release stage",
        required=False,
        choices=[("", "All stages"), *ConnectorDefinition.ReleaseStage.choices],
    )


class InstallForm(forms.Form):
    """Install the pinned version, or another one (change version)."""

    version = forms.CharField(
        label="Version",
        required=False,
        max_length=50,
        help_text="Leave empty for the version the catalog pins.",
    )
