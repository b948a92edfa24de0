from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"

    def ready(self) -> None:
        from apps.connections import signals

        signals.sync_job_finished.connect(
            _sync_job_finished, dispatch_uid="webhooks.sync_job_finished"
        )
        # Sent, once connections has it, after the commit that starts a job.
        started = getattr(signals, "sync_job_started", None)
        if started is not None:
            started.connect(_sync_job_started, dispatch_uid="webhooks.sync_job_started")


def _sync_job_finished(sender: Any, job_id: int, **kwargs: Any) -> None:
    # Runs after the job's transaction committed; the service never raises.
    from apps.webhooks.services import webhook_sync_event

    webhook_sync_event(job_id)


def _sync_job_started(sender: Any, job_id: int, **kwargs: Any) -> None:
    from apps.webhooks.models import Event
    from apps.webhooks.services import webhook_sync_event

    webhook_sync_event(job_id, Event.SYNC_STARTED)
