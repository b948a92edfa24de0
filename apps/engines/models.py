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


class WorkerStatus(models.Model):
    """One Celery worker's latest report of the CPU and memory it uses now.

    Each worker writes its row from a thread of its main process every
    ``WORKER_STATUS_SECONDS`` (``embedded/worker_beat.py``): the whole process
    tree (the worker, its pool processes, the connectors they run) and its host's
    memory and load. ``airbyte pipeline resources`` reads the rows; a row that has
    not been refreshed for a few beats belongs to a worker that is gone.
    """

    # Celery's node name (``celery@host``), unique across the cluster.
    name = models.CharField(max_length=255, unique=True)
    host = models.CharField(max_length=255)
    pid = models.IntegerField()
    queues = models.CharField(max_length=500, blank=True)
    processes = models.PositiveIntegerField(default=0)
    # Of one core (200 = two cores busy), over the time since the last report.
    cpu_percent = models.FloatField(default=0)
    rss_bytes = models.BigIntegerField(default=0)
    host_cpus = models.PositiveIntegerField(default=0)
    host_memory_bytes = models.BigIntegerField(default=0)
    host_memory_available_bytes = models.BigIntegerField(default=0)
    host_load_1m = models.FloatField(default=0)
    started_at = models.DateTimeField()
    reported_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name}: {self.cpu_percent:.0f}% CPU, {self.rss_bytes} bytes"
