"""Celery tasks of the connector builder: thin, take ids, safe to run twice."""

from __future__ import annotations

from celery import shared_task


@shared_task(
    name="connector_builder.run",
    ignore_result=True,
    time_limit=900,
    soft_time_limit=870,
)
def builder_run_task(project_pk: int, run_id: str) -> None:
    """Validate or test-read a builder project's draft; a replaced run does nothing."""
    from apps.connectors.builder.services import builder_run

    builder_run(project_pk=project_pk, run_id=run_id)
