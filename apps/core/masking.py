"""The one mask for secrets, and a helper that applies it to nested data."""

from __future__ import annotations

import re
from typing import Any

MASK = "**********"

# Keys that hold secrets wherever they appear: connector specs mark theirs with
# ``airbyte_secret``, but audit rows and logs also see plain dictionaries.
_SECRET_KEY = re.compile(
    r"(pass(word|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential"
    r"|client[_-]?secret|auth)",
    re.IGNORECASE,
)


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def mask_secrets(value: Any, secret_keys: frozenset[str] = frozenset()) -> Any:
    """A copy of ``value`` with every secret-looking or listed key masked."""
    if isinstance(value, dict):
        return {
            key: (
                MASK
                if (key in secret_keys or is_secret_key(str(key)))
                and item not in ("", None)
                else mask_secrets(item, secret_keys)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask_secrets(item, secret_keys) for item in value]
    return value


def has_masked_secrets(config: Any) -> bool:
    """True when a config holds the mask: its secrets live elsewhere (a server)."""
    if isinstance(config, dict):
        return any(has_masked_secrets(value) for value in config.values())
    if isinstance(config, list):
        return any(has_masked_secrets(value) for value in config)
    return config == MASK
