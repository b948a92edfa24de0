"""jsonschema's errors, in plain words, placed on the field they are about.

A config is checked against the whole spec with ``Draft7Validator``. Each error's
JSON path (plus the missing property for ``required``) names the place it belongs
to; a failed ``oneOf`` is explained by the errors of the option the user chose
rather than by "is not valid under any of the given schemas". Messages are built
from the schema's side only, so a secret never appears in one.

:func:`config_errors` serves callers without a form (the CLI, imports); the form
uses :func:`placed_errors` with its own choice of option.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaValidationError

from apps.connectors.spec.pointers import to_pointer
from apps.connectors.spec.schema import (
    connection_specification,
    discriminator_of,
    match_option,
    resolve,
)

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


def number_text(value: Any) -> str:
    """A schema's number as people write it: ``5.0`` reads ``5``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def value_text(value: Any) -> str:
    """A schema's value in a message: text as it is, anything else as JSON."""
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
        return bounds[kind].format(number_text(limit))
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
        return "Must be one of: " + ", ".join(value_text(v) for v in limit or []) + "."
    if kind == "const":
        return f"Must be {value_text(limit)}."
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


def placed_errors(
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
                yield from placed_errors(inner, choose)
                continue
        if error.validator == "required":
            name = _missing_property(error)
            if name is not None:
                path = (*path, name)
        yield path, plain_message(error)


def validator_for(schema: Mapping[str, Any]) -> Draft7Validator:
    """A validator that checks only the formats :data:`FORMAT_CHECKER` knows."""
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
        resolved = [resolve(o, root) for o in options]
        if not all(isinstance(o, Mapping) for o in resolved):
            return None
        return match_option(resolved, instance, discriminator_of(resolved, root), root)

    try:
        errors = list(validator_for(root).iter_errors(dict(config)))
    except re.error as exc:
        return [("", f"The connector's spec has a broken pattern: {exc}.")]
    placed = {(to_pointer(p), m) for p, m in placed_errors(errors, choose)}
    return sorted(placed)
