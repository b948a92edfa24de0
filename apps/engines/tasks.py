"""Celery finds tasks in ``<app>.tasks``: the airbyte engine's live in its package."""

from apps.engines.airbyte.tasks import (  # noqa: F401
    airbyte_delete_task,
    airbyte_job_poll_task,
    airbyte_job_start_task,
    airbyte_push_task,
)
