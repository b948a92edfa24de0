"""Translations between the console's words and the Airbyte APIs' words.

Kept apart so the pushing, polling and importing code reads as what it does. Unknown
values coming from the server are passed through as they are (newer servers add
enum values; the console shows them rather than crash).

Sync modes depend on the server's version (#12 point 8): 1.0-1.5 know the four
classic modes, 1.6 adds ``full_refresh_overwrite_deduped``, 1.8 (and 2.0) the
``*_update`` / ``*_soft_delete`` modes. A mode the server's version lacks is
refused with a clear message before anything is sent (the server would answer
400); a mode the console cannot express (``*_update``, ``*_soft_delete``) is
kept on the stream as the server had it and sent back unchanged.
"""

from __future__ import annotations

import re

from apps.connections.models import DestinationSyncMode, SyncJob, SyncMode
from apps.engines.base import EngineError

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

# The classic modes every supported server knows, and the versions adding others.
_CLASSIC_MODES = frozenset(
    {
        "full_refresh_overwrite",
        "full_refresh_append",
        "incremental_append",
        "incremental_deduped_history",
    }
)
_MODES_SINCE = {
    "full_refresh_overwrite_deduped": (1, 6),
    "full_refresh_update": (1, 8),
    "full_refresh_soft_delete": (1, 8),
    "incremental_update": (1, 8),
    "incremental_soft_delete": (1, 8),
}

# Words the console maps to a relative on import, but cannot send as they are.
_NEAREST_ONLY = frozenset(
    {
        "full_refresh_update",
        "full_refresh_soft_delete",
        "incremental_update",
        "incremental_soft_delete",
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


def _version_tuple(version: str) -> tuple[int, ...] | None:
    numbers = re.findall(r"\d+", version or "")[:3]
    return tuple(int(n) for n in numbers) if numbers else None


def supports_sync_mode(public_mode: str, server_version: str) -> bool:
    """Whether a server of ``server_version`` accepts ``public_mode``.

    An unknown version (never probed) is taken as current: refusing every newer
    mode there would block servers that do have them."""
    if public_mode in _CLASSIC_MODES:
        return True
    version = _version_tuple(server_version)
    since = _MODES_SINCE.get(public_mode)
    if version is None or since is None:
        return True  # unknown version, or a mode newer than this table: pass it on
    return version >= since


def expressible(public_mode: str) -> bool:
    """Whether the console has (sync_mode, destination_sync_mode) for this word."""
    return public_mode in _FROM_PUBLIC and public_mode not in _NEAREST_ONLY


def imported_remote_mode(public_mode: str | None) -> str:
    """What an imported stream keeps as ``remote_sync_mode``: the server's word when
    the console cannot express it (sent back unchanged), else nothing."""
    word = public_mode or ""
    return "" if not word or expressible(word) else word[:40]


def push_sync_mode(
    *,
    stream_label: str,
    sync_mode: str,
    destination_sync_mode: str,
    remote_sync_mode: str,
    server_version: str,
) -> str:
    """The Public API word to send for a stream, checked against the server version.

    A mode kept from the server (``remote_sync_mode``) goes back as it came while
    the console's modes are still its nearest relative (the user did not pick
    another one); otherwise the console's mode, refused before sending when the
    server's version does not have it."""
    if remote_sync_mode and console_sync_modes(remote_sync_mode) == (
        str(sync_mode),
        str(destination_sync_mode),
    ):
        return remote_sync_mode
    word = public_sync_mode(sync_mode, destination_sync_mode)
    if not supports_sync_mode(word, server_version):
        since = ".".join(str(n) for n in _MODES_SINCE[word])
        raise EngineError(
            f"Stream {stream_label}: the sync mode {word} needs Airbyte {since} or "
            f"later, and this server runs Airbyte {server_version}. Choose another "
            "mode for this stream (for example full refresh overwrite, or "
            "incremental deduped) or upgrade the server; nothing was changed there."
        )
    return word


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
