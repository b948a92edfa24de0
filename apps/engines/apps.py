from __future__ import annotations

from django.apps import AppConfig


class EnginesConfig(AppConfig):
    """No models: the Engine interface and its embedded and airbyte implementations."""

    name = "apps.engines"
    label = "engines"
