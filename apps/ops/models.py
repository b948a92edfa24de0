"""Operations rows: the Prometheus scrape token (`airbyte metrics enable`)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models

from apps.core.models import BaseModel


def token_hash(raw: str) -> str:
    """The stored form of a scrape token: its SHA-256 in hex.

    The token is a long random string, so a plain hash is enough (the API's
    personal access tokens do the same) and a scrape every few seconds costs
    nothing.
    """
    return hashlib.sha256(raw.encode()).hexdigest()


class ScrapeToken(BaseModel):
    """A bearer token Prometheus scrapes /metrics with; only its hash is kept."""

    prefix = models.CharField(max_length=20, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Scrape token {self.prefix}…"
