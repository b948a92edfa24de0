"""What differs by server version, switched by ``fake.version`` (#12 point 8).

``fake.version`` (``"1.5.0"``, ``"1.8.0"``, ``"2.0.0"``; reported by
``instance_configuration``) picks the Public API sync modes the fake accepts:
1.0-1.5 know the four classic modes, 1.6 adds ``full_refresh_overwrite_deduped``,
1.8 and 2.0 the ``*_update`` / ``*_soft_delete`` ones. A mode the version lacks is
a 400 ``bad-request`` problem, as the older server's request binding refuses an
enum word it does not have. Other version-dependent behaviours can be added here.
"""

from __future__ import annotations

import re
from typing import Any


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3]) or (0,)


# The Public API sync modes each version range knows (``ConnectionSyncModeEnum``).
CLASSIC_SYNC_MODES = (
    "full_refresh_overwrite",
    "full_refresh_append",
    "incremental_append",
    "incremental_deduped_history",
)
SYNC_MODES_SINCE = {
    "full_refresh_overwrite_deduped": (1, 6),
    "full_refresh_update": (1, 8),
    "full_refresh_soft_delete": (1, 8),
    "incremental_update": (1, 8),
    "incremental_soft_delete": (1, 8),
}


def sync_modes(version: str) -> list[str]:
    """The Public API sync modes a server of ``version`` accepts."""
    have = _version_tuple(version)
    return list(CLASSIC_SYNC_MODES) + [
        mode for mode, since in SYNC_MODES_SINCE.items() if have >= since
    ]


def refuse_sync_modes(version: str, configurations: Any) -> None:
    """A 400 for a stream whose ``syncMode`` the server's ``version`` does not have,
    as the older server's request binding refuses an unknown enum word."""
    from tests.airbyte_fake.core import bad_request

    known = sync_modes(version)
    for item in (configurations or {}).get("streams") or []:
        mode = (item or {}).get("syncMode")
        if mode and mode not in known:
            raise bad_request(
                "Cannot deserialize value of type `ConnectionSyncModeEnum` from "
                f'String "{mode}": not one of the values accepted for Enum class: '
                f"[{', '.join(known)}]"
            )
