"""Every task's limits are ones Celery accepts: a soft limit above the hard one makes
``apply_async`` raise, so beat could never send it (schedules.dispatch once did)."""

from __future__ import annotations

from django.conf import settings

from airbyte_console.celery import app


def test_every_console_task_has_a_soft_limit_within_its_hard_limit(db):
    app.loader.import_default_modules()
    tasks = {name: task for name, task in app.tasks.items() if "." in name}
    checked = []
    for name, task in tasks.items():
        if not type(task).__module__.startswith("apps."):
            continue
        hard = task.time_limit or settings.CELERY_TASK_TIME_LIMIT
        soft = task.soft_time_limit or settings.CELERY_TASK_SOFT_TIME_LIMIT
        assert soft <= hard, f"{name}: soft limit {soft} s > hard limit {hard} s"
        checked.append(name)
    assert "schedules.dispatch" in checked and "airbyte.job_poll" in checked
