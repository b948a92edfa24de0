from __future__ import annotations

from django.apps import AppConfig


class EmbeddedEngineConfig(AppConfig):
    """The embedded engine: connectors from PyPI run here, written by our writers."""

    name = "apps.engines.embedded"
    label = "engines_embedded"

    def ready(self) -> None:
        from apps.engines import registry
        from apps.engines.embedded.destinations import BUILTIN
        from apps.engines.embedded.engine import EmbeddedEngine

        registry.register("embedded", EmbeddedEngine)
        for descriptor in BUILTIN:
            registry.register_destination(descriptor)
