from __future__ import annotations

from django.apps import AppConfig


class EnginesConfig(AppConfig):
    """The Engine interface, its embedded and airbyte implementations and settings."""

    name = "apps.engines"
    label = "engines"
