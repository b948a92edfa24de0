"""Reading connections and their sync history."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from uuid import UUID

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.http import Http404

from apps.connections.models import Connection, SyncAttempt, SyncJob
from apps.engines.base import EngineError
from apps.engines.registry import get_engine
from apps.workspaces.models import Workspace


def connection_list(
    *, workspace: Workspace, search: str = "", status: str = ""
) -> QuerySet[Connection]:
    """A workspace's connections with source and destination, and their latest job's
    id; page it, then ``with_last_jobs`` loads those jobs for the page only."""
    connections = (
        Connection.objects.for_workspace(workspace)
        .select_related("source__definition", "destination__definition")
        .order_by("name")
    )
    if search:
        connections = connections.filter(name__icontains=search)
    if status:
        connections = connections.filter(status=status)
    latest = SyncJob.objects.filter(connection=OuterRef("pk")).order_by(
        "-created_at", "-id"
    )
    return connections.annotate(last_job_id=Subquery(latest.values("pk")[:1]))


def with_last_jobs(connections) -> list[Connection]:
    """The given connections (a page of them) with ``last_job`` set, in one query."""
    rows = list(connections)
    jobs = SyncJob.objects.in_bulk([c.last_job_id for c in rows if c.last_job_id])
    for connection in rows:
        connection.last_job = jobs.get(connection.last_job_id)
    return rows


def connection_get(*, workspace: Workspace, public_id: UUID) -> Connection:
    """One connection of the workspace, with its streams; 404 otherwise."""
    found = (
        Connection.objects.for_workspace(workspace)
        .select_related("source__definition", "destination__definition", "workspace")
        .prefetch_related("streams")
        .filter(public_id=public_id)
        .first()
    )
    if found is None:
        raise Http404("No such connection.")
    return found


def job_list(
    *,
    connection: Connection,
    status: str = "",
    trigger: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[SyncJob]:
    """A connection's jobs, newest first, filtered as the history page asks."""
    jobs = connection.jobs.select_related("requested_by").order_by("-created_at", "-id")
    if status:
        jobs = jobs.filter(status=status)
    if trigger:
        jobs = jobs.filter(trigger=trigger)
    if since:
        jobs = jobs.filter(created_at__date__gte=since)
    if until:
        jobs = jobs.filter(created_at__date__lte=until)
    return jobs


def workspace_jobs(
    *,
    workspace: Workspace,
    status: str = "",
    connection: Connection | None = None,
    trigger: str = "",
    since: date | None = None,
    until: date | None = None,
) -> QuerySet[SyncJob]:
    """Every connection's jobs in the workspace, newest first, for the timeline."""
    jobs = (
        SyncJob.objects.filter(
            connection_id__in=Connection.objects.for_workspace(workspace).values("pk")
        )
        .select_related("connection", "requested_by")
        .order_by("-created_at", "-id")
    )
    if connection is not None:
        jobs = jobs.filter(connection=connection)
    if status:
        jobs = jobs.filter(status=status)
    if trigger:
        jobs = jobs.filter(trigger=trigger)
    if since:
        jobs = jobs.filter(created_at__date__gte=since)
    if until:
        jobs = jobs.filter(created_at__date__lte=until)
    return jobs


def workspace_job_get(*, workspace: Workspace, public_id: UUID) -> SyncJob:
    """One job as a timeline row (its connection and requester); 404 otherwise."""
    found = workspace_jobs(workspace=workspace).filter(public_id=public_id).first()
    if found is None:
        raise Http404("No such job.")
    return found


def job_get(*, workspace: Workspace, public_id: UUID) -> SyncJob:
    """One job of the workspace with its attempts (logs deferred)."""
    found = (
        SyncJob.objects.filter(connection__workspace=workspace, public_id=public_id)
        .select_related("connection__source", "connection__destination")
        .prefetch_related(
            Prefetch(
                "attempts", queryset=SyncAttempt.objects.defer("log").order_by("number")
            )
        )
        .first()
    )
    if found is None:
        raise Http404("No such job.")
    return found


def active_job(*, connection: Connection) -> SyncJob | None:
    return connection.jobs.active().order_by("-created_at").first()


def recent_since(*, workspace: Workspace, since: datetime) -> QuerySet[SyncJob]:
    return SyncJob.objects.filter(
        connection__workspace=workspace, created_at__gte=since
    )


def dashboard(*, workspace: Workspace, now: datetime | None = None) -> dict:
    """The workspace dashboard's numbers, each from one aggregate query."""
    from datetime import timedelta

    from django.db.models import Count, DateField, Sum
    from django.db.models.functions import Cast, TruncDate
    from django.utils import timezone

    now = now or timezone.now()
    # connection_id IN (subquery) lets the database use the job indexes directly.
    jobs = SyncJob.objects.filter(
        connection_id__in=Connection.objects.for_workspace(workspace).values("pk")
    )
    by_status = dict(
        Connection.objects.for_workspace(workspace)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    last_day = dict(
        jobs.filter(created_at__gte=now - timedelta(hours=24))
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    start = (now - timedelta(days=29)).date()
    since = datetime.combine(start, time.min, tzinfo=timezone.get_current_timezone())
    # On SQLite TruncDate runs a Python function per row; a cast to date is the same
    # day when the console works in UTC, and the database does it itself.
    day = (
        Cast("finished_at", DateField())
        if timezone.get_current_timezone_name() == "UTC"
        else TruncDate("finished_at")
    )
    per_day = {
        row["day"]: row["records"] or 0
        for row in jobs.filter(finished_at__gte=since)
        .annotate(day=day)
        .values("day")
        .annotate(records=Sum("records_committed"))
    }
    days = [start + timedelta(days=n) for n in range(30)]
    most = max(per_day.values(), default=0) or 1
    return {
        "connections_by_status": [
            (label, by_status.get(value, 0))
            for value, label in Connection.Status.choices
        ],
        "connection_total": sum(by_status.values()),
        "jobs_last_day": [
            (label, last_day.get(value, 0), value)
            for value, label in SyncJob.Status.choices
            if last_day.get(value)
        ],
        "records_per_day": [
            {
                "day": day,
                "records": per_day.get(day, 0),
                "x": index * 20,
                "h": round(100 * per_day.get(day, 0) / most),
                "y": 100 - round(100 * per_day.get(day, 0) / most),
            }
            for index, day in enumerate(days)
        ],
        "records_month": sum(per_day.values()),
        "running": list(
            jobs.active().select_related("connection").order_by("-created_at")[:10]
        ),
        "failures": list(
            jobs.filter(status=SyncJob.Status.FAILED)
            .select_related("connection")
            .order_by("-created_at")[:10]
        ),
    }


def destination_modes(*, destination: Any) -> tuple[str, tuple[str, ...]] | None:
    """``(name, modes)`` when the destination's spec limits its sync modes.

    A files destination cannot deduplicate; most destinations say nothing (or
    list all three), and an unreadable spec never blocks a save: the sync says
    what went wrong instead.
    """
    try:
        spec = get_engine(destination.workspace).spec(destination.connector_ref)
    except EngineError:
        return None
    modes = tuple(spec.supported_destination_sync_modes)
    if not modes or {"overwrite", "append", "append_dedup"} <= set(modes):
        return None
    return destination.name, modes
