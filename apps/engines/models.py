"""What worker hosts found about the runtimes they run connectors with."""

from __future__ import annotations

from django.db import models


class RuntimeStatus(models.Model):
    """One worker host's last check of a runtime (is Docker's daemon answering).

    Workers write it (on start and from the reaper, every minute); the web reads
    the newest row instead of asking itself: the web host may have no Docker at
    all, and asking costs a process in a request.
    """

    runtime = models.CharField(max_length=20)
    host = models.CharField(max_length=255)
    available = models.BooleanField()
    # Why it is not available, in words for the catalog page ("" when it is).
    reason = models.CharField(max_length=500, blank=True)
    checked_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["runtime", "host"], name="engines_runtime_status_per_host"
            )
        ]
        indexes = [
            models.Index(
                fields=["runtime", "-checked_at"], name="engines_runtime_newest"
            )
        ]

    def __str__(self) -> str:
        state = "available" if self.available else f"unavailable: {self.reason}"
        return f"{self.runtime} on {self.host}: {state}"
