"""Reading a connector's JSON Schema: ``$ref``, types, ``oneOf`` options.

Connector specs are draft-07 JSON Schema with Airbyte's extensions
(``airbyte_secret``, ``order``, ...). These helpers answer the questions the
config helpers, the form and the error placement all ask of a schema: what is the
schema inside this spec, what does a ``$ref`` point to, which types does a property
take, and which ``oneOf`` option does a stored value belong to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from apps.connectors.spec.pointers import MISSING, from_pointer
from apps.core.json_schema import declared_types


def connection_specification(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema inside a SPEC message, a connector spec, or the schema itself."""
    if spec.get("type") == "SPEC" and isinstance(spec.get("spec"), Mapping):
        spec = spec["spec"]
    if isinstance(spec.get("connectionSpecification"), Mapping):
        spec = spec["connectionSpecification"]
    return dict(spec)


def resolve(schema: Any, root: Mapping[str, Any], depth: int = 0) -> Any:
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
    merged = {**resolve(target, root, depth + 1)}
    merged.update({k: v for k, v in schema.items() if k != "$ref"})
    return merged


def types_of(schema: Mapping[str, Any]) -> list[str]:
    """The schema's types without ``null``, inferring one where ``type`` is absent."""
    types = declared_types(schema)
    if types:
        return types
    if "properties" in schema or "oneOf" in schema or "anyOf" in schema:
        return ["object"]
    if "items" in schema:
        return ["array"]
    return ["string"] if "enum" not in schema else []


def options_of(schema: Mapping[str, Any], root: Mapping[str, Any]) -> list[dict] | None:
    """The choices of a ``oneOf``/``anyOf`` made of objects, else None."""
    raw = schema.get("oneOf") or schema.get("anyOf")
    if not isinstance(raw, list) or not raw:
        return None
    options = [resolve(option, root) for option in raw]
    if all(
        isinstance(o, Mapping) and types_of(o)[:1] == ["object"] and "enum" not in o
        for o in options
    ):
        return [dict(o) for o in options]
    return None


def const_of(schema: Any) -> Any:
    """The one value a property allows (``const``, a one-item ``enum``) or MISSING."""
    if not isinstance(schema, Mapping):
        return MISSING
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and len(enum) == 1:
        return enum[0]
    return MISSING


def discriminator_of(options: list[dict], root: Mapping[str, Any]) -> str | None:
    """The property every option fixes to a different constant (``storage``), if any."""
    first = options[0].get("properties") or {}
    for key in first:
        values = [
            const_of(resolve((o.get("properties") or {}).get(key), root))
            for o in options
        ]
        if any(v is MISSING for v in values):
            continue
        if len({json.dumps(v, sort_keys=True) for v in values}) == len(values):
            return key
    return None


def match_option(
    options: list[dict], value: Any, discriminator: str | None, root: Mapping
) -> int | None:
    """Which option a stored value belongs to: by discriminator, else by its shape."""
    if not isinstance(value, Mapping):
        return None
    if discriminator and discriminator in value:
        for index, option in enumerate(options):
            prop = (option.get("properties") or {}).get(discriminator)
            if const_of(resolve(prop, root)) == value[discriminator]:
                return index
        return None
    for index, option in enumerate(options):
        props = option.get("properties") or {}
        required = option.get("required") or []
        consts_match = all(
            const_of(resolve(sub, root)) in (MISSING, value.get(key, MISSING))
            for key, sub in props.items()
            if key in value
        )
        if consts_match and all(key in value for key in required):
            return index
    return None
