"""Signals other apps subscribe to (airbyte): no logic here."""

from __future__ import annotations

from django.dispatch import Signal

# A workspace is being deleted: ``workspace`` (still with its rows) and
# ``delete_on_server`` (the admin asked to delete its objects on an Airbyte server
# too). Sent inside the deleting transaction, before the rows go, so a receiver
# can note what it needs and act with ``transaction.on_commit``.
workspace_deleting = Signal()
