"""Signals about sources and destinations (the airbyte app listens): no logic here.

Both are sent inside the service's transaction with ``obj``, the source or
destination; receivers schedule their own work with ``transaction.on_commit``.
"""

from __future__ import annotations

from django.dispatch import Signal

# A source or destination was created or its settings changed.
connector_saved = Signal()
# A source or destination is being deleted (``obj`` still has its ids).
connector_deleted = Signal()
# A worker refreshed a source's catalog (``source``; its record is committed): the
# connections app compares each connection with it and applies their policies.
source_discovered = Signal()
