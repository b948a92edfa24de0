"""Signals other apps subscribe to (webhooks, airbyte, transforms): no logic here.

The ``connection_*`` signals are sent *inside* the service's transaction, so a
receiver that writes rows (webhook deliveries) or schedules work with
``transaction.on_commit`` (a push to an Airbyte server) takes part in it: nothing
happens if the change rolls back.
"""

from __future__ import annotations

from django.dispatch import Signal

# Sent after the transaction that started a job's first attempt commits (``job_id``).
sync_job_started = Signal()
# Sent after the transaction that ended a job commits; receivers get ``job_id``.
sync_job_finished = Signal()

# A connection was created or changed (``connection``); sent inside the transaction.
connection_saved = Signal()
# A connection is being deleted (``connection``, still with its ids); inside the
# transaction, before the row goes.
connection_deleted = Signal()
# Something the team should hear about happened to a connection: ``connection``,
# ``event`` ("connection.disabled" with ``reason``, "schema.changed" with ``diff``).
# Sent inside the transaction that made the change.
connection_event = Signal()
