from __future__ import annotations

from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "apps.connections"
    label = "connections"

    def ready(self) -> None:
        from apps.connections import receivers  # noqa: F401 - connects them
        from apps.connections.selectors import dashboard as connection_dashboard
        from apps.workspaces import dashboard

        dashboard.register(
            "dash", lambda workspace: connection_dashboard(workspace=workspace)
        )
