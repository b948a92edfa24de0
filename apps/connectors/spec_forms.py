"""Forms generated from a connector's JSON Schema spec.

Airbyte connectors describe their configuration as a draft-07 JSON Schema (the
``connectionSpecification`` of their ``spec``). :class:`SpecForm` turns that schema
into a tree of fields, reads a POST back into a typed ``config`` dict, validates it
against the whole schema with ``jsonschema`` and puts every error beside the field it
belongs to.

How it works, in three steps:

1. **Build** (``__init__``): every property becomes a :class:`SpecField` of one
   *kind* (text, integer, enum, secret, object, oneof, ...). Objects hold child
   fields; a ``oneOf`` holds one :class:`SpecOption` per choice, each with its own
   fields. A bound form reads the raw strings from ``data`` at build time, but only
   for *active* fields: those outside the options the user did not choose.
2. **Clean** (``is_valid``): active fields are coerced (``"5"`` -> ``5``, one line
   per list item, a checkbox to a bool) into ``cleaned_config``; secret fields go to
   ``cleaned_secrets`` (``{json_pointer: value}``) or ``credential_refs``
   (``{json_pointer: credential choice}``) instead.
3. **Validate**: the merged config is checked with ``Draft7Validator``; each error's
   JSON path (plus the missing property for ``required``) finds its field. A failed
   ``oneOf`` is explained by the errors of the option the user chose.

Input names are the JSON path joined with ``__`` after the prefix
(``cfg__port``, ``cfg__tunnel__host``). A ``oneOf`` is chosen by a radio named after
its discriminator (``cfg__provider__storage``, the property every option fixes with
``const``) or after the object itself when there is none; the fields of option ``i``
carry ``i`` in their name (``cfg__provider__4__host``) because options often share
property names.

Secrets (``airbyte_secret``) are never rendered: a stored one shows as
:data:`~apps.core.masking.MASK`, and posting the mask back keeps the stored value.
``cleaned_secrets`` is the complete set to store (a secret of an option no longer
chosen is dropped), not a patch.

Helpers for the rest of the console: :func:`secret_pointers`, :func:`split_config`
(a full config -> config + secrets), :func:`merge_config` (the reverse, for running
a connector), :func:`mask_config` (for display) and :func:`config_errors` (the JSON
pointer and plain message of each problem, for the CLI).
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import ipaddress
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils.html import strip_tags
from django.utils.safestring import SafeString
from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaValidationError

from apps.core.masking import MASK, mask_secrets

NON_FIELD_ERRORS = "__all__"

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


class _Missing:
    """A value absent from a config (``None`` is a value JSON can hold)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


# --- JSON pointers -------------------------------------------------------------------


def to_pointer(path: Iterable[str | int]) -> str:
    """The RFC 6901 JSON pointer of a path: ``("a", "b")`` -> ``/a/b``."""
    return "".join(
        "/" + str(part).replace("~", "~0").replace("/", "~1") for part in path
    )


def from_pointer(pointer: str) -> tuple[str, ...]:
    """The path of a JSON pointer; ``""`` is the root."""
    if not pointer:
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"A JSON pointer starts with '/': {pointer!r}")
    return tuple(
        part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")
    )


def _get_path(data: Any, path: Iterable[str]) -> Any:
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return MISSING
        data = data[part]
    return data


# --- Reading a spec ------------------------------------------------------------------


def connection_specification(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema inside a SPEC message, a connector spec, or the schema itself."""
    if spec.get("type") == "SPEC" and isinstance(spec.get("spec"), Mapping):
        spec = spec["spec"]
    if isinstance(spec.get("connectionSpecification"), Mapping):
        spec = spec["connectionSpecification"]
    return dict(spec)


def _resolve(schema: Any, root: Mapping[str, Any], depth: int = 0) -> Any:
    """Follow a local ``$ref`` (``#/definitions/x``); sibling keys (title) win."""
    if not isinstance(schema, Mapping) or "$ref" not in schema or depth > 20:
        return schema
    ref = schema["$ref"]
    if not isinstance(ref, str) or not ref.startswith("#"):
        return schema
    target: Any = root
    for part in from_pointer(ref[1:]):
        target = target.get(part) if isinstance(target, Mapping) else None
    if not isinstance(target, Mapping):
        return schema
    merged = {**_resolve(target, root, depth + 1)}
    merged.update({k: v for k, v in schema.items() if k != "$ref"})
    return merged


def _types(schema: Mapping[str, Any]) -> list[str]:
    """The schema's types without ``null``, inferring one where ``type`` is absent."""
    declared = schema.get("type")
    if isinstance(declared, str):
        types = [declared]
    elif isinstance(declared, list):
        types = [t for t in declared if isinstance(t, str)]
    else:
        types = []
    types = [t for t in types if t != "null"]
    if types:
        return types
    if "properties" in schema or "oneOf" in schema or "anyOf" in schema:
        return ["object"]
    if "items" in schema:
        return ["array"]
    return ["string"] if "enum" not in schema else []


def _options(schema: Mapping[str, Any], root: Mapping[str, Any]) -> list[dict] | None:
    """The choices of a ``oneOf``/``anyOf`` made of objects, else None."""
    raw = schema.get("oneOf") or schema.get("anyOf")
    if not isinstance(raw, list) or not raw:
        return None
    options = [_resolve(option, root) for option in raw]
    if all(
        isinstance(o, Mapping) and _types(o)[:1] == ["object"] and "enum" not in o
        for o in options
    ):
        return [dict(o) for o in options]
    return None


def _const_of(schema: Any) -> Any:
    """The one value a property allows (``const``, a one-item ``enum``) or MISSING."""
    if not isinstance(schema, Mapping):
        return MISSING
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and len(enum) == 1:
        return enum[0]
    return MISSING


def _discriminator(options: list[dict], root: Mapping[str, Any]) -> str | None:
    """The property every option fixes to a different constant (``storage``), if any."""
    first = options[0].get("properties") or {}
    for key in first:
        values = [
            _const_of(_resolve((o.get("properties") or {}).get(key), root))
            for o in options
        ]
        if any(v is MISSING for v in values):
            continue
        if len({json.dumps(v, sort_keys=True) for v in values}) == len(values):
            return key
    return None


def _match_option(
    options: list[dict], value: Any, discriminator: str | None, root: Mapping
) -> int | None:
    """Which option a stored value belongs to: by discriminator, else by its shape."""
    if not isinstance(value, Mapping):
        return None
    if discriminator and discriminator in value:
        for index, option in enumerate(options):
            prop = (option.get("properties") or {}).get(discriminator)
            if _const_of(_resolve(prop, root)) == value[discriminator]:
                return index
        return None
    for index, option in enumerate(options):
        props = option.get("properties") or {}
        required = option.get("required") or []
        consts_match = all(
            _const_of(_resolve(sub, root)) in (MISSING, value.get(key, MISSING))
            for key, sub in props.items()
            if key in value
        )
        if consts_match and all(key in value for key in required):
            return index
    return None


def _kind(schema: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    # A secret first: whatever else it is, its value must never reach the page.
    if schema.get("airbyte_secret"):
        return SECRET
    if schema.get("airbyte_hidden"):
        return HIDDEN
    if "const" in schema:
        return CONST
    types = _types(schema)
    first = types[0] if types else None
    if _options(schema, root) is not None:
        return ONEOF
    if "enum" in schema and first != "array":
        return ENUM
    if first == "object":
        return OBJECT if isinstance(schema.get("properties"), Mapping) else JSON_TEXT
    if first == "array":
        items = _resolve(schema.get("items") or {}, root)
        if not isinstance(items, Mapping):
            return JSON_TEXT
        if isinstance(items.get("enum"), list):
            return MULTISELECT
        if (_types(items) or ["string"])[0] in ("string", "integer", "number"):
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


def secret_pointers(spec: Mapping[str, Any]) -> set[str]:
    """JSON pointers of every ``airbyte_secret`` property, in every ``oneOf`` option."""
    root = connection_specification(spec)
    found: set[str] = set()

    def walk(schema: Any, path: tuple[str, ...], depth: int) -> None:
        schema = _resolve(schema, root)
        if not isinstance(schema, Mapping) or depth > 30:
            return
        for key, sub in (schema.get("properties") or {}).items():
            sub = _resolve(sub, root)
            if isinstance(sub, Mapping) and sub.get("airbyte_secret"):
                found.add(to_pointer((*path, key)))
            else:
                walk(sub, (*path, key), depth + 1)
        for option in _options(schema, root) or []:
            walk(option, path, depth + 1)

    walk(root, (), 0)
    return found


def merge_config(config: Mapping[str, Any], secrets: Mapping[str, Any]) -> dict:
    """The full config a connector needs: ``config`` with each secret put back."""
    merged = copy.deepcopy(dict(config))
    for pointer, value in secrets.items():
        path = from_pointer(pointer)
        if not path:
            continue
        target = merged
        for part in path[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[path[-1]] = value
    return merged


def split_config(
    config: Mapping[str, Any], spec: Mapping[str, Any]
) -> tuple[dict, dict[str, Any]]:
    """A full config split into (non-secret config, ``{pointer: secret}``)."""
    plain = copy.deepcopy(dict(config))
    secrets: dict[str, Any] = {}
    for pointer in sorted(secret_pointers(spec)):
        path = from_pointer(pointer)
        parent = _get_path(plain, path[:-1])
        if isinstance(parent, dict) and path[-1] in parent:
            secrets[pointer] = parent.pop(path[-1])
    return plain, secrets


def mask_config(config: Mapping[str, Any], spec: Mapping[str, Any]) -> dict:
    """A copy of ``config`` for display: every secret the spec names becomes MASK."""
    masked = copy.deepcopy(dict(config))
    for pointer in secret_pointers(spec):
        path = from_pointer(pointer)
        parent = _get_path(masked, path[:-1])
        if isinstance(parent, dict) and parent.get(path[-1]) not in (None, "", MISSING):
            parent[path[-1]] = MASK
    return masked


# --- Validation messages -------------------------------------------------------------

FORMAT_CHECKER = FormatChecker(formats=())
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)


# Only formats that are cheap and dependency-free; jsonschema's own date-time and uri
# checks need optional packages and would silently pass without them.
@FORMAT_CHECKER.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return bool(_DATE.match(value)) and bool(dt.date.fromisoformat(value))


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        return False
    return bool(dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00")))


@FORMAT_CHECKER.checks("email")
def _is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(re.fullmatch(r"[^@\s]+@[^@\s]+", value))


@FORMAT_CHECKER.checks("ipv4", raises=ValueError)
def _is_ipv4(value: object) -> bool:
    return not isinstance(value, str) or bool(ipaddress.IPv4Address(value))


@FORMAT_CHECKER.checks("ipv6", raises=ValueError)
def _is_ipv6(value: object) -> bool:
    return not isinstance(value, str) or bool(ipaddress.IPv6Address(value))


_TYPE_MESSAGES = {
    "integer": "Must be a whole number.",
    "number": "Must be a number.",
    "string": "Must be text.",
    "boolean": "Must be true or false.",
    "array": "Must be a list.",
    "object": "Must be a group of fields (a JSON object).",
    "null": "Must be empty.",
}
_FORMAT_MESSAGES = {
    "date": "Must be a date (YYYY-MM-DD).",
    "date-time": "Must be a date and time (YYYY-MM-DDTHH:MM:SSZ).",
    "email": "Must be an email address.",
    "ipv4": "Must be an IPv4 address.",
    "ipv6": "Must be an IPv6 address.",
}


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _type_message(expected: Any) -> str:
    names = [expected] if isinstance(expected, str) else list(expected or [])
    wanted = next((t for t in names if t != "null"), "null")
    return _TYPE_MESSAGES.get(wanted, "Has the wrong type.")


def _plural(count: Any, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def plain_message(error: SchemaValidationError) -> str:
    """A jsonschema error in plain words, without the offending value.

    jsonschema's own messages start with the instance (``'hunter2' is too short``),
    which for a secret would leak it, so every message here is built from the
    schema's side only.
    """
    kind, limit = error.validator, error.validator_value
    simple = {
        "required": "This field is required.",
        "uniqueItems": "Items must not repeat.",
        "anyOf": "Choose one of the options.",
        "not": "This value is not allowed.",
    }
    if kind in simple:
        return simple[kind]
    bounds = {
        "minimum": "Must be at least {}.",
        "maximum": "Must be at most {}.",
        "exclusiveMinimum": "Must be greater than {}.",
        "exclusiveMaximum": "Must be less than {}.",
        "multipleOf": "Must be a multiple of {}.",
    }
    if kind in bounds:
        return bounds[kind].format(_number(limit))
    counts = {
        "minLength": ("Must be at least {} long.", "character", "characters"),
        "maxLength": ("Must be at most {} long.", "character", "characters"),
        "minItems": ("Must have at least {}.", "item", "items"),
        "maxItems": ("Must have at most {}.", "item", "items"),
        "minProperties": ("Must have at least {}.", "entry", "entries"),
        "maxProperties": ("Must have at most {}.", "entry", "entries"),
    }
    if kind in counts:
        template, one, many = counts[kind]
        return template.format(_plural(limit, one, many))
    if kind == "type":
        return _type_message(limit)
    if kind == "pattern":
        return f"Must match pattern {limit}."
    if kind == "format":
        return _FORMAT_MESSAGES.get(limit, f"Must be a valid {limit}.")
    if kind == "enum":
        return "Must be one of: " + ", ".join(_shown(v) for v in limit or []) + "."
    if kind == "const":
        return f"Must be {_shown(limit)}."
    if kind == "oneOf":
        if error.context:
            return "Choose one of the options."
        return "Matches more than one option; fill in only one."
    if kind == "additionalProperties":
        instance = error.instance if isinstance(error.instance, Mapping) else {}
        known = error.schema.get("properties") or {}
        extra = sorted(str(k) for k in instance if k not in known)
        return "Unexpected field: " + ", ".join(extra) + "."
    return f"Is not valid ({kind})."


def _missing_property(error: SchemaValidationError) -> str | None:
    """The property a ``required`` error is about (jsonschema yields one per name)."""
    instance = error.instance if isinstance(error.instance, Mapping) else {}
    missing = [p for p in error.validator_value or [] if p not in instance]
    for name in missing:
        if error.message.startswith(repr(name)):
            return name
    return missing[0] if len(missing) == 1 else None


Chooser = Callable[[tuple, list, Any], "int | None"]


def _placed_errors(
    errors: Iterable[SchemaValidationError], choose: Chooser
) -> Iterator[tuple[tuple, str]]:
    """(path, message) for each error, looking inside the chosen ``oneOf`` option."""
    for error in errors:
        path = tuple(error.absolute_path)
        if error.validator in ("oneOf", "anyOf") and error.context:
            index = choose(path, error.validator_value, error.instance)
            inner = [
                e
                for e in error.context
                if e.relative_schema_path and e.relative_schema_path[0] == index
            ]
            if inner:
                yield from _placed_errors(inner, choose)
                continue
        if error.validator == "required":
            name = _missing_property(error)
            if name is not None:
                path = (*path, name)
        yield path, plain_message(error)


def _validator(schema: Mapping[str, Any]) -> Draft7Validator:
    return Draft7Validator(schema, format_checker=FORMAT_CHECKER)


def config_errors(
    spec: Mapping[str, Any], config: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """Every problem with a full config as (JSON pointer, plain message), sorted.

    For callers without a form (the CLI, imports): a ``oneOf`` is explained by the
    option the config's discriminator (or shape) picks.
    """
    root = connection_specification(spec)

    def choose(path: tuple, options: list, instance: Any) -> int | None:
        resolved = [_resolve(o, root) for o in options]
        if not all(isinstance(o, Mapping) for o in resolved):
            return None
        return _match_option(resolved, instance, _discriminator(resolved, root), root)

    try:
        errors = list(_validator(root).iter_errors(dict(config)))
    except re.error as exc:
        return [("", f"The connector's spec has a broken pattern: {exc}.")]
    placed = {(to_pointer(p), m) for p, m in _placed_errors(errors, choose)}
    return sorted(placed)


# --- Form fields ---------------------------------------------------------------------


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


def _choice_value(value: Any) -> str:
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


_LOCAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")


def _display(kind: str, value: Any) -> Any:
    """What a widget shows for a stored (or default) value."""
    if kind == BOOLEAN:
        return value is True
    if kind == MULTISELECT:
        return [_choice_value(v) for v in value] if isinstance(value, list) else []
    if value is MISSING or value is None:
        return ""
    if kind == ENUM:
        return _choice_value(value)
    if kind == LIST:
        items = value if isinstance(value, list) else [value]
        return "\n".join(_choice_value(v) for v in items)
    if kind == JSON_TEXT:
        return json.dumps(value, indent=2)
    if kind == DATETIME:
        return _datetime_local(value)
    return _choice_value(value)


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
        if self.has_stored_secret:
            return (
                f"A value is stored. Leave {MASK} to keep it, or type a new one "
                "to replace it."
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
                    attrs[bound[:3]] = _number(limit)
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
        """The select that takes this secret from a stored credential instead."""
        choices = [("", "Type a value"), *self.credential_choices]
        return forms.Select(choices=choices).render(
            f"{self.html_name}__credential",
            self.credential_value,
            attrs={"id": f"{self.id}__credential"},
        )


@dataclass
class SpecFormResult:
    """What a valid form yields: the config, its secrets and credential references."""

    config: dict
    secrets: dict[str, Any]
    credential_refs: dict[str, str]


def _order_key(item: SpecField) -> tuple:
    order = item.schema.get("order")
    has_order = isinstance(order, int | float) and not isinstance(order, bool)
    return (0 if has_order else 1, order if has_order else 0, item.label.casefold())


def _label(key: str, schema: Mapping[str, Any]) -> str:
    title = schema.get("title")
    if isinstance(title, str) and title.strip():
        return title.strip()
    return key.replace("_", " ").strip().capitalize() or key


def _help(schema: Mapping[str, Any], kind: str) -> str:
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


def _option_title(option: Mapping[str, Any], const: Any, index: int) -> str:
    title = option.get("title")
    if isinstance(title, str) and title.strip():
        return title.strip()
    return _shown(const) if const is not MISSING else f"Option {index + 1}"


def _placeholder(schema: Mapping[str, Any]) -> str:
    examples = schema.get("examples")
    example = examples[0] if isinstance(examples, list) and examples else examples
    if example is None:
        return ""
    return example if isinstance(example, str) else json.dumps(example)


class SpecForm:
    """A form for a connector's config, generated from its JSON Schema spec.

    ``spec`` is the SPEC message, the connector spec or its ``connectionSpecification``.
    ``initial_config`` is the stored non-secret config; ``stored_secrets`` maps JSON
    pointers to the stored secret values (they are never rendered, only used to keep
    a value when the mask is posted back). ``credential_choices`` lists
    ``(public_id, label)`` of credentials a secret may point to instead;
    ``initial_credential_refs`` the pointers that already do.
    """

    def __init__(
        self,
        spec: Mapping[str, Any],
        *,
        data: Mapping[str, Any] | None = None,
        initial_config: Mapping[str, Any] | None = None,
        stored_secrets: Mapping[str, Any] | None = None,
        credential_choices: Iterable[tuple[str, str]] = (),
        initial_credential_refs: Mapping[str, str] | None = None,
        prefix: str = "cfg",
    ) -> None:
        self.schema = connection_specification(spec)
        self.data = data
        self.is_bound = data is not None
        self.prefix = prefix
        self.initial_config = dict(initial_config or {})
        self.stored_secrets = {
            k: v for k, v in (stored_secrets or {}).items() if v not in (None, "")
        }
        # A caller that passes a full config still leaks nothing: a secret found in
        # it counts as stored, and is shown as the mask.
        for pointer in secret_pointers(self.schema):
            value = _get_path(self.initial_config, from_pointer(pointer))
            if value not in (MISSING, None, "") and pointer not in self.stored_secrets:
                self.stored_secrets[pointer] = value
        self.credential_choices = [(str(k), str(v)) for k, v in credential_choices]
        self.initial_credential_refs = dict(initial_credential_refs or {})
        self._used_ids: set[str] = set()
        self._non_field_errors: list[str] = []
        self._cleaned = False
        self._valid = False
        self.cleaned_config: dict | None = None
        self.cleaned_secrets: dict[str, Any] | None = None
        self.credential_refs: dict[str, str] | None = None
        # The tree sees each stored or referenced secret as the mask: never its
        # value, but enough to recognise the oneOf option it was stored for.
        present = {*self.stored_secrets, *self.initial_credential_refs}
        tree_initial = merge_config(self.initial_config, dict.fromkeys(present, MASK))
        self.fields_tree: list[SpecField] = self._object_fields(
            self.schema,
            path=(),
            names=(),
            initial=tree_initial,
            active=self.is_bound,
            in_option=False,
        )
        # Fields whose values count, by JSON pointer; shared pointers of unchosen
        # options stay out, so errors and add_error() reach the visible field.
        self.fields: dict[str, SpecField] = {}
        self._oneofs: dict[tuple, SpecField] = {}
        self._index(self.fields_tree)

    # --- building ------------------------------------------------------------------

    def _name(self, names: tuple[str, ...]) -> str:
        return "__".join([self.prefix, *names] if self.prefix else names)

    def _id(self, name: str) -> str:
        base = "id_" + re.sub(r"[^A-Za-z0-9_-]", "_", name)
        candidate, n = base, 1
        while candidate in self._used_ids:
            n += 1
            candidate = f"{base}_{n}"
        self._used_ids.add(candidate)
        return candidate

    def _object_fields(
        self,
        schema: Mapping[str, Any],
        *,
        path: tuple[str, ...],
        names: tuple[str, ...],
        initial: Any,
        active: bool,
        in_option: bool,
        exclude: Iterable[str] = (),
    ) -> list[SpecField]:
        required = set(schema.get("required") or [])
        initial = initial if isinstance(initial, Mapping) else {}
        built = []
        for key, sub in (schema.get("properties") or {}).items():
            sub = _resolve(sub, self.schema)
            if key in exclude or not isinstance(sub, Mapping):
                continue
            built.append(
                self._field(
                    key,
                    dict(sub),
                    path=(*path, key),
                    names=(*names, key),
                    initial=initial.get(key, MISSING),
                    required=key in required,
                    active=active,
                    in_option=in_option,
                )
            )
        return sorted(built, key=_order_key)

    def _field(
        self,
        key: str,
        schema: dict,
        *,
        path: tuple[str, ...],
        names: tuple[str, ...],
        initial: Any,
        required: bool,
        active: bool,
        in_option: bool,
    ) -> SpecField:
        kind = _kind(schema, self.schema)
        name = self._name(names)
        item = SpecField(
            key=key,
            path=path,
            html_name=name,
            id=self._id(name),
            schema=schema,
            kind=kind,
            label=_label(key, schema),
            required=required,
            in_option=in_option,
            help_text=_help(schema, kind),
            placeholder=_placeholder(schema),
        )
        if initial is MISSING and "default" in schema:
            initial = copy.deepcopy(schema["default"])
        item.stored = initial
        if kind == OBJECT:
            item.children = self._object_fields(
                schema,
                path=path,
                names=names,
                initial=initial,
                active=active,
                in_option=in_option,
            )
        elif kind == ONEOF:
            self._build_oneof(item, names, initial, active, in_option)
        elif kind == SECRET:
            self._build_secret(item, active)
        else:
            if kind in (ENUM, MULTISELECT):
                self._build_choices(item)
            if kind == CONST:
                item.value = _choice_value(schema["const"])
            elif active and kind != HIDDEN:
                item.raw = self._read(item)
                item.value = item.raw
            elif kind == JSON_TEXT:
                # Secrets nested where no form field reaches them (an array of
                # objects, say) are masked too; posting the mask back restores them.
                keys = _nested_secret_keys(schema, self.schema)
                item.value = _display(kind, mask_secrets(initial, keys))
            else:
                item.value = _display(kind, initial)
        return item

    def _build_choices(self, item: SpecField) -> None:
        source = item.schema if item.kind == ENUM else item.schema.get("items") or {}
        source = _resolve(source, self.schema)
        values = source.get("enum") or []
        item.choice_values = {_choice_value(v): v for v in values}
        choices = [
            (_choice_value(v), "(none)" if v is None else _choice_value(v))
            for v in values
        ]
        has_initial = item.stored is not MISSING and item.stored is not None
        # A blank choice where "not set" is possible and means something: no value
        # yet, or an optional field whose absence no default fills.
        no_default = "default" not in item.schema
        if item.kind == ENUM and (
            not has_initial or (no_default and not item.required)
        ):
            choices.insert(0, ("", "---------"))
        item.choices = choices

    def _build_oneof(
        self,
        item: SpecField,
        names: tuple[str, ...],
        initial: Any,
        active: bool,
        in_option: bool,
    ) -> None:
        options = _options(item.schema, self.schema) or []
        item.discriminator = _discriminator(options, self.schema)
        if item.discriminator:
            item.html_name = self._name((*names, item.discriminator))
            item.id = self._id(item.html_name)
        initial_index = _match_option(options, initial, item.discriminator, self.schema)
        chosen = initial_index if initial_index is not None else 0
        for index, option in enumerate(options):
            const = MISSING
            if item.discriminator:
                prop = (option.get("properties") or {})[item.discriminator]
                const = _const_of(_resolve(prop, self.schema))
            value = str(index) if const is MISSING else _choice_value(const)
            item.options.append(
                SpecOption(
                    index=index,
                    title=_option_title(option, const, index),
                    value=value,
                    const=const,
                    id=f"{item.id}_{index}",
                    help_text=plain_text(option.get("description")),
                )
            )
        if active:
            posted = self._read_str(item.html_name)
            match = next((o for o in item.options if o.value == posted), None)
            if match is None:
                item.errors.append("Choose one of the options.")
                item.input_error = True
            else:
                chosen = match.index
        # Properties next to the oneOf belong to every option.
        item.children = self._object_fields(
            item.schema,
            path=item.path,
            names=names,
            initial=initial,
            active=active,
            in_option=in_option,
        )
        for option, schema in zip(item.options, options, strict=True):
            option.selected = option.index == chosen
            option.fields = self._object_fields(
                schema,
                path=item.path,
                names=(*names, str(option.index)),
                # An option shows the stored values only if they were made for it.
                initial=initial if option.index == initial_index else {},
                active=active and option.selected,
                in_option=True,
                exclude=[item.discriminator] if item.discriminator else [],
            )

    def _build_secret(self, item: SpecField, active: bool) -> None:
        pointer = item.pointer
        item.has_stored_secret = pointer in self.stored_secrets
        item.credential_choices = self.credential_choices
        item.placeholder = "" if item.has_stored_secret else item.placeholder
        if not active:
            item.show_mask = item.has_stored_secret
            item.credential_value = self.initial_credential_refs.get(pointer, "")
            return
        posted = self._read_str(item.html_name)
        item.raw = posted
        if self.credential_choices:
            item.credential_value = self._read_str(f"{item.html_name}__credential")
        item.retype_secret = posted not in ("", MASK) and not item.credential_value
        # Show the mask again where the stored value is what the post keeps.
        item.show_mask = item.has_stored_secret and (
            posted == MASK or (posted == "" and item.required)
        )

    def _read_str(self, name: str) -> str:
        assert self.data is not None
        value = self.data.get(name, "")
        if isinstance(value, list):
            value = value[-1] if value else ""
        return value if isinstance(value, str) else str(value)

    def _read(self, item: SpecField) -> Any:
        assert self.data is not None
        if item.kind == BOOLEAN:
            # CheckboxInput knows the browser's "on" and the strings "true"/"false".
            return item.widget().value_from_datadict(self.data, {}, item.html_name)
        if item.kind == MULTISELECT:
            if hasattr(self.data, "getlist"):
                return [str(v) for v in self.data.getlist(item.html_name)]
            value = self.data.get(item.html_name, [])
            return [str(v) for v in (value if isinstance(value, list) else [value])]
        return self._read_str(item.html_name)

    def _index(self, fields: list[SpecField]) -> None:
        for item in fields:
            if item.kind in (CONST, HIDDEN):
                continue  # not shown, so their errors go to the parent
            self.fields[item.pointer] = item
            if item.kind == ONEOF:
                self._oneofs[item.path] = item
            self._index(item.children)
            if item.chosen_option is not None:
                self._index(item.chosen_option.fields)

    # --- cleaning ------------------------------------------------------------------

    def _clean_fields(
        self, fields: list[SpecField], secrets: dict, refs: dict
    ) -> tuple[dict, dict]:
        """(config, config to validate) of active fields; secrets go to ``secrets``."""
        config: dict[str, Any] = {}
        checked: dict[str, Any] = {}
        for item in fields:
            if item.kind in (OBJECT, ONEOF):
                option = item.chosen_option
                if item.kind == ONEOF and option is None:
                    continue
                children = item.children + (option.fields if option else [])
                sub, sub_checked = self._clean_fields(children, secrets, refs)
                if option is not None and option.const is not MISSING:
                    assert item.discriminator is not None
                    sub = {item.discriminator: option.const, **sub}
                    sub_checked = {item.discriminator: option.const, **sub_checked}
                if sub or item.required or item.kind == ONEOF:
                    config[item.key] = sub
                if sub_checked or item.required or item.kind == ONEOF:
                    checked[item.key] = sub_checked
            elif item.kind == SECRET:
                value = self._clean_secret(item, secrets, refs)
                if value is not MISSING:
                    checked[item.key] = value
            else:
                value = self._clean_value(item)
                if value is not MISSING:
                    config[item.key] = value
                    checked[item.key] = copy.deepcopy(value)
        return config, checked

    def _clean_secret(self, item: SpecField, secrets: dict, refs: dict) -> Any:
        pointer = item.pointer
        if item.credential_value:
            if item.credential_value not in dict(self.credential_choices):
                self._input_error(item, "Select one of the listed credentials.")
                return MISSING
            refs[pointer] = item.credential_value
            # The credential's value is resolved at run time; stand in for it so
            # the schema does not call a referenced secret missing.
            return MASK
        posted = item.raw if isinstance(item.raw, str) else ""
        stored = self.stored_secrets.get(pointer, MISSING)
        if posted == MASK or (posted == "" and item.required):
            value = stored
        elif posted == "":
            value = MISSING  # an optional secret the user cleared
        else:
            value = (
                posted.replace("\r\n", "\n") if item.schema.get("multiline") else posted
            )
        if value is not MISSING:
            secrets[pointer] = value
        return value

    def _input_error(self, item: SpecField, message: str) -> Any:
        item.errors.append(message)
        item.input_error = True
        return MISSING

    def _clean_value(self, item: SpecField) -> Any:
        kind, raw = item.kind, item.raw
        if kind == CONST:
            return copy.deepcopy(item.schema["const"])
        if kind == HIDDEN:
            return item.stored
        if kind == BOOLEAN:
            return bool(raw)
        if kind == MULTISELECT:
            unknown = [v for v in raw if v not in item.choice_values]
            if unknown:
                return self._input_error(item, "Select only the listed choices.")
            return [item.choice_values[v] for v in raw] or MISSING
        text = raw.replace("\r\n", "\n") if isinstance(raw, str) else ""
        if kind not in (TEXTAREA, LIST, JSON_TEXT):
            text = text.strip()
        if not text.strip():
            return MISSING
        if kind == DATETIME and _LOCAL_DATETIME.match(text):
            # datetime-local sends "2024-05-01T10:30" with no zone: times are UTC.
            return text + (":00Z" if text.count(":") == 1 else "Z")
        if kind == INTEGER:
            number = _to_int(text)
            return (
                self._input_error(item, "Enter a whole number.")
                if number is None
                else number
            )
        if kind == NUMBER:
            number = _to_number(text)
            return (
                self._input_error(item, "Enter a number.") if number is None else number
            )
        if kind == ENUM:
            # An unknown value goes through as typed; the schema says what is allowed.
            return item.choice_values.get(text, text)
        if kind == LIST:
            return self._clean_list(item, text)
        if kind == JSON_TEXT:
            try:
                return _unmask(json.loads(text), item.stored)
            except json.JSONDecodeError as exc:
                return self._input_error(
                    item,
                    f"Enter valid JSON: {exc.msg} (line {exc.lineno}, "
                    f"column {exc.colno}).",
                )
        return text

    def _clean_list(self, item: SpecField, text: str) -> Any:
        items_schema = _resolve(item.schema.get("items") or {}, self.schema)
        item_type = (_types(items_schema) or ["string"])[0]
        values: list[Any] = []
        for number, line in enumerate(text.split("\n"), start=1):
            line = line.strip()
            if not line:
                continue
            if item_type == "integer":
                value = _to_int(line)
                if value is None:
                    return self._input_error(
                        item, f"Line {number}: enter a whole number."
                    )
            elif item_type == "number":
                value = _to_number(line)
                if value is None:
                    return self._input_error(item, f"Line {number}: enter a number.")
            else:
                value = line
            values.append(value)
        return values or MISSING

    def full_clean(self) -> None:
        """Read, coerce and validate the POST once; results land on the form."""
        if self._cleaned or not self.is_bound:
            return
        self._cleaned = True
        secrets: dict[str, Any] = {}
        refs: dict[str, str] = {}
        config, checked = self._clean_fields(self.fields_tree, secrets, refs)
        try:
            errors = list(_validator(self.schema).iter_errors(checked))
        except re.error as exc:
            errors = []
            self.add_error(None, f"The connector's spec has a broken pattern: {exc}.")
        referenced = {from_pointer(p) for p in refs}
        for path, message in sorted(
            _placed_errors(errors, self._choose), key=lambda pm: tuple(map(str, pm[0]))
        ):
            item = self._field_for(path)
            if item is None:
                where = to_pointer(path)
                self.add_error(None, f"{where}: {message}" if where else message)
            elif not item.input_error and item.path not in referenced:
                self._add_field_error(item, message)
        self._valid = not self._has_errors()
        if self._valid:
            self.cleaned_config = config
            self.cleaned_secrets = secrets
            self.credential_refs = refs

    def _choose(self, path: tuple, options: list, instance: Any) -> int | None:
        oneof = self._oneofs.get(tuple(map(str, path)))
        if oneof is not None and oneof.chosen_option is not None:
            return oneof.chosen_option.index
        resolved = [_resolve(o, self.schema) for o in options]
        if not all(isinstance(o, Mapping) for o in resolved):
            return None
        return _match_option(
            resolved, instance, _discriminator(resolved, self.schema), self.schema
        )

    def _field_for(self, path: tuple) -> SpecField | None:
        """The deepest visible field on the error's path (a list item -> the list)."""
        parts = tuple(map(str, path))
        for end in range(len(parts), 0, -1):
            item = self.fields.get(to_pointer(parts[:end]))
            if item is not None:
                return item
        return None

    @staticmethod
    def _add_field_error(item: SpecField, message: str) -> None:
        if message not in item.errors:
            item.errors.append(message)

    def _has_errors(self) -> bool:
        return bool(self._non_field_errors) or any(
            f.errors for f in self.fields.values()
        )

    # --- the Django-form-like surface ----------------------------------------------

    def is_valid(self) -> bool:
        """True when the bound POST produced a config the spec accepts."""
        self.full_clean()
        return self.is_bound and self._valid

    @property
    def errors(self) -> dict[str, list[str]]:
        """Errors by JSON pointer, with ``__all__`` for those no field holds."""
        self.full_clean()
        found = {p: list(f.errors) for p, f in self.fields.items() if f.errors}
        if self._non_field_errors:
            found[NON_FIELD_ERRORS] = list(self._non_field_errors)
        return found

    def non_field_errors(self) -> list[str]:
        self.full_clean()
        return list(self._non_field_errors)

    def add_error(self, pointer: str | None, error: str | ValidationError) -> None:
        """Show an error (a service's, say) beside the field at ``pointer``."""
        if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
            for key, items in error.error_dict.items():
                for item in items:
                    self.add_error(key if key in self.fields else None, item)
            return
        messages = error.messages if isinstance(error, ValidationError) else [error]
        item = self.fields.get(pointer) if pointer else None
        for message in messages:
            if item is None:
                if message not in self._non_field_errors:
                    self._non_field_errors.append(str(message))
            else:
                self._add_field_error(item, str(message))
        self._valid = False

    def cleaned(self) -> SpecFormResult:
        """Config, secrets and credential references of a valid form."""
        if not self.is_valid():
            raise ValueError("cleaned() needs a valid form; call is_valid() first.")
        assert self.cleaned_config is not None
        assert self.cleaned_secrets is not None
        assert self.credential_refs is not None
        return SpecFormResult(
            self.cleaned_config, self.cleaned_secrets, self.credential_refs
        )

    def render(self) -> SafeString:
        return render_to_string("connectors/_spec_form.html", {"form": self})

    def __str__(self) -> str:
        return self.render()

    def __html__(self) -> SafeString:
        return self.render()

    def __repr__(self) -> str:
        title = self.schema.get("title") or "spec"
        return f"<SpecForm {title!r} bound={self.is_bound}>"


def _nested_secret_keys(schema: Any, root: Mapping, depth: int = 0) -> frozenset:
    """Names of the ``airbyte_secret`` properties anywhere inside ``schema``."""
    schema = _resolve(schema, root)
    if not isinstance(schema, Mapping) or depth > 30:
        return frozenset()
    found: set[str] = set()
    for key, sub in (schema.get("properties") or {}).items():
        if isinstance(sub, Mapping) and _resolve(sub, root).get("airbyte_secret"):
            found.add(key)
        found |= _nested_secret_keys(sub, root, depth + 1)
    children = [schema.get("items")]
    for keyword in ("oneOf", "anyOf", "allOf"):
        children += schema.get(keyword) or []
    for child in children:
        found |= _nested_secret_keys(child, root, depth + 1)
    return frozenset(found)


def _unmask(posted: Any, stored: Any) -> Any:
    """``posted`` with each MASK replaced by the stored value at the same place."""
    if posted == MASK and stored is not MISSING:
        return stored
    if isinstance(posted, dict) and isinstance(stored, Mapping):
        return {k: _unmask(v, stored.get(k, MISSING)) for k, v in posted.items()}
    if isinstance(posted, list) and isinstance(stored, list):
        return [
            _unmask(v, stored[i] if i < len(stored) else MISSING)
            for i, v in enumerate(posted)
        ]
    return posted


def _to_int(text: str) -> int | None:
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    number = _to_number(text)
    if isinstance(number, float) and number.is_integer():
        return int(number)
    return None


def _to_number(text: str) -> int | float | None:
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
