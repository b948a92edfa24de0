"""The fields of a spec form: one per property, each of one kind with its widget.

Every property of a connector's schema becomes a :class:`SpecField` of one *kind*
(text, integer, enum, secret, object, oneof, ...; the template switches on it).
Objects hold child fields; a ``oneOf`` holds one :class:`SpecOption` per choice,
each with its own fields. This module knows how a kind is picked, labelled, helped
and drawn; reading a POST back is the form's job (``apps.connectors.spec.forms``).
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.utils.html import format_html, format_html_join, strip_tags
from django.utils.safestring import SafeString

from apps.connectors.spec.errors import number_text, value_text
from apps.connectors.spec.pointers import MISSING, to_pointer
from apps.connectors.spec.schema import options_of, resolve, types_of
from apps.core.masking import MASK

# Field kinds: the template switches on them.
TEXT = "text"
TEXTAREA = "textarea"
DATE = "date"
DATETIME = "datetime"
INTEGER = "integer"
NUMBER = "number"
BOOLEAN = "boolean"
ENUM = "enum"
MULTISELECT = "multiselect"
LIST = "list"
JSON_TEXT = "json"
CONST = "const"
HIDDEN = "hidden"
SECRET = "secret"  # noqa: S105 (a field kind, not a password)
OBJECT = "object"
ONEOF = "oneof"


def kind_of(schema: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    """The field kind that shows a property (one of the constants above)."""
    # A secret first: whatever else it is, its value must never reach the page.
    if schema.get("airbyte_secret"):
        return SECRET
    if schema.get("airbyte_hidden"):
        return HIDDEN
    if "const" in schema:
        return CONST
    types = types_of(schema)
    first = types[0] if types else None
    if options_of(schema, root) is not None:
        return ONEOF
    if "enum" in schema and first != "array":
        return ENUM
    if first == "object":
        return OBJECT if isinstance(schema.get("properties"), Mapping) else JSON_TEXT
    if first == "array":
        items = resolve(schema.get("items") or {}, root)
        if not isinstance(items, Mapping):
            return JSON_TEXT
        if isinstance(items.get("enum"), list):
            return MULTISELECT
        if (types_of(items) or ["string"])[0] in ("string", "integer", "number"):
            return LIST
        return JSON_TEXT
    if first == "boolean":
        return BOOLEAN
    if first == "integer":
        return INTEGER
    if first == "number":
        return NUMBER
    if first == "string":
        if schema.get("format") == "date":
            return DATE
        if schema.get("format") == "date-time":
            return DATETIME
        return TEXTAREA if schema.get("multiline") else TEXT
    return JSON_TEXT


class _DateInput(forms.TextInput):
    input_type = "date"


class _DateTimeInput(forms.TextInput):
    input_type = "datetime-local"


_LINK = re.compile(r"<a\s[^>]*?href=[\"']([^\"']+)[\"'][^>]*>(.*?)</a>", re.I | re.S)
_MD_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_MD_STRONG = re.compile(r"\*\*(.+?)\*\*")


def plain_text(description: Any) -> str:
    """A description that may hold HTML or markdown, as readable plain text.

    Links keep their address in brackets; the template escapes the result.
    """
    if not isinstance(description, str):
        return ""
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", description)
    text = html.unescape(strip_tags(text))
    text = _MD_STRONG.sub(r"\1", _MD_LINK.sub(r"\1 (\2)", text))
    return " ".join(text.split())


def choice_value(value: Any) -> str:
    """A schema value as an HTML option's value: text as it is, else JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _datetime_local(value: Any) -> str:
    """A stored RFC 3339 time as the ``datetime-local`` input wants it, in UTC."""
    if not isinstance(value, str):
        return ""
    try:
        parsed = dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed.isoformat(timespec="seconds")


LOCAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


def display_value(kind: str, value: Any) -> Any:
    """What a widget shows for a stored (or default) value."""
    if kind == BOOLEAN:
        return value is True
    if kind == MULTISELECT:
        return [choice_value(v) for v in value] if isinstance(value, list) else []
    if value is MISSING or value is None:
        return ""
    if kind == ENUM:
        return choice_value(value)
    if kind == LIST:
        items = value if isinstance(value, list) else [value]
        return "\n".join(choice_value(v) for v in items)
    if kind == JSON_TEXT:
        return json.dumps(value, indent=2)
    if kind == DATETIME:
        return _datetime_local(value)
    return choice_value(value)


@dataclass(eq=False)
class SpecOption:
    """One choice of a ``oneOf``, with the fields only that choice has."""

    index: int
    title: str
    value: str  # the radio's value: the discriminator's constant, else the index
    const: Any
    id: str
    help_text: str = ""
    selected: bool = False
    fields: list[SpecField] = field(default_factory=list)


@dataclass(eq=False)
class SpecField:
    """One property of the spec: its schema, what its widget shows, its errors."""

    key: str
    path: tuple[str, ...]
    html_name: str
    id: str
    schema: dict
    kind: str
    label: str
    required: bool = False
    # Inside a oneOf option: the browser must not demand it, the option may be unused.
    in_option: bool = False
    help_text: str = ""
    placeholder: str = ""
    value: Any = ""
    raw: Any = MISSING  # what a bound form received, before coercion
    stored: Any = MISSING  # the initial or default value (for hidden fields)
    errors: list[str] = field(default_factory=list)
    children: list[SpecField] = field(default_factory=list)
    # enum and multiselect
    choices: list[tuple[str, str]] = field(default_factory=list)
    choice_values: dict[str, Any] = field(default_factory=dict)
    # oneOf
    options: list[SpecOption] = field(default_factory=list)
    discriminator: str | None = None
    # secrets
    has_stored_secret: bool = False
    show_mask: bool = False
    retype_secret: bool = False
    credential_choices: list[tuple[str, str]] = field(default_factory=list)
    credential_value: str = ""
    # Per credential id, the non-secret values choosing it fills in (a login's host…).
    credential_fills: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The value is the one typed before a "Test" (held with the test, not saved).
    secret_from_test: bool = False
    # An error found while reading the input (not a number, bad JSON): the schema's
    # complaints about the same field would only repeat it.
    input_error: bool = False

    @property
    def pointer(self) -> str:
        return to_pointer(self.path)

    @property
    def help_id(self) -> str:
        return f"{self.id}_help"

    @property
    def error_id(self) -> str:
        return f"{self.id}_error"

    @property
    def secret_note(self) -> str:
        if self.kind != SECRET:
            return ""
        if self.retype_secret:
            return "Type this secret again: a secret is never sent back to the page."
        if self.secret_from_test and self.show_mask:
            return (
                f"The value you typed is kept for the test and the save (shown as "
                f"{MASK}); type a new one to replace it."
            )
        if self.has_stored_secret:
            return (
                f"A value is stored. Leave {MASK} to keep it, or type a new one "
                "to replace it. It is kept only while the host, port, URL and the "
                "like stay as they are."
            )
        return ""

    @property
    def has_help(self) -> bool:
        return bool(self.help_text or self.secret_note)

    @property
    def describedby(self) -> str:
        ids = [self.help_id] if self.has_help else []
        if self.errors:
            ids.append(self.error_id)
        return " ".join(ids)

    @property
    def chosen_option(self) -> SpecOption | None:
        return next((o for o in self.options if o.selected), None)

    def _attrs(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {"id": self.id}
        if self.describedby:
            attrs["aria-describedby"] = self.describedby
        if self.errors:
            attrs["aria-invalid"] = "true"
        needs_input = self.required and self.kind not in (BOOLEAN, MULTISELECT)
        if self.kind == SECRET and (self.has_stored_secret or self.credential_value):
            needs_input = False
        if needs_input:
            # A hidden option's inputs must not block the browser's submit.
            attrs["aria-required" if self.in_option else "required"] = (
                "true" if self.in_option else True
            )
        if self.placeholder and self.kind not in (BOOLEAN, ENUM, MULTISELECT):
            attrs["placeholder"] = self.placeholder
        if self.kind in (INTEGER, NUMBER):
            attrs["step"] = "1" if self.kind == INTEGER else "any"
            for bound in ("minimum", "maximum"):
                limit = self.schema.get(bound)
                if isinstance(limit, int | float) and not isinstance(limit, bool):
                    attrs[bound[:3]] = number_text(limit)
        if self.kind == DATETIME:
            attrs["step"] = "1"
        if self.kind in (LIST, JSON_TEXT, TEXTAREA, SECRET):
            attrs["rows"] = 6 if self.kind == JSON_TEXT else 4
        if self.kind in (LIST, JSON_TEXT, SECRET):
            attrs["spellcheck"] = "false"
        if self.kind == SECRET:
            # Keep the browser from filling in the user's own console password.
            multiline = self.schema.get("multiline")
            attrs["autocomplete"] = "off" if multiline else "new-password"
        return attrs

    def widget(self) -> forms.Widget:
        """The Django widget that draws this field's input."""
        if self.kind == SECRET:
            if self.schema.get("multiline"):
                return forms.Textarea()
            return forms.PasswordInput(render_value=True)
        widgets: dict[str, Callable[[], forms.Widget]] = {
            TEXTAREA: forms.Textarea,
            LIST: forms.Textarea,
            JSON_TEXT: forms.Textarea,
            DATE: _DateInput,
            DATETIME: _DateTimeInput,
            INTEGER: forms.NumberInput,
            NUMBER: forms.NumberInput,
            BOOLEAN: forms.CheckboxInput,
            ENUM: lambda: forms.Select(choices=self.choices),
            MULTISELECT: lambda: forms.SelectMultiple(choices=self.choices),
            CONST: forms.HiddenInput,
        }
        return widgets.get(self.kind, forms.TextInput)()

    @property
    def widget_html(self) -> SafeString:
        # A secret's widget only ever gets the mask or nothing: never a stored value.
        value = (MASK if self.show_mask else "") if self.kind == SECRET else self.value
        return self.widget().render(self.html_name, value, attrs=self._attrs())

    @property
    def credential_html(self) -> SafeString:
        """The select that takes this secret from a stored credential instead.

        An option that fills other fields (a database login's host, port, database
        and user) carries them as JSON in ``data-fill``; console.js copies them into
        the fields beside this secret when it is chosen.
        """
        options = [("", "Type a value"), *self.credential_choices]
        rendered = [
            format_html(
                '<option value="{}"{}{}>{}</option>',
                value,
                " selected" if value == self.credential_value else "",
                format_html(
                    ' data-fill="{}"',
                    json.dumps(self.credential_fills[value], sort_keys=True),
                )
                if value in self.credential_fills
                else "",
                label,
            )
            for value, label in options
        ]
        return format_html(
            '<select name="{}" id="{}" data-credential-for="{}">{}</select>',
            f"{self.html_name}__credential",
            f"{self.id}__credential",
            self.pointer,
            format_html_join("", "{}", ((option,) for option in rendered)),
        )


def order_key(item: SpecField) -> tuple:
    """Fields with an ``order`` first, in that order; then the rest by label."""
    order = item.schema.get("order")
    has_order = isinstance(order, int | float) and not isinstance(order, bool)
    return (0 if has_order else 1, order if has_order else 0, item.label.casefold())


def label_of(key: str, schema: Mapping[str, Any]) -> str:
    """The schema's title, else the property name made readable."""
    title = schema.get("title")
    if isinstance(title, str) and title.strip():
        return title.strip()
    return key.replace("_", " ").strip().capitalize() or key


def help_of(schema: Mapping[str, Any], kind: str) -> str:
    """The help line under a field: its description plus what its kind expects."""
    parts = [plain_text(schema.get("description"))]
    descriptor = schema.get("pattern_descriptor")
    if isinstance(descriptor, str) and descriptor:
        parts.append(f"Format: {descriptor}.")
    if kind == DATETIME:
        parts.append("Time in UTC.")
    if kind == LIST:
        parts.append("One item per line.")
    if kind == JSON_TEXT:
        parts.append("As JSON.")
    return " ".join(p for p in parts if p)


def option_title(option: Mapping[str, Any], const: Any, index: int) -> str:
    """A ``oneOf`` option's radio label: its title, constant or position."""
    title = option.get("title")
    if isinstance(title, str) and title.strip():
        return title.strip()
    return value_text(const) if const is not MISSING else f"Option {index + 1}"


def placeholder_of(schema: Mapping[str, Any]) -> str:
    """The first of the schema's ``examples``, shown as the input's placeholder."""
    examples = schema.get("examples")
    example = examples[0] if isinstance(examples, list) and examples else examples
    if example is None:
        return ""
    return example if isinstance(example, str) else json.dumps(example)
