"""Retention: what the console prunes, how old it must be, and how it goes.

Rows the console writes on its own pile up for ever unless something removes
them: jobs and their attempts, attempt logs (most of a job's size), schedule
ticks, webhook deliveries, notifications, and a few rows machines write (the
Engine page's probes, the worker hosts' runtime checks, the workers' status
reports, the registry fetches).
``retention_prune`` removes those older than their ``RETENTION_*_DAYS`` setting
(0 keeps them for ever), in small batches: each batch is a list of primary keys
changed in its own short transaction, so no lock is held for long and a web
request or a worker waits at most one batch. A dry run counts what would go and
changes nothing.

What is never pruned, whatever its age:
- an active job (pending, running, waiting to retry, cancelling), the last
  ``RETENTION_MIN_JOBS`` jobs of each connection and its last successful one
  (the connection page shows its rows per stream);
- a schedule's newest tick (the schedule list shows its outcome) and a tick still
  waiting for a running sync;
- a webhook delivery still owed (pending or being delivered);
- the newest finished probe of each kind per Airbyte server, the newest runtime
  check of each runtime, the newest registry fetch and the newest good one (the
  catalog says where it comes from);
- audit events: the trail is append-only (its queryset refuses deletes).

An attempt's log is blanked, not deleted: the row keeps its counts, times and
outcome, and its text becomes one line saying when it was pruned, which the log
page, the download and ``airbyte logs show`` show as they are.

Not one transaction: the run is many short ones by design. One audit event per
run that changed something records what it removed, by kind, with the system as
the actor (not one event per row).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.apps import apps as django_apps
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from apps.audit.services import audit_record
from apps.connections.models import SyncAttempt, SyncJob
from apps.connectors.models import RegistryFetch
from apps.engines.models import RuntimeStatus, WorkerStatus
from apps.schedules.models import Tick
from apps.webhooks.models import Notification, WebhookAttempt, WebhookDelivery

AUDIT_ACTION = "retention.pruned"
# The first words of a pruned attempt's log: the mark that it was pruned, read
# back so a second run leaves it alone.
LOG_PRUNED_PREFIX = "Log pruned after "
# "Machine" rows (probes, runtime checks, registry fetches) follow the ticks'
# setting: they are observations written on a timer, like ticks.
MACHINE_DAYS = "RETENTION_TICK_DAYS"


@dataclass
class KindReport:
    """One kind of row: how long it is kept and how many went (or would go)."""

    key: str
    label: str
    setting: str
    days: int
    rows: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.key,
            "label": self.label,
            "setting": self.setting,
            "days": self.days,
            "rows": self.rows,
            "batches": self.batches,
        }


@dataclass
class PruneReport:
    """What one run removed (or, in a dry run, would remove), kind by kind."""

    dry_run: bool
    kinds: list[KindReport] = field(default_factory=list)
    # False when the run stopped at its time budget; the next run goes on.
    complete: bool = True

    @property
    def total(self) -> int:
        return sum(kind.rows for kind in self.kinds)

    def counts(self) -> dict[str, int]:
        return {kind.key: kind.rows for kind in self.kinds}

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "complete": self.complete,
            "total": self.total,
            "kinds": [kind.as_dict() for kind in self.kinds],
        }


# --- the run: batches of primary keys, each its own transaction ----------------------


@dataclass
class _Run:
    dry_run: bool
    batch_size: int
    deadline: float | None
    report: PruneReport
    out_of_time: bool = False

    def kind(self, key: str, label: str, setting: str) -> KindReport:
        days = max(0, int(getattr(settings, setting)))
        kind = KindReport(key=key, label=label, setting=setting, days=days)
        self.report.kinds.append(kind)
        return kind

    def time_left(self) -> bool:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.out_of_time = True
            self.report.complete = False
        return not self.out_of_time

    def drain(
        self,
        candidates: QuerySet,
        *,
        count: Callable[[QuerySet], dict[str, int]],
        apply: Callable[[QuerySet], dict[str, int]],
        into: dict[str, KindReport],
    ) -> None:
        """Count ``candidates`` (dry run), or apply to them a batch at a time.

        Each batch re-applies the candidates' conditions to its primary keys, so a
        row that changed since it was listed (a job that became someone's last
        one) is left alone.
        """
        if self.dry_run:
            for key, rows in count(candidates).items():
                into[key].rows += rows
            return
        main = next(iter(into))
        while self.time_left():
            ids = list(
                candidates.order_by("pk").values_list("pk", flat=True)[
                    : self.batch_size
                ]
            )
            if not ids:
                return
            with transaction.atomic():
                done = apply(candidates.filter(pk__in=ids))
            into[main].batches += 1
            for key, rows in done.items():
                into[key].rows += rows
            if len(ids) < self.batch_size or not done.get(main):
                return


def _deleted(labels: dict[str, str]) -> Callable[[QuerySet], dict[str, int]]:
    """Delete a batch (cascades included); count by kind via the model labels."""

    def apply(batch: QuerySet) -> dict[str, int]:
        _, per_model = batch.delete()
        return {key: per_model.get(label, 0) for label, key in labels.items()}

    return apply


def _counted(key: str) -> Callable[[QuerySet], dict[str, int]]:
    return lambda candidates: {key: candidates.count()}


# --- jobs and attempt logs -----------------------------------------------------------


def _cutoff(now: datetime, kind: KindReport) -> datetime:
    return now - timedelta(days=kind.days)


def _kept_job_ids(connection_id: int) -> list[int]:
    """A connection's newest jobs and its newest successful one: kept at any age."""
    jobs = SyncJob.objects.filter(connection_id=connection_id).order_by(
        "-created_at", "-id"
    )
    keep = max(0, int(settings.RETENTION_MIN_JOBS))
    ids = list(jobs.values_list("pk", flat=True)[:keep]) if keep else []
    good = (
        jobs.filter(status=SyncJob.Status.SUCCEEDED)
        .values_list("pk", flat=True)
        .first()
    )
    if good is not None:
        ids.append(good)
    return ids


def _old_jobs(cutoff: datetime) -> QuerySet:
    return SyncJob.objects.filter(
        created_at__lt=cutoff, status__in=SyncJob.TERMINAL_STATUSES
    )


def _connections(queryset: QuerySet, field_name: str) -> list[int]:
    """The connections that have candidates (listed first: batches commit between)."""
    return list(
        queryset.order_by(field_name).values_list(field_name, flat=True).distinct()
    )


def _prune_jobs(run: _Run, now: datetime) -> None:
    jobs = run.kind("jobs", "Jobs", "RETENTION_JOB_DAYS")
    attempts = run.kind("job_attempts", "Job attempts (with their jobs)", jobs.setting)
    if not jobs.days:
        return
    old = _old_jobs(_cutoff(now, jobs))

    def count(candidates: QuerySet) -> dict[str, int]:
        return {
            "jobs": candidates.count(),
            "job_attempts": SyncAttempt.objects.filter(job__in=candidates).count(),
        }

    apply = _deleted(
        {
            SyncJob._meta.label: "jobs",
            SyncAttempt._meta.label: "job_attempts",
        }
    )
    for connection_id in _connections(old, "connection_id"):
        if not run.time_left():
            return
        candidates = old.filter(connection_id=connection_id).exclude(
            pk__in=_kept_job_ids(connection_id)
        )
        run.drain(
            candidates,
            count=count,
            apply=apply,
            into={"jobs": jobs, "job_attempts": attempts},
        )


def _log_pruned_line(days: int) -> str:
    return (
        f"{LOG_PRUNED_PREFIX}{days} days (RETENTION_LOG_DAYS); the attempt's "
        "counts, times and outcome are kept."
    )


def _prune_logs(run: _Run, now: datetime) -> None:
    logs = run.kind("attempt_logs", "Attempt logs (blanked)", "RETENTION_LOG_DAYS")
    if not logs.days:
        return
    old = (
        SyncAttempt.objects.filter(
            started_at__lt=_cutoff(now, logs),
            job__status__in=SyncJob.TERMINAL_STATUSES,
        )
        .exclude(log="")
        .exclude(log__startswith=LOG_PRUNED_PREFIX)
    )
    line = _log_pruned_line(logs.days)
    job_days = max(0, int(settings.RETENTION_JOB_DAYS))

    def apply(batch: QuerySet) -> dict[str, int]:
        return {"attempt_logs": batch.update(log=line)}

    for connection_id in _connections(old, "job__connection_id"):
        if not run.time_left():
            return
        candidates = old.filter(job__connection_id=connection_id)
        if job_days:
            # Attempts whose job goes with the jobs are left to that prune: a dry
            # run then counts each attempt once, as the run removes it.
            candidates = candidates.filter(
                Q(job__created_at__gte=now - timedelta(days=job_days))
                | Q(job_id__in=_kept_job_ids(connection_id))
            )
        run.drain(
            candidates,
            count=_counted("attempt_logs"),
            apply=apply,
            into={"attempt_logs": logs},
        )


# --- ticks, deliveries, notifications ------------------------------------------------


def _prune_ticks(run: _Run, now: datetime) -> None:
    ticks = run.kind("ticks", "Schedule ticks", "RETENTION_TICK_DAYS")
    if not ticks.days:
        return
    newer = Tick.objects.filter(
        schedule=OuterRef("schedule"), scheduled_for__gt=OuterRef("scheduled_for")
    )
    candidates = (
        Tick.objects.filter(scheduled_for__lt=_cutoff(now, ticks))
        .exclude(outcome=Tick.Outcome.WAITING)
        .filter(Exists(newer))
    )
    run.drain(
        candidates,
        count=_counted("ticks"),
        apply=_deleted({Tick._meta.label: "ticks"}),
        into={"ticks": ticks},
    )


def _prune_deliveries(run: _Run, now: datetime) -> None:
    deliveries = run.kind(
        "webhook_deliveries", "Webhook deliveries", "RETENTION_DELIVERY_DAYS"
    )
    attempts = run.kind(
        "webhook_attempts",
        "Webhook attempts (with their deliveries)",
        deliveries.setting,
    )
    if not deliveries.days:
        return
    done = (
        WebhookDelivery.Status.SUCCEEDED,
        WebhookDelivery.Status.FAILED,
        WebhookDelivery.Status.GAVE_UP,
    )
    candidates = WebhookDelivery.objects.filter(
        created_at__lt=_cutoff(now, deliveries), status__in=done
    )

    def count(rows: QuerySet) -> dict[str, int]:
        return {
            "webhook_deliveries": rows.count(),
            "webhook_attempts": WebhookAttempt.objects.filter(
                delivery__in=rows
            ).count(),
        }

    run.drain(
        candidates,
        count=count,
        apply=_deleted(
            {
                WebhookDelivery._meta.label: "webhook_deliveries",
                WebhookAttempt._meta.label: "webhook_attempts",
            }
        ),
        into={"webhook_deliveries": deliveries, "webhook_attempts": attempts},
    )


def _prune_notifications(run: _Run, now: datetime) -> None:
    # Read or not: whether a notification was read is each member's cursor, not
    # the row's, and one nobody read in 90 days will not be read now.
    notifications = run.kind(
        "notifications", "Notifications", "RETENTION_NOTIFICATION_DAYS"
    )
    if not notifications.days:
        return
    run.drain(
        Notification.objects.filter(created_at__lt=_cutoff(now, notifications)),
        count=_counted("notifications"),
        apply=_deleted({Notification._meta.label: "notifications"}),
        into={"notifications": notifications},
    )


# --- rows machines write: probes, runtime checks, registry fetches -------------------


def _prune_probes(run: _Run, now: datetime) -> None:
    # By label, not by import: the airbyte app is reached only through the
    # engine registry and signals, and this is a row-level janitor that needs
    # nothing of its behaviour (what it keeps is read from the row alone).
    probe_model = django_apps.get_model("airbyte", "AirbyteProbe")
    probes = run.kind("airbyte_probes", "Airbyte server probes", MACHINE_DAYS)
    if not probes.days:
        return
    finished = [
        s for s in probe_model.Status.values if s not in probe_model.ACTIVE_STATUSES
    ]
    newer = probe_model.objects.filter(
        server=OuterRef("server"),
        kind=OuterRef("kind"),
        status__in=finished,
        created_at__gt=OuterRef("created_at"),
    )
    # An active probe this old was lost long ago; the newest finished one of each
    # kind stays (the Engine page shows the last import).
    candidates = probe_model.objects.filter(
        created_at__lt=_cutoff(now, probes)
    ).exclude(Q(status__in=finished) & ~Exists(newer))
    run.drain(
        candidates,
        count=_counted("airbyte_probes"),
        apply=_deleted({probe_model._meta.label: "airbyte_probes"}),
        into={"airbyte_probes": probes},
    )


def _prune_runtime_statuses(run: _Run, now: datetime) -> None:
    statuses = run.kind(
        "runtime_statuses", "Runtime checks of hosts gone quiet", MACHINE_DAYS
    )
    if not statuses.days:
        return
    # A live worker host checks every minute: a row this old is a host that left.
    # The newest check of each runtime stays, so the catalog can still say when
    # and where it was last checked.
    newer = RuntimeStatus.objects.filter(
        runtime=OuterRef("runtime"), checked_at__gt=OuterRef("checked_at")
    )
    candidates = RuntimeStatus.objects.filter(
        checked_at__lt=_cutoff(now, statuses)
    ).filter(Exists(newer))
    run.drain(
        candidates,
        count=_counted("runtime_statuses"),
        apply=_deleted({RuntimeStatus._meta.label: "runtime_statuses"}),
        into={"runtime_statuses": statuses},
    )


def _prune_worker_statuses(run: _Run, now: datetime) -> None:
    statuses = run.kind("worker_statuses", "Workers gone quiet", MACHINE_DAYS)
    if not statuses.days:
        return
    # A running worker reports every few seconds; a row not refreshed for days is
    # a worker (a host, a node name) that is gone. One that comes back writes a
    # new row.
    candidates = WorkerStatus.objects.filter(reported_at__lt=_cutoff(now, statuses))
    run.drain(
        candidates,
        count=_counted("worker_statuses"),
        apply=_deleted({WorkerStatus._meta.label: "worker_statuses"}),
        into={"worker_statuses": statuses},
    )


def _prune_registry_fetches(run: _Run, now: datetime) -> None:
    fetches = run.kind("registry_fetches", "Registry fetches", MACHINE_DAYS)
    if not fetches.days:
        return
    newest = RegistryFetch.objects.order_by("-created_at", "-id")
    keep = [
        pk
        for pk in (
            newest.values_list("pk", flat=True).first(),
            newest.filter(status=RegistryFetch.Status.SUCCEEDED)
            .values_list("pk", flat=True)
            .first(),
        )
        if pk is not None
    ]
    candidates = RegistryFetch.objects.filter(
        created_at__lt=_cutoff(now, fetches)
    ).exclude(pk__in=keep)
    run.drain(
        candidates,
        count=_counted("registry_fetches"),
        apply=_deleted({RegistryFetch._meta.label: "registry_fetches"}),
        into={"registry_fetches": fetches},
    )


PRUNERS: tuple[Callable[[_Run, datetime], None], ...] = (
    _prune_jobs,
    _prune_logs,
    _prune_ticks,
    _prune_deliveries,
    _prune_notifications,
    _prune_probes,
    _prune_runtime_statuses,
    _prune_worker_statuses,
    _prune_registry_fetches,
)


def retention_prune(
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    budget_seconds: float | None = None,
) -> PruneReport:
    """Prune every kind past its retention, in batches; a dry run only counts.

    Safe to run twice, and twice at once: each batch re-checks its rows, and a
    second run finds nothing left. With ``budget_seconds`` the run stops between
    batches once the time is up (the report says it is not complete) and still
    records what it did; the next run carries on.
    """
    now = now or timezone.now()
    run = _Run(
        dry_run=dry_run,
        batch_size=max(1, int(settings.RETENTION_BATCH_SIZE)),
        deadline=None if budget_seconds is None else time.monotonic() + budget_seconds,
        report=PruneReport(dry_run=dry_run),
    )
    for prune in PRUNERS:
        prune(run, now)
    report = run.report
    if not dry_run and report.total:
        removed = {key: rows for key, rows in report.counts().items() if rows}
        changes: dict[str, Any] = {"removed": [None, removed]}
        if not report.complete:
            changes["complete"] = [None, False]
        with transaction.atomic():
            audit_record(
                actor=None,
                actor_label="system",
                action=AUDIT_ACTION,
                target_label="retention",
                changes=changes,
            )
    return report
