from __future__ import annotations

import logging
from typing import Any

from celery.signals import worker_process_init, worker_ready, worker_shutdown
from django.apps import AppConfig

logger = logging.getLogger(__name__)


class EmbeddedEngineConfig(AppConfig):
    """The embedded engine: connectors from PyPI run here, written by our writers."""

    name = "apps.engines.embedded"
    label = "engines_embedded"

    def ready(self) -> None:
        from apps.engines import registry
        from apps.engines.base import RUNTIME_DOCKER, RUNTIME_MANIFEST, RUNTIME_PYPI
        from apps.engines.embedded import (
            checks,  # noqa: F401 (registers them)
            docker,
            launch,
            manifests,
        )
        from apps.engines.embedded.destinations import BUILTIN
        from apps.engines.embedded.engine import EmbeddedEngine

        registry.register("embedded", EmbeddedEngine)
        # How connectors reach this host (launch.py): one module per way.
        launch.register_runtime(RUNTIME_PYPI, launch.PyPIRuntime())
        launch.register_runtime(RUNTIME_MANIFEST, manifests)
        launch.register_runtime(RUNTIME_DOCKER, docker)
        for descriptor in BUILTIN:
            registry.register_destination(descriptor)
        # A worker process that starts removes what dead workers on this host left.
        worker_process_init.connect(
            _sweep_scratch, weak=False, dispatch_uid="embedded.sweep_scratch"
        )
        # A worker that starts says whether Docker answers on its host, so the
        # catalog need not wait for the reaper (which repeats it every minute).
        worker_ready.connect(
            _record_runtime_status,
            weak=False,
            dispatch_uid="embedded.record_runtime_status",
        )
        # Each worker reports the CPU and memory it uses (`pipeline resources`).
        from apps.engines.embedded import worker_beat

        worker_ready.connect(worker_beat.start, weak=False, dispatch_uid="wb.start")
        worker_shutdown.connect(worker_beat.stop, weak=False, dispatch_uid="wb.stop")


def _sweep_scratch(**kwargs: Any) -> None:
    from apps.engines.embedded import scratch

    scratch.sweep()


def _record_runtime_status(**kwargs: Any) -> None:
    # In the worker's main process; Celery's Django fixup drops the connection
    # this opens in each pool process it forks later.
    from apps.engines.embedded.engine import EmbeddedEngine

    try:
        EmbeddedEngine.record_runtime_status()
    except Exception:  # The worker serves syncs whatever this finds.
        logger.exception("Could not record whether Docker answers on this host")
