"""JSON pointers into a connector's config, and the marker for an absent value.

Secrets are stored apart from the config, keyed by the RFC 6901 pointer of the
place they came from (``/tunnel/password``); every other module of the spec
package, and the selectors that put secrets back, address a config this way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class _Missing:
    """A value absent from a config (``None`` is a value JSON can hold)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def to_pointer(path: Iterable[str | int]) -> str:
    """The RFC 6901 JSON pointer of a path: ``("a", "b")`` -> ``/a/b``."""
    return "".join(
        "/" + str(part).replace("~", "~0").replace("/", "~1") for part in path
    )


def from_pointer(pointer: str) -> tuple[str, ...]:
    """The path of a JSON pointer; ``""`` is the root."""
    if not pointer:
        return ()
    if not pointer.startswith("/"):
        raise ValueError(f"A JSON pointer starts with '/': {pointer!r}")
    return tuple(
        part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/")
    )


def get_path(data: Any, path: Iterable[str]) -> Any:
    """The value at ``path`` inside ``data``, or MISSING where there is none."""
    for part in path:
        if not isinstance(data, Mapping) or part not in data:
            return MISSING
        data = data[part]
    return data
