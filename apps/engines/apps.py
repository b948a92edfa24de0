from __future__ import annotations

from django.apps import AppConfig


class EnginesConfig(AppConfig):
    """The Engine interface and the registry engines announce themselves in.

    One model, ``RuntimeStatus``: what worker hosts found about the runtimes they
    run connectors with (``runtime_status.py``). The older migrations are history
    (the Airbyte server settings moved to ``apps.airbyte``, table and data kept).
    """

    name = "apps.engines"
    label = "engines"
