"""Keeping a config's secrets out of everything a connector prints.

A connector may echo its config in a stack trace, a log line or an error message.
Before the console stores or logs any connector output, every secret value of the
config it was given is replaced by the mask.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

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


# Base64 fragments shorter than this are not masked: a few characters of
# base64 turn up by chance in ids and hashes, and a secret that short leaks
# little from its two or three edge characters.
MIN_BASE64_FRAGMENT = 6


def _base64_forms(value: str) -> set[str]:
    """What ``value`` looks like inside any base64 text that encodes it.

    Base64 writes 3 bytes as 4 characters, so the same secret encodes three
    ways depending on where it starts inside the encoded text (``user:secret``
    in an ``Authorization: Basic`` header, a token inside a JSON blob). For each
    of the three offsets, the characters decided by the secret's bytes alone
    are kept; those the neighbouring bytes also decide are dropped. Both
    alphabets (standard and URL-safe) are covered.
    """
    data = value.encode()
    forms: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        start = -(-8 * offset // 6)  # the first character of the secret's bits alone
        end = 8 * (offset + len(data)) // 6  # past the last one
        core = encoded[start:end]
        if len(core) >= MIN_BASE64_FRAGMENT:
            forms.add(core)
            forms.add(core.translate(_URLSAFE))
    return forms


_URLSAFE = str.maketrans("+/", "-_")


def secret_forms(value: str) -> set[str]:
    """Every form of ``value`` a connector's output may carry it in.

    As it is; escaped inside JSON; URL-encoded (a key sent as a query parameter:
    ``quote`` with and without ``/`` kept, and ``quote_plus``); and base64
    (Basic auth, tokens wrapped in base64).
    """
    forms = {
        value,
        json.dumps(value)[1:-1],
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        quote_plus(value, safe="/"),
        *_base64_forms(value),
    }
    return {form for form in forms if form}


def _trie_pattern(words: Iterable[str]) -> str:
    """One regex matching any of ``words``, the longest where several start alike.

    Built as a trie (``ab(?:c|d)``), so each position of a line is tested
    against each distinct first character once, not against every form of
    every secret in turn: a masker holds a dozen forms per secret.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def chain(node: dict[str, Any]) -> str:
        # A run of single children is plain text (no recursion per character:
        # a private key is thousands of them).
        text = []
        while len(node) == 1 and "" not in node:
            (char, node), *_ = node.items()
            text.append(re.escape(char))
        return "".join(text) + pattern(node)

    def pattern(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [
            re.escape(char) + chain(child)
            for char, child in sorted(node.items())
            if char
        ]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        # Greedy optional: a longer secret that starts with a shorter one is
        # masked whole.
        if ends:
            return "(?:" + body + ")?"
        return body

    return chain(trie)


class SecretMasker:
    """Replaces known secret values, and passwords in URLs, with the mask.

    Every form of each secret (:func:`secret_forms`) is computed once, here: a
    masker is made per run and its ``mask`` called on every line the connector
    prints.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        variants: set[str] = set()
        for value in values:
            if len(value) < MIN_SECRET_LENGTH:
                continue
            variants |= secret_forms(value)
        # The escaped forms of each form, as they appear inside JSON output.
        variants |= {json.dumps(v)[1:-1] for v in variants}
        self._pattern = re.compile(_trie_pattern(variants)) if variants else None

    def mask(self, text: str) -> str:
        if not text:
            return text
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        return _URL_PASSWORD.sub(rf"\g<1>{MASK}\g<3>", text)

    def mask_lines(self, lines: Iterable[str]) -> tuple[str, ...]:
        return tuple(self.mask(line) for line in lines)
