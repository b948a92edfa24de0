"""The credential form: its fields follow the type's schema in ``types.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import QueryDict

from apps.core.masking import MASK
from apps.credentials.hosts import clean_allowed_hosts
from apps.credentials.models import Credential
from apps.credentials.types import FieldSpec, TypeSpec, required_message


class SecretInput(forms.PasswordInput):
    """A password input that never renders a value, only the mask when one is stored.

    What was typed into it is dropped when the form is shown again with errors, and
    the stored secret never reaches the page.
    """

    def __init__(self, *, stored: bool, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            attrs={"autocomplete": "new-password", **(attrs or {})},
            render_value=False,
        )
        self.stored = stored

    def get_context(self, name: str, value: Any, attrs: dict | None) -> dict:
        context = super().get_context(name, None, attrs)
        context["widget"]["value"] = MASK if self.stored else None
        return context


@dataclass(frozen=True)
class PairRow:
    """One key/value row of a generic credential as the form shows it."""

    key: str
    stored: bool

    @property
    def shown_value(self) -> str:
        """The mask for a stored value; what was typed is never sent back."""
        return MASK if self.stored else ""


class CredentialForm(forms.Form):
    """Name, type (when creating) and the type's own fields."""

    name = forms.CharField(
        max_length=100,
        help_text="Unique in the workspace; sources and destinations pick it by name.",
        widget=forms.TextInput(attrs={"autofocus": True}),
    )
    type = forms.ChoiceField(choices=Credential.Type.choices)
    allowed_hosts = forms.CharField(
        label="Hosts it may be sent to",
        required=False,
        max_length=5_000,
        help_text=(
            "One a line: db.example.com, or *.example.com for every subdomain. A "
            "source or destination whose settings name another host cannot use "
            "this credential, so a secret only goes where it was stored for. "
            "Only workspace admins change this later."
        ),
        widget=forms.Textarea(
            attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off"}
        ),
    )

    def __init__(
        self,
        data: QueryDict | None = None,
        *,
        spec: TypeSpec,
        stored: dict[str, Any] | None = None,
        creating: bool,
        initial: dict[str, Any] | None = None,
        can_set_hosts: bool = True,
    ) -> None:
        super().__init__(data, initial=initial)
        self.spec = spec
        self.stored = stored or {}
        if not creating:
            del self.fields["type"]
        if not can_set_hosts:
            # Editors pick credentials; where one may be sent is an admin's call.
            del self.fields["allowed_hosts"]
        for field in spec.fields:
            self.fields[field.name] = self._field(field)
        self.pair_rows: list[PairRow] = []
        if spec.key_value:
            self.pair_rows = self._pair_rows(data)

    def _field(self, field: FieldSpec) -> forms.Field:
        common = {
            "label": field.label,
            "required": field.required,
            "help_text": field.help,
            "error_messages": {"required": required_message(field)},
        }
        if field.secret:
            widget = SecretInput(stored=self.stored.get(field.name) not in (None, ""))
            return forms.CharField(strip=False, widget=widget, **common)
        if field.kind == "port":
            # The same words as types.validate_payload, which the CLI sees.
            out_of_range = f"{field.label} must be between 1 and 65535."
            common["error_messages"] |= {
                "invalid": f"{field.label} must be a whole number.",
                "min_value": out_of_range,
                "max_value": out_of_range,
            }
            return forms.IntegerField(min_value=1, max_value=65535, **common)
        return forms.CharField(max_length=10_000, **common)

    def _pair_rows(self, data: QueryDict | None) -> list[PairRow]:
        if data is not None:
            keys = [key.strip() for key in data.getlist("pair_key")]
        else:
            keys = sorted(self.stored) or [""]
        return [PairRow(key, key in self.stored) for key in keys] or [
            PairRow("", False)
        ]

    @property
    def type_fields(self) -> list[forms.BoundField]:
        return [self[field.name] for field in self.spec.fields]

    def clean_allowed_hosts(self) -> list[str]:
        try:
            return clean_allowed_hosts(self.cleaned_data.get("allowed_hosts") or "")
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.spec.key_value:
            keys = [key.strip() for key in self.data.getlist("pair_key")]
            values = self.data.getlist("pair_value")
            pairs: dict[str, str] = {}
            for key, value in zip(keys, values, strict=False):
                if not key and not value:
                    continue  # an empty row added and left blank
                if not key:
                    self.add_error(None, "A value has no key: name it or clear it.")
                elif key in pairs:
                    self.add_error(None, f"The key {key} appears twice.")
                else:
                    pairs[key] = value
            self.payload_input: dict[str, Any] = pairs
        else:
            self.payload_input = {
                field.name: cleaned.get(field.name)
                for field in self.spec.fields
                if cleaned.get(field.name) not in (None, "")
            }
        return cleaned
