"""API credentials: applications (client id + secret) and personal access tokens.

Only hashes of secrets are stored. The secrets are long random strings, so a
plain SHA-256 is enough: a slow password hash protects guessable passwords and
would cost every API request a few hundred milliseconds for nothing.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.models import BaseModel


def secret_hash(raw: str) -> str:
    """The stored form of a client secret or token: its SHA-256, in hex."""
    return hashlib.sha256(raw.encode()).hexdigest()


SEEN_ADDRESSES = 20


class ApiCredential(BaseModel):
    """Abstract: what applications and tokens share: owner, expiry, use, revoke."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=100)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    # Addresses it has been used from (the latest SEEN_ADDRESSES): only the first
    # use from an address outside them is audited.
    seen_ips = models.JSONField(default=list, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def status(self) -> str:
        """``active``, ``expired`` or ``revoked``, as lists show it."""
        if self.is_revoked:
            return "revoked"
        return "expired" if self.is_expired else "active"


class ApiApplication(ApiCredential):
    """A user's API application: exchanges its client id and secret for bearers."""

    client_id = models.CharField(max_length=64, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)

    class Meta(ApiCredential.Meta):
        verbose_name = "API application"


class PersonalAccessToken(ApiCredential):
    """A user's long-lived bearer token, sent as is on every request."""

    prefix = models.CharField(max_length=20, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)

    class Meta(ApiCredential.Meta):
        verbose_name = "personal access token"
