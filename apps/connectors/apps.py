from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ConnectorsConfig(AppConfig):
    name = "apps.connectors"
    label = "connectors"

    def ready(self) -> None:
        from apps.connectors.catalog.builtins import ensure_builtin_destinations
        from apps.connectors.manifest_store import ConnectorManifestStore
        from apps.connectors.selectors import builtin_destination_configs
        from apps.connectors.spec_store import ConnectorSpecStore
        from apps.engines import registry

        registry.register_spec_store(ConnectorSpecStore())
        registry.register_manifest_store(ConnectorManifestStore())
        registry.register_destination_configs(builtin_destination_configs)
        post_migrate.connect(
            ensure_builtin_destinations,
            sender=self,
            dispatch_uid="connectors.ensure_builtin_destinations",
        )
