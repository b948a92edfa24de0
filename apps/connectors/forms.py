"""Forms for sources and destinations; the spec form (``apps.connectors.spec.forms``)
builds the config fields.
"""

from __future__ import annotations

from django import forms


class ConnectorNameForm(forms.Form):
    name = forms.CharField(max_length=200, help_text="Unique in this workspace.")


class ManifestForm(forms.Form):
    manifest = forms.CharField(
        label="YAML manifest",
        widget=forms.Textarea(
            attrs={"rows": 16, "spellcheck": "false", "class": "mono"}
        ),
        help_text="An Airbyte low-code manifest (version, streams, check, spec).",
    )


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Search")
