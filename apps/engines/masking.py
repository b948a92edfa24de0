"""Keeping a config's secrets out of everything a connector prints.

A connector may echo its config in a stack trace, a log line or an error message.
Before the console stores or logs any connector output, every secret value of the
config it was given is replaced by the mask.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from apps.core.masking import MASK, is_secret_key
from apps.engines.base import ConnectorSpec

# Shorter values are left alone: masking every "a" or "no" would garble all output,
# and a secret that short protects nothing anyway.
MIN_SECRET_LENGTH = 3

_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)([^@\s]+)(@)")


def secret_values(config: Any, spec: ConnectorSpec | None = None) -> set[str]:
    """The values in ``config`` that are secrets.

    Those at paths the spec marks ``airbyte_secret``, and those under keys that
    look like secrets (password, token, api_key, ...), at any depth.
    """
    values: set[str] = set()
    if spec is not None:
        for path in spec.secret_paths():
            for value in _values_at(config, path):
                _add_leaves(value, values)
    _add_by_key(config, values)
    return {v for v in values if len(v) >= MIN_SECRET_LENGTH}


def _values_at(data: Any, path: tuple[str, ...]) -> list[Any]:
    if not path:
        return [data]
    head, rest = path[0], path[1:]
    if head == "[]":
        items = data if isinstance(data, list) else []
        return [v for item in items for v in _values_at(item, rest)]
    if isinstance(data, dict) and head in data:
        return _values_at(data[head], rest)
    return []


def _add_leaves(value: Any, into: set[str]) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _add_leaves(item, into)
    elif isinstance(value, list):
        for item in value:
            _add_leaves(item, into)
    elif value is not None and not isinstance(value, bool):
        into.add(str(value))


def _add_by_key(data: Any, into: set[str]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            if is_secret_key(str(key)) and not isinstance(value, dict | list):
                _add_leaves(value, into)
            else:
                _add_by_key(value, into)
    elif isinstance(data, list):
        for item in data:
            _add_by_key(item, into)


class SecretMasker:
    """Replaces known secret values, and passwords in URLs, with the mask."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        variants: set[str] = set()
        for value in values:
            if len(value) < MIN_SECRET_LENGTH:
                continue
            variants.add(value)
            # The same value as it appears inside JSON output (quotes, backslashes).
            variants.add(json.dumps(value)[1:-1])
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(variants, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None
        )

    def mask(self, text: str) -> str:
        if not text:
            return text
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return _URL_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", text)

    def mask_lines(self, lines: Iterable[str]) -> tuple[str, ...]:
        return tuple(self.mask(line) for line in lines)
