"""Signals about credentials (webhooks listens): no logic here."""

from __future__ import annotations

from django.dispatch import Signal

# A credential's secret values changed (``credential``); sent inside the
# transaction of the change, so receivers' rows commit or roll back with it.
credential_rotated = Signal()
