from __future__ import annotations

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "apps.webhooks"
    label = "webhooks"

    def ready(self) -> None:
        from apps.connections import signals as connections
        from apps.credentials import signals as credentials
        from apps.webhooks import receivers

        connections.sync_job_started.connect(
            receivers.sync_job_started, dispatch_uid="webhooks.sync_job_started"
        )
        connections.sync_job_finished.connect(
            receivers.sync_job_finished, dispatch_uid="webhooks.sync_job_finished"
        )
        connections.connection_event.connect(
            receivers.connection_event, dispatch_uid="webhooks.connection_event"
        )
        credentials.credential_rotated.connect(
            receivers.credential_rotated, dispatch_uid="webhooks.credential_rotated"
        )
