"""How an audit event's ``changes`` read on the page: values, not Python reprs.

``changes`` is ``{"field": [before, after]}`` by convention (``field_changes``), but
services also record plain values (``{"trigger": "manual"}``, a list of streams).
A two-item list is read as before and after; anything else is one value. Each side
is rendered for what it is: nothing, a masked secret, text, a number, a yes/no, or
JSON for lists and objects (cut at ``MAX_CHARS`` with a note that it was cut).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from apps.core.masking import MASK

MAX_CHARS = 400


@dataclass(frozen=True)
class Shown:
    """One value as the page shows it: its text and how to style it."""

    text: str
    kind: str  # "none", "empty", "secret", "text", "number", "bool", "json"
    cut: bool = False


@dataclass(frozen=True)
class ChangeLine:
    """One key of an event's changes: a before/after pair or a single value."""

    key: str
    before: Shown | None
    after: Shown | None
    value: Shown | None


def shown(value: Any) -> Shown:
    """``value`` as text a person reads, with its kind for the template."""
    if value is None:
        return Shown("none", "none")
    if isinstance(value, bool):
        return Shown("yes" if value else "no", "bool")
    if isinstance(value, int | float):
        return Shown(f"{value:,}" if isinstance(value, int) else str(value), "number")
    if isinstance(value, str):
        if value == MASK:
            return Shown("secret (hidden)", "secret")
        if value == "":
            return Shown("empty", "empty")
        return _cut(value, "text")
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return _cut(text, "json")


def _cut(text: str, kind: str) -> Shown:
    if len(text) <= MAX_CHARS:
        return Shown(text, kind)
    return Shown(text[:MAX_CHARS] + "…", kind, cut=True)


def change_lines(changes: dict[str, Any] | None) -> list[ChangeLine]:
    """Each key of ``changes`` as a line: before → after, or one value."""
    lines = []
    for key, value in (changes or {}).items():
        if isinstance(value, list) and len(value) == 2:
            lines.append(ChangeLine(key, shown(value[0]), shown(value[1]), None))
        else:
            lines.append(ChangeLine(key, None, None, shown(value)))
    return lines
