"""Who may change the connector catalog: console staff only.

A connector's virtualenv and its pinned version serve every workspace, so an
install, upgrade, uninstall or refresh changes what other teams run. Workspace
roles stop at their workspace; the catalog needs ``user.is_staff``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

STAFF_ONLY_MESSAGE = (
    "Only console staff can install, upgrade, uninstall or refresh connectors: "
    "the catalog is shared by every workspace. Ask a console administrator; you "
    "can pick among the installed versions on each of your sources."
)


def can_change_catalog(user: Any) -> bool:
    """Staff may change the catalog; ``None`` is the console itself (setup, CLI)."""
    if user is None:
        return True
    return bool(
        getattr(user, "is_authenticated", False)
        and getattr(user, "is_active", False)
        and getattr(user, "is_staff", False)
    )


def require_catalog_staff(user: Any) -> None:
    """Raise PermissionDenied, with a message that says why, for anyone but staff."""
    if not can_change_catalog(user):
        raise PermissionDenied(STAFF_ONLY_MESSAGE)


def sees_every_workspace(user: Any) -> bool:
    """Staff (and the console itself) see counts across every workspace."""
    return can_change_catalog(user)
