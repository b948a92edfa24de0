"""Signals other apps subscribe to (webhooks, transforms, metrics): no logic here."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after the transaction that started a job's first attempt commits (``job_id``).
sync_job_started = Signal()
# Sent after the transaction that ended a job commits; receivers get ``job_id``.
sync_job_finished = Signal()
