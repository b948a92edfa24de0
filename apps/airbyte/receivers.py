"""The domain's signals, answered on the workspace's Airbyte server.

Sources, destinations and connections announce their changes inside their
service's transaction; these receivers hand them to ``hooks``, which is a no-op
for a workspace on another engine and pushes after the commit otherwise.
"""

from __future__ import annotations

from typing import Any

from apps.airbyte import hooks
from apps.connections import signals as connection_signals
from apps.connectors import signals as connector_signals


def connect() -> None:
    """Subscribe to the domain's signals (called once, from the app's ready())."""
    connector_signals.connector_saved.connect(
        _connector_saved, dispatch_uid="airbyte.connector_saved"
    )
    connector_signals.connector_deleted.connect(
        _connector_deleted, dispatch_uid="airbyte.connector_deleted"
    )
    connection_signals.connection_saved.connect(
        _connection_saved, dispatch_uid="airbyte.connection_saved"
    )
    connection_signals.connection_deleted.connect(
        _connection_deleted, dispatch_uid="airbyte.connection_deleted"
    )


def _connector_saved(sender: Any, obj: Any, **kwargs: Any) -> None:
    hooks.push_after_commit(obj)


def _connector_deleted(sender: Any, obj: Any, **kwargs: Any) -> None:
    hooks.delete_after_commit(obj)


def _connection_saved(sender: Any, connection: Any, **kwargs: Any) -> None:
    hooks.push_after_commit(connection)


def _connection_deleted(sender: Any, connection: Any, **kwargs: Any) -> None:
    hooks.delete_after_commit(connection)
