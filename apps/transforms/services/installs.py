"""Installing dbt for an adapter, asked from the Transforms page or the CLI.

The virtualenv lives on each worker host (``dbt.install``); the ``DbtInstall`` row
shows what the last install asked did, with its log, so the page can follow it.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.connections.lifecycle import worker_name
from apps.transforms.dbt.install import ADAPTERS
from apps.transforms.models import DbtInstall

logger = logging.getLogger(__name__)

Status = DbtInstall.Status
# The log is written at most this often while pip runs.
FLUSH_SECONDS = 1.0


def _check_adapter(adapter: str) -> None:
    if adapter not in ADAPTERS:
        raise ValidationError(
            f"“{adapter}” is not a dbt adapter the console installs; use one of "
            f"{', '.join(ADAPTERS)}."
        )


@transaction.atomic
def dbt_install_request(*, adapter: str, actor: AbstractBaseUser | None) -> DbtInstall:
    """Ask a worker to install dbt for ``adapter``; the row shows the progress."""
    _check_adapter(adapter)
    install, _ = DbtInstall.objects.select_for_update().get_or_create(adapter=adapter)
    recent = timezone.now() - timedelta(seconds=settings.DBT_INSTALL_TIMEOUT + 60)
    if (
        install.status == Status.INSTALLING
        and install.started_at
        and install.started_at > recent
    ):
        raise ValidationError(
            f"dbt-{adapter} is being installed now; wait for that install to end."
        )
    before = install.status
    install.status = Status.PENDING
    install.requested_by = (
        actor if actor is not None and actor.is_authenticated else None
    )
    install.message = "Waiting for a worker."
    install.log = ""
    install.worker = ""
    install.started_at = install.finished_at = None
    install.save()
    audit_record(
        actor=actor,
        action="transform.dbt_install",
        target=install,
        target_label=f"dbt-{adapter}",
        changes={"status": [before, install.status]},
    )
    transaction.on_commit(lambda: _enqueue(adapter))
    return install


def _enqueue(adapter: str) -> None:
    from apps.transforms.tasks import dbt_install_task

    try:
        dbt_install_task.apply_async(args=[adapter], retry=False)
    except Exception:  # the broker is down: asking again from the page resends it
        logger.warning("Could not enqueue the dbt-%s install", adapter, exc_info=True)


class _Log:
    """The install's output, capped to its tail, written at most once a second."""

    def __init__(self, install_id: int) -> None:
        self.install_id = install_id
        self.lines: list[str] = []
        self.size = 0
        self.written = 0.0

    def __call__(self, line: str) -> None:
        line = line.rstrip()
        self.lines.append(line)
        self.size += len(line.encode()) + 1
        while self.size > settings.TRANSFORM_LOG_MAX_BYTES and len(self.lines) > 1:
            self.size -= len(self.lines.pop(0).encode()) + 1
        if time.monotonic() - self.written >= FLUSH_SECONDS:
            self.flush()

    def text(self) -> str:
        return "\n".join(self.lines)

    def flush(self) -> None:
        self.written = time.monotonic()
        DbtInstall.objects.filter(pk=self.install_id).update(log=self.text())


def dbt_install_execute(adapter: str) -> DbtInstall:
    """Worker: install dbt for ``adapter`` if the row waits for it; safe twice.

    The row is claimed with a conditional UPDATE (pending -> installing); a second
    delivery finds nothing to claim and returns the row as it is.
    """
    from apps.transforms.dbt.install import DbtInstallError, dbt_install

    _check_adapter(adapter)
    DbtInstall.objects.get_or_create(adapter=adapter)
    claimed = DbtInstall.objects.filter(adapter=adapter, status=Status.PENDING).update(
        status=Status.INSTALLING,
        worker=worker_name(),
        started_at=timezone.now(),
        message="Installing.",
    )
    install = DbtInstall.objects.get(adapter=adapter)
    if not claimed:
        return install
    log = _Log(install.pk)
    error = ""
    env = None
    try:
        env = dbt_install(adapter, on_output=log, timeout=settings.DBT_INSTALL_TIMEOUT)
    except DbtInstallError as exc:
        error = exc.message
    except Exception as exc:  # record why it died rather than leave it "installing"
        logger.exception("The dbt-%s install crashed", adapter)
        error = f"The install stopped unexpectedly ({type(exc).__name__})."
    if error:
        log(f"Failed: {error}")
    return _finish(install.pk, log=log.text(), error=error, env=env)


@transaction.atomic
def _finish(install_id: int, *, log: str, error: str, env: object) -> DbtInstall:
    install = DbtInstall.objects.select_for_update().get(pk=install_id)
    before = install.status
    install.status = Status.FAILED if error else Status.INSTALLED
    install.message = error or "Installed."
    install.log = log
    install.finished_at = timezone.now()
    if env is not None:
        install.core_version = getattr(env, "core_version", "")
        install.adapter_version = getattr(env, "adapter_version", "")
        install.message = (
            f"dbt-core {install.core_version} with dbt-{install.adapter} "
            f"{install.adapter_version} is installed on {install.worker}."
        )
    install.save()
    audit_record(
        actor=None,
        actor_label="worker",
        action=f"transform.dbt_install_{'failed' if error else 'done'}",
        target=install,
        target_label=f"dbt-{install.adapter}",
        changes={"status": [before, install.status]},
        outcome="failure" if error else "success",
    )
    return install
