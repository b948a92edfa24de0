"""Celery tasks for transforms: thin, take ids, safe to run twice."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="transforms.run", acks_late=False, ignore_result=True)
def transform_run_task(run_id: int) -> None:
    """Run a pending transform if this worker wins the claim.

    Acknowledged early, like a sync: a build may outlast any broker's redelivery
    window, and the row (not the message) says whether it ran.
    """
    from django.db import close_old_connections

    from apps.transforms.services.runs import transform_run_execute

    # A build may start long after the worker's last task: never on a dead link.
    close_old_connections()
    transform_run_execute(run_id)


@shared_task(name="transforms.tick", ignore_result=True)
def transforms_tick_task() -> dict[str, int]:
    """Every 30 s: reap lost runs, resend lost ones, start due project schedules."""
    from apps.transforms.services.runs import transforms_tick

    return transforms_tick()


@shared_task(name="transforms.install", acks_late=False, ignore_result=True)
def dbt_install_task(adapter: str) -> None:
    """Install dbt for one adapter on this worker, if the row still asks for it."""
    from django.db import close_old_connections

    from apps.transforms.services.installs import dbt_install_execute

    close_old_connections()
    dbt_install_execute(adapter)
