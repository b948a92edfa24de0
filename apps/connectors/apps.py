from __future__ import annotations

from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "apps.connectors"
    label = "connectors"

    def ready(self) -> None:
        from apps.connectors.manifest_store import ConnectorManifestStore
        from apps.connectors.selectors import builtin_destination_configs
        from apps.connectors.spec_store import ConnectorSpecStore
        from apps.engines import registry

        registry.register_spec_store(ConnectorSpecStore())
        registry.register_manifest_store(ConnectorManifestStore())
        registry.register_destination_configs(builtin_destination_configs)
