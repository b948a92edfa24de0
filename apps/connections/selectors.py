"""Reading connections and their sync history."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from django.http import Http404

from apps.connections.models import Connection, SyncAttempt, SyncJob
from apps.workspaces.models import Workspace


def connection_list(
    *, workspace: Workspace, search: str = "", status: str = ""
) -> list[Connection]:
    """A workspace's connections with source, destination and their latest job."""
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
    connections = connections.annotate(last_job_id=Subquery(latest.values("pk")[:1]))
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
