from __future__ import annotations

from django.apps import AppConfig


class EnginesConfig(AppConfig):
    """The Engine interface, the registry and (until it moves) the airbyte engine."""

    name = "apps.engines"
    label = "engines"

    def ready(self) -> None:
        from apps.engines import registry
        from apps.engines.airbyte.engine import AirbyteEngine

        registry.register("airbyte", AirbyteEngine)
