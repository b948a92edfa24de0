from __future__ import annotations

from django.apps import AppConfig


class ConnectorBuilderConfig(AppConfig):
    name = "apps.connectors.builder"
    label = "connector_builder"
    verbose_name = "Connector builder"
