"""What the built-in destinations share: their spec shape, config validation, names.

Each destination module (``postgres.py``, ``duckdb.py``) builds its descriptor from
these, so every built-in destination validates a config and words a failure alike.
"""

from __future__ import annotations

import uuid
from typing import Any

import jsonschema

from apps.engines.base import CheckResult, ConnectorSpec
from apps.engines.masking import SecretMasker, secret_values

# Every writer of the embedded engine supports the three modes (writers/base.py).
SYNC_MODES = ("overwrite", "append", "append_dedup")


def connector_spec(schema: dict[str, Any], docs_url: str) -> ConnectorSpec:
    """The spec a built-in destination answers, as a connector's SPEC would."""
    return ConnectorSpec(
        connection_specification=schema,
        documentation_url=docs_url,
        supported_destination_sync_modes=SYNC_MODES,
        supports_incremental=True,
    )


def invalid_config(
    schema: dict[str, Any], config: dict[str, Any]
) -> CheckResult | None:
    """A failed check naming the first field the config gets wrong, or None.

    A check validates before it connects, so a typo never reaches a server and the
    user reads which field to fix, with the config's secrets masked.
    """
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(config),
        key=lambda e: list(e.path),
    )
    if not errors:
        return None
    first = errors[0]
    where = ".".join(str(p) for p in first.path) or "config"
    masker = SecretMasker(secret_values(config))
    return CheckResult(ok=False, message=masker.mask(f"{where}: {first.message}"))


def scratch_table() -> str:
    """A table name no user table has, for a check to create and drop."""
    return f"_airbyte_console_check_{uuid.uuid4().hex[:12]}"


def first_line(exc: Exception) -> str:
    """The first line of a driver's error, which is the one a user can act on."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
