"""Translations between the console's words and the Airbyte APIs' words.

Kept apart so the pushing, polling and importing code reads as what it does. Unknown
values coming from the server are passed through as they are (newer servers add
enum values; the console shows them rather than crash).
"""

from __future__ import annotations

from apps.connections.models import DestinationSyncMode, SyncJob, SyncMode

# (source sync mode, destination sync mode) <-> the Public API's one word.
_PUBLIC_MODES = {
    (SyncMode.FULL_REFRESH, DestinationSyncMode.OVERWRITE): "full_refresh_overwrite",
    (SyncMode.FULL_REFRESH, DestinationSyncMode.APPEND): "full_refresh_append",
    (
        SyncMode.FULL_REFRESH,
        DestinationSyncMode.APPEND_DEDUP,
    ): "full_refresh_overwrite_deduped",
    (SyncMode.INCREMENTAL, DestinationSyncMode.APPEND): "incremental_append",
    (
        SyncMode.INCREMENTAL,
        DestinationSyncMode.APPEND_DEDUP,
    ): "incremental_deduped_history",
}
_FROM_PUBLIC = {word: modes for modes, word in _PUBLIC_MODES.items()}
# Modes the console has no writer for map to their nearest relative on import.
_FROM_PUBLIC.update(
    {
        "full_refresh_update": (SyncMode.FULL_REFRESH, DestinationSyncMode.APPEND),
        "full_refresh_soft_delete": (SyncMode.FULL_REFRESH, DestinationSyncMode.APPEND),
        "incremental_update": (SyncMode.INCREMENTAL, DestinationSyncMode.APPEND),
        "incremental_soft_delete": (SyncMode.INCREMENTAL, DestinationSyncMode.APPEND),
    }
)

TERMINAL_JOB_STATUSES = {"succeeded", "failed", "cancelled"}

# Airbyte's failure origins the console's FailureOrigin knows; others -> airbyte.
_ORIGINS = {"source": SyncJob.FailureOrigin.SOURCE, "destination": "destination"}
_FAILURE_TYPES = {
    "config_error": SyncJob.FailureType.CONFIG_ERROR,
    "system_error": SyncJob.FailureType.SYSTEM_ERROR,
    "transient_error": SyncJob.FailureType.TRANSIENT_ERROR,
    "manual_cancellation": SyncJob.FailureType.MANUAL_CANCELLATION,
    "heartbeat_timeout": SyncJob.FailureType.HEARTBEAT_TIMEOUT,
    "destination_timeout": SyncJob.FailureType.HEARTBEAT_TIMEOUT,
}


def public_sync_mode(sync_mode: str, destination_sync_mode: str) -> str:
    return _PUBLIC_MODES.get(
        (SyncMode(sync_mode), DestinationSyncMode(destination_sync_mode)),
        "full_refresh_overwrite",
    )


def console_sync_modes(public_mode: str | None) -> tuple[str, str]:
    """(sync_mode, destination_sync_mode) for a Public API sync mode word."""
    found = _FROM_PUBLIC.get(public_mode or "")
    if found is None:
        return SyncMode.FULL_REFRESH, DestinationSyncMode.OVERWRITE
    return str(found[0]), str(found[1])


def failure_type(value: str | None) -> str:
    return str(_FAILURE_TYPES.get(value or "", SyncJob.FailureType.SYSTEM_ERROR))


def failure_origin(value: str | None) -> str:
    if value in _ORIGINS:
        return str(_ORIGINS[value])
    return str(SyncJob.FailureOrigin.AIRBYTE)
