"""Forms of the connector builder page: binding and shape only, no logic."""

from __future__ import annotations

import json
from typing import Any

from django import forms


class ProjectCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What the catalog calls it once published (e.g. Items API).",
    )


class ProjectEditForm(forms.Form):
    """The editor: the manifest as typed, the stream to test, the test config."""

    ACTIONS = ("save", "validate", "test_read")

    manifest = forms.CharField(
        required=False,
        strip=False,
        label="Manifest (YAML)",
        widget=forms.Textarea(
            attrs={
                "rows": 30,
                "class": "mono code-editor",
                "spellcheck": "false",
                "autocapitalize": "off",
                "data-testid": "manifest",
                "data-line-numbers": "true",
                # Lines never wrap, so each stays beside its number.
                "wrap": "off",
            }
        ),
    )
    stream = forms.ChoiceField(required=False, label="Stream to test")
    config = forms.CharField(
        required=False,
        label="Test config (JSON)",
        help_text="The values the spec asks for. Secrets show as ********** and "
        "keep their stored value unless you type a new one.",
        widget=forms.Textarea(
            attrs={"rows": 6, "class": "mono", "spellcheck": "false"}
        ),
    )
    action = forms.ChoiceField(
        choices=[(a, a) for a in ACTIONS], required=False, initial="save"
    )

    def __init__(
        self, *args: Any, streams: list[str] | tuple[str, ...] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        choices = [(s, s) for s in streams]
        current = self.data.get("stream") if self.is_bound else None
        # A stream typed into the manifest but not saved yet is still a choice.
        if current and current not in streams:
            choices.append((current, current))
        self.fields["stream"].choices = [("", "—"), *choices]

    def clean_config(self) -> dict[str, Any]:
        text = self.cleaned_data.get("config") or ""
        if not text.strip():
            return {}
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}.") from None
        if not isinstance(data, dict):
            raise forms.ValidationError("The test config is a JSON object: {...}.")
        return data
