"""The Celery application; configuration comes from Django settings (``CELERY_*``).

The ``airbyte_console`` package imports this module first, in every process
(gunicorn's imports the package for its WSGI module, Celery for this app,
``manage.py`` for the settings), so it is also where the metrics folder is put in
the environment before prometheus-client is imported (``metrics_folder``).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from celery import Celery, signals

from airbyte_console import env

logger = logging.getLogger(__name__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "airbyte_console.settings")

# The folder this module derived (not one a person set), for the children to see.
DERIVED = "CONSOLE_METRICS_DIR_DERIVED"


def metrics_folder() -> Path:
    """Put ``PROMETHEUS_MULTIPROC_DIR`` in the environment and create the folder.

    prometheus-client picks its multiprocess mode from that variable when it is
    first imported (django-prometheus imports it while Django loads), so it cannot
    wait for the settings. Unset, it is the settings' default,
    ``CONSOLE_DATA_DIR/run/prometheus``; the settings then read the same value, and
    every child process (`serve`'s, `manage start`'s) inherits it. A child given
    another ``CONSOLE_DATA_DIR`` (a second console) derives its own folder again
    instead of writing into, or cleaning, its parent's.
    """
    data_dir = env.path(
        "CONSOLE_DATA_DIR", Path(__file__).resolve().parent.parent / "var"
    )
    inherited = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if inherited and inherited != os.environ.get(DERIVED):
        folder = env.path("PROMETHEUS_MULTIPROC_DIR", data_dir)
    else:
        folder = data_dir / "run" / "prometheus"
        os.environ[DERIVED] = str(folder)
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    values = sys.modules.get("prometheus_client.values")
    if values is not None and not getattr(values.ValueClass, "_multiprocess", False):
        # Too late for this process: its values stay its own (and a scrape of the
        # folder misses them). Only something imported before this package does it.
        logger.warning(
            "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set; "
            "this process's metrics are not shared."
        )
    # This process writes no value yet: a live gauge file under its pid is an
    # ended process's (pids are reused), whose values it would read as its own.
    for stale in folder.glob(f"gauge_live*_{os.getpid()}.db"):
        stale.unlink(missing_ok=True)
    return folder


metrics_folder()

app = Celery("airbyte_console")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_ready.connect
def _worker_ready(sender: Any = None, **kwargs: Any) -> None:
    """The worker's main process: tidy the metrics folder, serve the metrics port."""
    from apps.core import metrics
    from apps.ops.scrape import serve_worker_metrics

    metrics.tidy()
    serve_worker_metrics()


@signals.worker_process_init.connect
def _pool_process_starting(sender: Any = None, **kwargs: Any) -> None:
    """A pool process starts (forked, so the package's check above did not run)."""
    from apps.core import metrics

    metrics.process_started()


@signals.worker_process_shutdown.connect
def _pool_process_ending(sender: Any = None, **kwargs: Any) -> None:
    """A pool process ends: its running attempts leave the gauge."""
    from apps.core import metrics

    metrics.process_ended()


@signals.worker_shutdown.connect
def _worker_ending(sender: Any = None, **kwargs: Any) -> None:
    from apps.core import metrics

    metrics.process_ended()
