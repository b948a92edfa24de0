"""Where a failed "Test connection" points: the form field its message is about.

A connector's check answers with one message ("password authentication failed for
user …", "could not translate host name …"). The form shows it beside the field
that most likely caused it, so the user fixes the right thing; a message that names
no field goes to the top of the settings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldRef:
    """What the matcher needs to know of one form field."""

    pointer: str
    key: str
    label: str
    secret: bool = False


# (patterns in the message, the field keys that cause it, or "secret" for any secret)
_CAUSES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (
        (r'role "[^"]*" does not exist', r"user \S+ does not exist"),
        ("username", "user", "user_name", "login"),
    ),
    (
        (r'database "[^"]*" does not exist', r"unknown database"),
        ("database", "dbname", "db_name", "db"),
    ),
    (
        (
            r"password",
            r"authentication failed",
            r"access denied",
            r"unauthori[sz]ed",
            r"invalid (api )?key",
            r"invalid token",
            r"forbidden",
            r"\b40[13]\b",
            r"credentials",
        ),
        ("password", "api_key", "token", "access_token", "secret", "@secret"),
    ),
    (
        (
            r"connection refused",
            r"port \d+ failed",
        ),
        ("port", "host"),
    ),
    (
        (
            r"could not translate host name",
            r"name or service not known",
            r"nodename nor servname",
            r"name resolution",
            r"getaddrinfo",
            r"no route to host",
            r"network is unreachable",
            r"timed out",
            r"timeout expired",
            r"could not connect",
        ),
        ("host", "hostname", "url", "base_url", "endpoint"),
    ),
    (
        (r'schema "[^"]*" does not exist',),
        ("schema",),
    ),
    (
        (r"no such file", r"not found: /", r"permission denied"),
        ("path", "destination_path", "file_path"),
    ),
)


def failure_pointer(message: str, fields: Iterable[FieldRef]) -> str | None:
    """The pointer of the field a check's failure ``message`` is about, or None."""
    fields = list(fields)
    text = (message or "").lower()
    by_key: dict[str, FieldRef] = {}
    for item in fields:
        by_key.setdefault(item.key.lower(), item)
    for patterns, keys in _CAUSES:
        if not any(re.search(pattern, text) for pattern in patterns):
            continue
        for key in keys:
            if key == "@secret":
                found = next((f for f in fields if f.secret), None)
            else:
                found = by_key.get(key)
            if found is not None:
                return found.pointer
    # A message that quotes a field's name or title is about that field.
    for item in fields:
        for name in {item.key, item.label}:
            if len(name) >= 4 and re.search(
                rf"(?<![a-z0-9_]){re.escape(name.lower())}(?![a-z0-9_])", text
            ):
                return item.pointer
    return None
