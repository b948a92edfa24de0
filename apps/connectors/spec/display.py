"""A connector's settings as the detail page lists them: titles, not raw keys.

Each row has the spec's title for its field (``SSL mode``, not ``ssl_mode``), a
nested field's titles joined (``Storage / Provider``), a ``oneOf`` choice by its
option's title, and values shown for what they are: text, numbers, yes/no, lists
joined, anything else as compact JSON. Secrets are rows too ("set, hidden"), by
their title, never by JSON pointer. Rows follow the spec's ``order``, then the
config's own keys the spec does not describe.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apps.connectors.spec.fields import label_of, option_title
from apps.connectors.spec.pointers import from_pointer, to_pointer
from apps.connectors.spec.schema import (
    connection_specification,
    const_of,
    discriminator_of,
    match_option,
    options_of,
    resolve,
)
from apps.core.masking import MASK

MAX_DEPTH = 8
# Between a nested field and its parent's title: "Storage / Provider".
SEPARATOR = " / "


@dataclass(frozen=True)
class SettingRow:
    """One line of the Settings card."""

    label: str
    text: str
    kind: str  # "text", "secret", "empty", "json"


def settings_rows(
    config: Mapping[str, Any],
    spec: Mapping[str, Any] | None,
    *,
    secret_pointers: set[str] | frozenset[str] = frozenset(),
) -> list[SettingRow]:
    """Rows for ``config`` (secrets already masked), titled from ``spec``.

    ``secret_pointers`` are the secrets stored apart from the config (or through a
    credential): they get a "set (hidden)" row under their field's title.
    """
    root = connection_specification(spec) if spec else {}
    rows: list[SettingRow] = []
    _walk(config, root, root, (), (), rows, set(secret_pointers), 0)
    return rows


def _walk(
    value: Mapping[str, Any],
    node: Any,
    root: Mapping[str, Any],
    path: tuple[str, ...],
    titles: tuple[str, ...],
    rows: list[SettingRow],
    secrets: set[str],
    depth: int,
) -> None:
    node = resolve(node, root) if node else {}
    props: dict[str, Any] = dict((node or {}).get("properties") or {})
    # The chosen option of a oneOf adds its own fields.
    options = options_of(node, root) if node else None
    if options:
        index = match_option(options, value, discriminator_of(options, root), root)
        if index is not None:
            props.update(options[index].get("properties") or {})
    keys = sorted(
        set(props) | set(value) | _secret_keys_here(secrets, path),
        key=lambda k: _order(resolve(props.get(k) or {}, root), k),
    )
    for key in keys:
        sub = resolve(props.get(key) or {}, root)
        label = SEPARATOR.join((*titles, label_of(key, sub)))
        pointer = to_pointer((*path, key))
        if pointer in secrets and value.get(key) in (None, "", MASK):
            rows.append(SettingRow(label, "set (hidden)", "secret"))
            continue
        if key not in value:
            continue
        item = value[key]
        if isinstance(item, Mapping) and depth < MAX_DEPTH:
            chosen = _option_label(sub, item, root)
            if chosen:
                rows.append(SettingRow(label, chosen, "text"))
            _walk(
                item,
                sub,
                root,
                (*path, key),
                (*titles, label_of(key, sub)),
                rows,
                secrets,
                depth + 1,
            )
            continue
        if _is_discriminator(node, key, root, options):
            continue
        rows.append(_row(label, item, sub))


def _secret_keys_here(secrets: set[str], path: tuple[str, ...]) -> set[str]:
    keys = set()
    for pointer in secrets:
        parts = from_pointer(pointer)
        if len(parts) == len(path) + 1 and parts[:-1] == path:
            keys.add(parts[-1])
    return keys


def _order(schema: Mapping[str, Any], key: str) -> tuple:
    order = schema.get("order") if isinstance(schema, Mapping) else None
    has = isinstance(order, int | float) and not isinstance(order, bool)
    return (0 if has else 1, order if has else 0, key)


def _option_label(schema: Any, value: Mapping[str, Any], root: Mapping) -> str:
    options = options_of(schema, root) if schema else None
    if not options:
        return ""
    index = match_option(options, value, discriminator_of(options, root), root)
    if index is None:
        return ""
    option = options[index]
    discriminator = discriminator_of(options, root)
    const = value.get(discriminator) if discriminator else None
    return option_title(option, const if const is not None else const_of(option), index)


def _is_discriminator(node: Any, key: str, root: Mapping, options: Any) -> bool:
    """The option's constant (``storage: local``) is already its title's row."""
    if not options:
        return False
    return discriminator_of(options, root) == key


def _row(label: str, value: Any, schema: Mapping[str, Any]) -> SettingRow:
    if value == MASK or (schema.get("airbyte_secret") and value not in (None, "")):
        return SettingRow(label, "set (hidden)", "secret")
    if value is None or value == "" or value == []:
        return SettingRow(label, "not set", "empty")
    if isinstance(value, bool):
        return SettingRow(label, "yes" if value else "no", "text")
    if isinstance(value, int | float | str):
        return SettingRow(label, str(value), "text")
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return SettingRow(label, ", ".join(str(v) for v in value), "text")
    return SettingRow(
        label, json.dumps(value, ensure_ascii=False, sort_keys=True), "json"
    )
