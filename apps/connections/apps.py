from __future__ import annotations

from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "apps.connections"
    label = "connections"

    def ready(self) -> None:
        from apps.connections import (
            metrics_receivers,
            receivers,  # noqa: F401 - connects them
            signals,
        )
        from apps.connections.selectors import dashboard as connection_dashboard
        from apps.workspaces import dashboard

        signals.sync_job_started.connect(
            metrics_receivers.sync_job_started, dispatch_uid="metrics.sync_job_started"
        )
        signals.sync_job_finished.connect(
            metrics_receivers.sync_job_finished,
            dispatch_uid="metrics.sync_job_finished",
        )
        dashboard.register(
            "dash", lambda workspace: connection_dashboard(workspace=workspace)
        )
