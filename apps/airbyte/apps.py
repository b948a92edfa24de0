from __future__ import annotations

from django.apps import AppConfig


class AirbyteConfig(AppConfig):
    """The Airbyte server integration: the airbyte engine, its mirror and its page.

    It sits above the domain apps: they announce changes with signals, and this app
    listens and pushes the change to the workspace's server after the commit.
    """

    name = "apps.airbyte"
    label = "airbyte"

    def ready(self) -> None:
        from apps.airbyte import receivers, workspace_delete
        from apps.airbyte.engine import AirbyteEngine
        from apps.engines import registry
        from apps.workspaces.signals import workspace_deleting

        registry.register("airbyte", AirbyteEngine)
        receivers.connect()
        workspace_deleting.connect(
            workspace_delete.workspace_deleting,
            dispatch_uid="airbyte.workspace_deleting",
        )
