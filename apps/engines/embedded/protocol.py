"""The Airbyte protocol as connectors print it: one JSON message per stdout line.

Parsing is forgiving on purpose: connectors print banners, warnings and stray
``print()`` output on stdout. A line that is not a JSON object with a ``type`` is
kept as a log line, never fatal (reliability checklist item 11).
"""

from __future__ import annotations

from typing import Any

import orjson

from apps.engines.base import (
    CheckResult,
    ConnectorSpec,
    DiscoveredCatalog,
    DiscoveredStream,
    EngineError,
)

SPEC = "SPEC"
CONNECTION_STATUS = "CONNECTION_STATUS"
CATALOG = "CATALOG"
LOG = "LOG"
TRACE = "TRACE"
RECORD = "RECORD"
STATE = "STATE"
CONTROL = "CONTROL"

MESSAGE_TYPES = frozenset(
    {SPEC, CONNECTION_STATUS, CATALOG, LOG, TRACE, RECORD, STATE, CONTROL}
)


def parse_line(line: bytes) -> dict[str, Any] | None:
    """The message on one stdout line, or None when the line is not a message."""
    stripped = line.strip()
    if not stripped.startswith(b"{"):
        return None
    try:
        message = orjson.loads(stripped)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, dict) or message.get("type") not in MESSAGE_TYPES:
        return None
    return message


def trace_error(message: dict[str, Any]) -> tuple[str, str] | None:
    """``(text, failure_type)`` of an ERROR trace message, else None."""
    trace = message.get("trace") or {}
    if trace.get("type") != "ERROR":
        return None
    error = trace.get("error") or {}
    text = str(error.get("message") or "").strip()
    internal = str(error.get("internal_message") or "").strip()
    if internal and (not text or text in GENERIC_ERROR_MESSAGES):
        # The CDK's catch-all says only "see the logs"; its internal message
        # says what went wrong (a manifest the CDK refused, a bad field).
        text = f"{text} {internal}".strip() if text else internal
    return text or "The connector reported an error.", str(
        error.get("failure_type") or "system_error"
    )


# What the CDK says when it has nothing better for the user (airbyte_cdk's
# AirbyteTracedException default): the internal message is worth adding.
GENERIC_ERROR_MESSAGES = frozenset(
    {"Something went wrong in the connector. See the logs for more details."}
)


def log_text(message: dict[str, Any]) -> str:
    """A LOG message as one line: ``LEVEL message``."""
    log = message.get("log") or {}
    return f"{log.get('level', 'INFO')} {log.get('message', '')}".rstrip()


def spec_from_message(message: dict[str, Any]) -> ConnectorSpec:
    """The ConnectorSpec in a SPEC message."""
    return spec_from_dict(message.get("spec") or {})


def spec_from_dict(spec: dict[str, Any]) -> ConnectorSpec:
    """A ConnectorSpec from the protocol's ``spec`` object (as cached)."""
    schema = spec.get("connectionSpecification")
    if not isinstance(schema, dict):
        raise EngineError("The connector's spec has no connectionSpecification.")
    return ConnectorSpec(
        connection_specification=schema,
        documentation_url=str(spec.get("documentationUrl") or ""),
        supported_destination_sync_modes=tuple(
            spec.get("supported_destination_sync_modes") or ()
        ),
        supports_incremental=spec.get("supportsIncremental"),
        advanced_auth=spec.get("advanced_auth"),
    )


def check_from_message(message: dict[str, Any]) -> CheckResult:
    """The CheckResult in a CONNECTION_STATUS message."""
    status = message.get("connectionStatus") or {}
    ok = status.get("status") == "SUCCEEDED"
    text = str(status.get("message") or "")
    if not ok and not text:
        text = "The connector refused the configuration without saying why."
    return CheckResult(ok=ok, message=text)


def catalog_from_message(message: dict[str, Any]) -> DiscoveredCatalog:
    """The DiscoveredCatalog in a CATALOG message."""
    streams = []
    for raw in (message.get("catalog") or {}).get("streams") or []:
        if not isinstance(raw, dict) or not raw.get("name"):
            continue
        streams.append(
            DiscoveredStream(
                name=str(raw["name"]),
                namespace=raw.get("namespace"),
                json_schema=raw.get("json_schema") or {},
                supported_sync_modes=tuple(
                    raw.get("supported_sync_modes") or ("full_refresh",)
                ),
                source_defined_cursor=bool(raw.get("source_defined_cursor")),
                default_cursor_field=tuple(raw.get("default_cursor_field") or ()),
                source_defined_primary_key=tuple(
                    tuple(key) for key in raw.get("source_defined_primary_key") or ()
                ),
                is_resumable=raw.get("is_resumable"),
            )
        )
    return DiscoveredCatalog(streams=tuple(streams))
