"""What the connections app does when a lower app has news: no logic here."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from apps.connectors.signals import source_discovered


@receiver(source_discovered, dispatch_uid="connections.follow_source_schema")
def follow_source_schema(sender: Any, source: Any, **kwargs: Any) -> None:
    """A source's catalog was refreshed: its connections compare and follow it."""
    from apps.connections.services import connection_schema_follow

    connection_schema_follow(source_id=source.pk)
