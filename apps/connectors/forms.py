"""Forms for sources and destinations; the spec form (``apps.connectors.spec.forms``)
builds the config fields.
"""

from __future__ import annotations

from typing import Any

from django import forms


class ConnectorNameForm(forms.Form):
    """The name, and for a saved source the connector version it is pinned to."""

    name = forms.CharField(max_length=200, help_text="Unique in this workspace.")

    def __init__(
        self,
        *args: Any,
        versions: list[str] | None = None,
        current_version: str = "",
        default_version: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if versions:
            # Not required: a form posted without it leaves the version alone.
            self.fields["connector_version"] = forms.ChoiceField(
                label="Connector version",
                required=False,
                choices=[(v, _version_label(v, default_version)) for v in versions],
                initial=current_version,
                help_text=(
                    "The version this source runs for its checks, schema refreshes "
                    "and syncs. Only versions installed on this console are listed; "
                    "console staff install others on the Catalog page. Upgrading "
                    "the catalog never moves this source: you choose when."
                ),
            )


def _version_label(version: str, default: str) -> str:
    return f"{version} (default for new sources)" if version == default else version


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
