"""Small readers of JSON Schema documents, shared by every layer that walks one.

Connector specs (``apps.connectors.spec``) and stream schemas (the embedded
destination writers in ``apps.engines``) both need the types a schema declares;
the engines may not import the connectors app, so the one copy lives here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def declared_types(schema: Mapping[str, Any]) -> list[str]:
    """The types ``type`` names, in order, once each and without ``null``.

    ``type`` may be one name or a list of them (``["null", "integer"]`` is how an
    optional field reads); anything else declares no type.
    """
    declared = schema.get("type")
    if isinstance(declared, str):
        types = [declared]
    elif isinstance(declared, list):
        types = [t for t in declared if isinstance(t, str)]
    else:
        types = []
    return [t for t in dict.fromkeys(types) if t != "null"]
