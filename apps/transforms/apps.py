from __future__ import annotations

from django.apps import AppConfig


class TransformsConfig(AppConfig):
    name = "apps.transforms"
    label = "transforms"
    verbose_name = "Transforms"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from apps.connections import signals as connections
        from apps.transforms import receivers

        connections.sync_job_finished.connect(
            receivers.sync_job_finished, dispatch_uid="transforms.sync_job_finished"
        )
        # Engines whose destinations build dbt targets their own way register a
        # ``ProfileSupport`` from a ``dbt_profiles`` module of their app
        # (``apps.transforms.profiles``); found here without naming any engine.
        autodiscover_modules("dbt_profiles")
