"""What transforms do when a lower app has news (see apps.py): no logic here."""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


def sync_job_finished(sender: Any, job_id: int, **kwargs: Any) -> None:
    """After the commit that ended a job: start the runs that follow its sync.

    Sent in the process that ended the job (a sync worker, or the poll of an
    Airbyte server's job); it never raises, so nothing else that listens misses out.
    """
    from apps.transforms.services.runs import runs_after_sync

    try:
        runs_after_sync(job_id)
    except Exception:
        logger.exception("Could not start the transforms after sync job %s", job_id)
