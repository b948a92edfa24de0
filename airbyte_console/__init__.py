"""Airbyte Console: the Django project."""

from __future__ import annotations

from airbyte_console.celery import app as celery_app

__all__ = ["celery_app"]
__version__ = "0.1.0"
