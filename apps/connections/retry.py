"""Airbyte's retry policy for sync attempts, with the limits in settings.

A failed attempt is retried after a growing wait (10 s, 30 s, 90 s, 270 s, ...,
capped), until there have been too many failures in a row or in total. A
configuration error is never retried: only a person can fix it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings


@dataclass(frozen=True)
class RetryPolicy:
    backoff_base_seconds: float = 10
    backoff_factor: float = 3
    backoff_max_seconds: float = 30 * 60
    max_successive_failures: int = 5
    max_total_failures: int = 10

    @classmethod
    def from_settings(cls) -> RetryPolicy:
        return cls(
            backoff_base_seconds=settings.SYNC_RETRY_BACKOFF_BASE_SECONDS,
            backoff_factor=settings.SYNC_RETRY_BACKOFF_FACTOR,
            backoff_max_seconds=settings.SYNC_RETRY_BACKOFF_MAX_SECONDS,
            max_successive_failures=settings.SYNC_MAX_SUCCESSIVE_FAILURES,
            max_total_failures=settings.SYNC_MAX_TOTAL_FAILURES,
        )

    def backoff(self, failures: int) -> timedelta:
        """The wait before the next attempt after ``failures`` failed ones (>= 1)."""
        seconds = self.backoff_base_seconds * self.backoff_factor ** max(
            0, failures - 1
        )
        return timedelta(seconds=min(seconds, self.backoff_max_seconds))

    def should_retry(
        self, *, failure_type: str, successive_failures: int, total_failures: int
    ) -> bool:
        if failure_type in ("config_error", "manual_cancellation"):
            return False
        return (
            successive_failures < self.max_successive_failures
            and total_failures < self.max_total_failures
        )
