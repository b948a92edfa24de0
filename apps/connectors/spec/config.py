"""A connector's config and its secrets: split, merged back, masked for display.

The console stores the non-secret config in the row and each ``airbyte_secret``
value apart (encrypted), keyed by its JSON pointer. Services split a posted or
imported config with :func:`split_config`, selectors rebuild what a connector runs
with :func:`merge_config`, and pages and the CLI show :func:`mask_config`. No form
is involved in any of them, so they live apart from the form.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from apps.connectors.spec.pointers import MISSING, from_pointer, get_path, to_pointer
from apps.connectors.spec.schema import connection_specification, options_of, resolve
from apps.core.masking import MASK


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
