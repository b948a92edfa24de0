from __future__ import annotations

from django.apps import AppConfig


class TransformsConfig(AppConfig):
    name = "apps.transforms"
    label = "transforms"
    verbose_name = "Transforms"
