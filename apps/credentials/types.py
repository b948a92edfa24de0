"""The one schema of credential types: their fields, which are secret, validation.

Forms, services, the CLI and the pages all read it from here, so a type gains a field
in one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import URLValidator

from apps.core.masking import MASK

MAX_VALUE_LENGTH = 10_000
MAX_GENERIC_PAIRS = 50
GENERIC_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")


@dataclass(frozen=True)
class FieldSpec:
    """One field of a credential type."""

    name: str
    label: str
    secret: bool = False
    required: bool = True
    kind: Literal["text", "port", "url"] = "text"
    help: str = ""


@dataclass(frozen=True)
class TypeSpec:
    """A credential type: its fields, or free key/value pairs (``generic``)."""

    value: str
    label: str
    description: str
    fields: tuple[FieldSpec, ...] = ()
    key_value: bool = False

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    def is_secret(self, name: str) -> bool:
        """Every value of a key/value credential is secret."""
        if self.key_value:
            return True
        spec = self.field(name)
        return bool(spec and spec.secret)


CREDENTIAL_TYPES: dict[str, TypeSpec] = {
    spec.value: spec
    for spec in (
        TypeSpec(
            "api_key",
            "API key",
            "One key sent with every request.",
            (FieldSpec("api_key", "API key", secret=True),),
        ),
        TypeSpec(
            "basic_auth",
            "Username and password",
            "HTTP basic authentication or any username/password login.",
            (
                FieldSpec("username", "Username"),
                FieldSpec("password", "Password", secret=True),
            ),
        ),
        TypeSpec(
            "oauth2",
            "OAuth 2.0 client",
            "A client id and secret, with a refresh token when the API needs one.",
            (
                FieldSpec("client_id", "Client ID"),
                FieldSpec("client_secret", "Client secret", secret=True),
                FieldSpec(
                    "refresh_token", "Refresh token", secret=True, required=False
                ),
                FieldSpec(
                    "token_url",
                    "Token URL",
                    required=False,
                    kind="url",
                    help="Where access tokens are requested, if the API needs it.",
                ),
            ),
        ),
        TypeSpec(
            "database",
            "Database login",
            "Host, port, database name, username and password.",
            (
                FieldSpec("host", "Host"),
                FieldSpec("port", "Port", required=False, kind="port"),
                FieldSpec("database", "Database"),
                FieldSpec("username", "Username"),
                FieldSpec("password", "Password", secret=True, required=False),
            ),
        ),
        TypeSpec(
            "generic",
            "Key/value pairs",
            "Any number of named values, each one secret.",
            key_value=True,
        ),
    )
}


def type_spec(value: str) -> TypeSpec:
    """The spec of a type, or a ValidationError naming the types there are."""
    try:
        return CREDENTIAL_TYPES[value]
    except KeyError:
        raise ValidationError(
            {
                "type": f"Unknown type {value!r}: use one of "
                + ", ".join(CREDENTIAL_TYPES)
                + "."
            }
        ) from None


def required_message(field: FieldSpec) -> str:
    return f"{field.label} is required."


def validate_payload(spec: TypeSpec, data: dict[str, Any]) -> dict[str, Any]:
    """The cleaned payload for ``spec``, or a ValidationError keyed by field name.

    Values equal to the mask must already have been replaced by the stored values;
    empty optional fields are left out of the result.
    """
    if not isinstance(data, dict):
        raise ValidationError(
            {NON_FIELD_ERRORS: "The credential must be a JSON object of fields."}
        )
    if spec.key_value:
        return _validate_pairs(data)
    unknown = sorted(str(key) for key in data if spec.field(str(key)) is None)
    if unknown:
        raise ValidationError(
            {
                NON_FIELD_ERRORS: f"Unknown field(s) for type {spec.value}: "
                f"{', '.join(unknown)}. Expected: "
                f"{', '.join(f.name for f in spec.fields)}."
            }
        )
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for field in spec.fields:
        value = data.get(field.name)
        if value is None or (isinstance(value, str) and value.strip() == ""):
            if field.required:
                errors[field.name] = required_message(field)
            continue
        try:
            cleaned[field.name] = _clean_value(field, value)
        except ValidationError as exc:
            errors[field.name] = exc.messages[0]
    if errors:
        raise ValidationError(errors)
    return cleaned


def _clean_value(field: FieldSpec, value: Any) -> Any:
    if field.kind == "port":
        # JSON files give numbers, forms give strings: accept both, never a bool.
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValidationError(f"{field.label} must be a whole number.")
        try:
            port = int(str(value).strip())
        except ValueError:
            raise ValidationError(f"{field.label} must be a whole number.") from None
        if not 1 <= port <= 65535:
            raise ValidationError(f"{field.label} must be between 1 and 65535.")
        return port
    if not isinstance(value, str):
        raise ValidationError(f"{field.label} must be text.")
    # Secrets are kept exactly as typed: a leading space may be part of a password.
    cleaned = value if field.secret else value.strip()
    if len(cleaned) > MAX_VALUE_LENGTH:
        raise ValidationError(
            f"{field.label} is too long (at most {MAX_VALUE_LENGTH} characters)."
        )
    if field.kind == "url":
        try:
            URLValidator(schemes=["http", "https"])(cleaned)
        except ValidationError:
            raise ValidationError(
                f"{field.label} must be an http:// or https:// URL."
            ) from None
    return cleaned


def _validate_pairs(data: dict[str, Any]) -> dict[str, str]:
    errors: list[str] = []
    cleaned: dict[str, str] = {}
    for raw_key, value in data.items():
        key = str(raw_key).strip()
        if not GENERIC_KEY.match(key):
            errors.append(
                f"Key {key!r} is not valid: start with a letter or _, then use "
                "letters, digits, _, . or - (at most 100 characters)."
            )
        elif not isinstance(value, str) or value == "":
            errors.append(f"Give a value for {key}.")
        elif len(value) > MAX_VALUE_LENGTH:
            errors.append(f"The value of {key} is too long.")
        else:
            cleaned[key] = value
    if not data:
        errors.append("Add at least one key and value.")
    if len(data) > MAX_GENERIC_PAIRS:
        errors.append(f"At most {MAX_GENERIC_PAIRS} keys.")
    if errors:
        raise ValidationError({"pairs": errors})
    return cleaned


def hints_for(spec: TypeSpec, payload: dict[str, Any]) -> dict[str, Any]:
    """The non-secret facts shown in lists: usernames, hosts, a key's last 4."""
    if spec.key_value:
        return {"keys": sorted(payload)}
    hints: dict[str, Any] = {
        f.name: payload[f.name]
        for f in spec.fields
        if not f.secret and payload.get(f.name) not in (None, "")
    }
    api_key = payload.get("api_key")
    # The last 4 characters only of a key long enough that they give nothing away.
    if spec.value == "api_key" and isinstance(api_key, str) and len(api_key) >= 16:
        hints["last4"] = api_key[-4:]
    return hints


def hint_text(type_value: str, hints: dict[str, Any]) -> str:
    """One short line that tells credentials apart in a list."""
    if type_value == "api_key":
        return f"…{hints['last4']}" if hints.get("last4") else ""
    if type_value == "generic":
        return ", ".join(hints.get("keys", []))
    if type_value == "database":
        where = hints.get("host", "")
        if hints.get("port"):
            where += f":{hints['port']}"
        if hints.get("database"):
            where += f"/{hints['database']}"
        user = hints.get("username", "")
        return f"{user}@{where}" if user else where
    if type_value == "oauth2":
        return str(hints.get("client_id", ""))
    return str(hints.get("username", ""))


def masked_view(spec: TypeSpec, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as pages, audit rows and the CLI may show it: secrets masked."""
    return {
        key: (MASK if spec.is_secret(key) and value not in ("", None) else value)
        for key, value in payload.items()
    }
