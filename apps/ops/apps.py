from __future__ import annotations

from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: status, self-tests, manage start/stop, health, serve, benchmarks."""

    name = "apps.ops"
    label = "ops"
