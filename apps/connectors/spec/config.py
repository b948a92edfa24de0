"""A connector's config and its secrets: split, merged back, masked for display.

The console stores the non-secret config in the row and each ``airbyte_secret``
value apart (encrypted), keyed by its JSON pointer. Services split a posted or
imported config with :func:`split_config`, selectors rebuild what a connector runs
with :func:`merge_config`, and pages and the CLI show :func:`mask_config`. No form
is involved in any of them, so they live apart from the form.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from apps.connectors.spec.pointers import MISSING, from_pointer, get_path, to_pointer
from apps.connectors.spec.schema import connection_specification, options_of, resolve
from apps.core.masking import MASK
from apps.credentials.hosts import (
    ADDRESS_FORMATS,
    ConfigHosts,
    hosts_in,
    names_place,
)
from apps.engines.declarative import MANIFEST_KEY


def secret_pointers(spec: Mapping[str, Any]) -> set[str]:
    """JSON pointers of every ``airbyte_secret`` property, in every ``oneOf`` option."""
    root = connection_specification(spec)
    found: set[str] = set()

    def walk(schema: Any, path: tuple[str, ...], depth: int) -> None:
        schema = resolve(schema, root)
        if not isinstance(schema, Mapping) or depth > 30:
            return
        for key, sub in (schema.get("properties") or {}).items():
            sub = resolve(sub, root)
            if isinstance(sub, Mapping) and sub.get("airbyte_secret"):
                found.add(to_pointer((*path, key)))
            else:
                walk(sub, (*path, key), depth + 1)
        for option in options_of(schema, root) or []:
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
        parent = get_path(plain, path[:-1])
        if isinstance(parent, dict) and path[-1] in parent:
            secrets[pointer] = parent.pop(path[-1])
    return plain, secrets


def mask_config(config: Mapping[str, Any], spec: Mapping[str, Any]) -> dict:
    """A copy of ``config`` for display: every secret the spec names becomes MASK."""
    masked = copy.deepcopy(dict(config))
    for pointer in secret_pointers(spec):
        path = from_pointer(pointer)
        parent = get_path(masked, path[:-1])
        if isinstance(parent, dict) and parent.get(path[-1]) not in (None, "", MISSING):
            parent[path[-1]] = MASK
    return masked


# --- where secrets are sent -------------------------------------------------------

# The custom YAML manifest source keeps its manifest in the config: the manifest says
# where every request goes, so any change of it counts as a change of destination.
MANIFEST_POINTER = to_pointer((MANIFEST_KEY,))


def destination_fields(schema: Mapping[str, Any]) -> dict[str, dict]:
    """``{pointer: property schema}`` of the fields that say where secrets are sent.

    Host, port, URL, base URL, endpoint, server, account, region and the like, told
    by the property's name (``apps.credentials.hosts.names_place``) or by a
    ``format`` of ``uri``/``hostname``/``ipv4``... in the spec. This is the one list
    the rule about masked secrets (:func:`secret_retarget_errors`) reads.
    """
    root = connection_specification(schema) if schema else {}
    found: dict[str, dict] = {}

    def walk(node: Any, path: tuple[str, ...], depth: int) -> None:
        node = resolve(node, root)
        if not isinstance(node, Mapping) or depth > 30:
            return
        for key, sub in (node.get("properties") or {}).items():
            sub = resolve(sub, root)
            if not isinstance(sub, Mapping) or sub.get("airbyte_secret"):
                continue
            if names_place(key) or sub.get("format") in ADDRESS_FORMATS:
                found.setdefault(to_pointer((*path, key)), dict(sub))
            walk(sub, (*path, key), depth + 1)
        for option in options_of(node, root) or []:
            walk(option, path, depth + 1)

    walk(root, (), 0)
    return found


def _place_pointers_in(config: Any, path: tuple[str, ...] = (), depth: int = 0):
    """Pointers of place-naming keys found in a config itself (no spec needed)."""
    if not isinstance(config, Mapping) or depth > 30:
        return
    for key, value in config.items():
        if key == MANIFEST_KEY:
            continue
        if names_place(str(key)):
            yield to_pointer((*path, key))
        yield from _place_pointers_in(value, (*path, key), depth + 1)


def _title(schema: Mapping[str, Any], pointer: str) -> str:
    """The words a message uses for the field at ``pointer``: ``the host``."""
    if pointer == MANIFEST_POINTER:
        return "the manifest"
    root = connection_specification(schema) if schema else {}
    path = from_pointer(pointer)
    node: Any = root
    for part in path:
        node = resolve(node, root)
        if not isinstance(node, Mapping):
            node = None
            break
        candidates = [node, *(options_of(node, root) or [])]
        node = next(
            (
                (c.get("properties") or {})[part]
                for c in candidates
                if part in (c.get("properties") or {})
            ),
            None,
        )
    node = resolve(node, root) if node is not None else None
    title = node.get("title") if isinstance(node, Mapping) else None
    text = str(title or (path[-1] if path else "setting")).replace("_", " ").strip()
    # "Host" reads "the host"; "API key" or "URL base" keep their capitals.
    if len(text) > 1 and not text[:2].isupper():
        text = text[0].lower() + text[1:]
    return "the " + text


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def secret_retarget_errors(
    old_config: Mapping[str, Any],
    new_config: Mapping[str, Any],
    schema: Mapping[str, Any],
    kept: Iterable[str],
    *,
    old_schema: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """``{pointer: message}`` for each kept secret a changed destination would get.

    A secret left masked (``kept``: its stored value is reused) may only go where it
    was entered for: when any destination field (:func:`destination_fields`, the
    place-naming keys of either config, and a manifest) differs between the stored
    and the new config, every kept secret must be typed again. A field absent from
    a config counts as its spec default, so a form that fills in the default port
    is no change.
    """
    kept = sorted(set(kept))
    if not kept:
        return {}
    fields = {**destination_fields(old_schema or {}), **destination_fields(schema)}
    pointers = (
        set(fields)
        | set(_place_pointers_in(old_config))
        | set(_place_pointers_in(new_config))
        | {MANIFEST_POINTER}
    )

    def value(config: Mapping[str, Any], pointer: str) -> Any:
        found = get_path(config, from_pointer(pointer))
        if found is MISSING:
            return (fields.get(pointer) or {}).get("default", MISSING)
        return found

    changed = sorted(
        p for p in pointers if value(old_config, p) != value(new_config, p)
    )
    if not changed:
        return {}
    reason = _and([_title(schema or old_schema or {}, p) for p in changed])
    return {
        pointer: (
            f"Enter {_title(schema, pointer)} again: {reason} changed, and a saved "
            "secret is only sent where it was entered for."
        )
        for pointer in kept
    }


def config_hosts(config: Mapping[str, Any], schema: Mapping[str, Any]) -> ConfigHosts:
    """The hosts a full config sends to: host-like fields, URLs, ``format: uri``..."""
    formats = [
        from_pointer(p)
        for p, sub in destination_fields(schema).items()
        if sub.get("format") in ADDRESS_FORMATS
    ]
    return hosts_in(config, pointers=formats)
