"""Public API: jobs (``/jobs``): start a sync or a reset, follow it, cancel it.

A job's ``jobId`` is the console's ``SyncJob.pk``: Airbyte's job ids are int64,
and clients (the console's own airbyte engine among them) keep them as numbers.
The console's job statuses map onto Airbyte's six; ``cancelling`` reads as
``running``, as Airbyte's job does until its cancel has taken effect.

Where the console answers differently from Airbyte, and why:

* An unknown job (or one in a workspace the caller is not a member of) is a 404;
  Airbyte answers 409 "Could not fulfill request" there.
* A sync of a paused or broken connection is a 409 ``state-conflict`` whose
  detail says why the connection does not sync (Airbyte's says only "Could not
  fulfill request").
* A reset while a job runs is a 409 ``try-again-later``: the console never
  cancels a running sync to start a reset (Airbyte does). A reset empties the
  destination tables of every stream, as Airbyte's does; it is a job only on
  engines that run resets as jobs (the airbyte engine). On the embedded engine a
  reset runs without a job, so there is no ``JobResponse`` to answer with: that
  is a 422 that says to reset from the console instead.
* ``startTime`` is when the job was created and ``duration`` counts from when it
  started (it is left out while the job is pending); ``lastUpdatedAt`` is given
  once the job has ended, as Airbyte's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router

from apps.api.access import member_workspaces, membership_for, principal, scoped_get
from apps.api.connectors_io import requested_workspaces
from apps.api.pagination import MAX_OFFSET, id_list, paginate
from apps.api.problems import (
    ApiProblem,
    bad_request,
    conflict,
    not_found,
    try_again_later,
    unprocessable,
)
from apps.api.public.schemas_connections import (
    JobCreateRequest,
    JobResponse,
    JobsResponse,
    JobStatus,
    JobType,
)
from apps.connections.models import Connection, SyncAttempt, SyncJob
from apps.connections.services import (
    ConnectionNotActive,
    SyncAlreadyRunning,
    connection_reset,
    sync_cancel,
    sync_request,
)
from apps.core.roles import Role
from apps.engines.registry import get_engine

router = Router(tags=["Jobs"])

Status = SyncJob.Status

# The console's job status -> Airbyte's JobStatusEnum.
PUBLIC_STATUS: dict[str, str] = {
    Status.PENDING: "pending",
    Status.RUNNING: "running",
    Status.INCOMPLETE: "incomplete",
    Status.SUCCEEDED: "succeeded",
    Status.FAILED: "failed",
    Status.CANCELLING: "running",
    Status.CANCELLED: "cancelled",
}
# Airbyte's status word -> the console's statuses it stands for (a list filter).
CONSOLE_STATUSES: dict[str, list[str]] = {}
for _console, _public in PUBLIC_STATUS.items():
    CONSOLE_STATUSES.setdefault(_public, []).append(_console)

_ORDER_FIELDS = {"createdAt": "created_at", "updatedAt": "updated_at"}


def iso_time(moment: datetime) -> str:
    """A moment as ISO 8601 in UTC with a ``Z`` (``2025-01-01T00:00:00Z``)."""
    return (
        moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    )


def iso_duration(seconds: float) -> str:
    """Whole seconds as an ISO 8601 duration, like Java's (``PT1H2M3S``, ``PT0S``)."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    return text + (f"{secs}S" if secs or not (hours or minutes) else "")


def jobs_queryset() -> QuerySet[SyncJob]:
    """Jobs with their connection, and the running attempt's counts so far (a
    job's own totals grow when an attempt ends)."""
    running = SyncAttempt.objects.filter(
        job=OuterRef("pk"), status=SyncAttempt.Status.RUNNING
    )
    return SyncJob.objects.select_related("connection__workspace").annotate(
        live_records=Subquery(running.values("records_committed")[:1]),
        live_bytes=Subquery(running.values("bytes_committed")[:1]),
    )


def job_json(job: SyncJob) -> dict[str, Any]:
    """A job as ``JobResponse``."""
    status = PUBLIC_STATUS.get(job.status, "running")
    out: dict[str, Any] = {
        "jobId": job.pk,
        "status": status,
        "jobType": "reset" if job.trigger == SyncJob.Trigger.RESET else "sync",
        "connectionId": job.connection.public_id,
        "startTime": iso_time(job.created_at),
    }
    if status != "pending":
        end = job.finished_at or timezone.now()
        out["duration"] = iso_duration(
            (end - (job.started_at or job.created_at)).total_seconds()
        )
        out["rowsSynced"] = job.records_committed + (
            getattr(job, "live_records", None) or 0
        )
        out["bytesSynced"] = job.bytes_committed + (
            getattr(job, "live_bytes", None) or 0
        )
    if job.status in SyncJob.TERMINAL_STATUSES:
        out["lastUpdatedAt"] = iso_time(job.finished_at or job.updated_at)
    return out


def job_for(request: HttpRequest, job_id: int, role: str = Role.VIEWER) -> SyncJob:
    """A job of a workspace the caller belongs to: 404 otherwise, 403 below role."""
    job = jobs_queryset().filter(pk=job_id).first() if 0 < job_id < 2**63 else None
    if job is not None:
        try:
            membership_for(request, job.connection.workspace.public_id, role)
        except ApiProblem as exc:
            if exc.status != 404:
                raise
            job = None
    if job is None:
        raise not_found(
            f"Job {job_id} not found.", resource_type="job", resource_id=str(job_id)
        )
    return job


def _reloaded(job: SyncJob) -> dict[str, Any]:
    return job_json(jobs_queryset().get(pk=job.pk))


def _moment(name: str, value: str | None) -> datetime | None:
    """A date-time filter: ISO 8601 (with an offset, else UTC), or epoch millis as
    in the spec's examples."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        # In UTC here, where a date at the calendar's edge overflows as a 400,
        # not later inside the query as a 500.
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        raise bad_request(
            f"{name} is not an ISO 8601 date-time (e.g. 2025-01-01T00:00:00Z): {value}",
            {"errors": [{"path": name, "message": "an ISO 8601 date-time"}]},
        ) from None
    return moment


def _ordering(order_by: str | None) -> list[str]:
    field, _, direction = (order_by or "createdAt|ASC").partition("|")
    if field not in _ORDER_FIELDS or direction not in {"ASC", "DESC"}:
        raise bad_request(
            f"Invalid order by clause provided: {order_by}. Use createdAt or "
            "updatedAt, then | and ASC or DESC, e.g. createdAt|DESC.",
            {"errors": [{"path": "orderBy", "message": "field|ASC or field|DESC"}]},
        )
    sign = "-" if direction == "DESC" else ""
    return [f"{sign}{_ORDER_FIELDS[field]}", f"{sign}pk"]


@router.get(
    "jobs",
    response=JobsResponse,
    operation_id="listJobs",
    summary="List Jobs by sync type",
    exclude_none=True,
)
def list_jobs(
    request: HttpRequest,
    connectionId: str | None = None,
    limit: int = 20,
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    jobType: JobType | None = None,
    workspaceIds: Query[list[str] | None] = None,
    status: JobStatus | None = None,
    createdAtStart: str | None = None,
    createdAtEnd: str | None = None,
    updatedAtStart: str | None = None,
    updatedAtEnd: str | None = None,
    orderBy: str | None = None,
) -> dict[str, Any]:
    """The caller's jobs, oldest first unless ``orderBy`` says otherwise (Airbyte's
    default); ``connectionId`` wins over ``workspaceIds``."""
    ordering = _ordering(orderBy)
    jobs = jobs_queryset()
    if connectionId:
        connection, _ = scoped_get(request, Connection, connectionId, Role.VIEWER)
        jobs = jobs.filter(connection=connection)
    else:
        jobs = jobs.filter(
            connection__workspace__in=requested_workspaces(
                member_workspaces(request), id_list(workspaceIds)
            )
        )
    if jobType == "sync":
        jobs = jobs.exclude(trigger=SyncJob.Trigger.RESET)
    elif jobType in ("reset", "clear"):
        jobs = jobs.filter(trigger=SyncJob.Trigger.RESET)
    elif jobType == "refresh":
        jobs = jobs.none()  # the console makes no refresh jobs
    if status:
        jobs = jobs.filter(status__in=CONSOLE_STATUSES[status])
    bounds = {
        "created_at__gte": _moment("createdAtStart", createdAtStart),
        "created_at__lte": _moment("createdAtEnd", createdAtEnd),
        "updated_at__gte": _moment("updatedAtStart", updatedAtStart),
        "updated_at__lte": _moment("updatedAtEnd", updatedAtEnd),
    }
    jobs = jobs.filter(**{k: v for k, v in bounds.items() if v is not None})
    page = paginate(request, jobs.order_by(*ordering), limit=limit, offset=offset)
    page["data"] = [job_json(job) for job in page["data"]]
    return page


@router.post(
    "jobs",
    response=JobResponse,
    operation_id="createJob",
    summary="Trigger a sync or reset job of a connection",
    exclude_none=True,
)
def create_job(request: HttpRequest, payload: JobCreateRequest) -> dict[str, Any]:
    """Start a sync (runner) or a reset (``clear`` is the same; editor) of a connection.

    A reset empties the destination's tables, so it needs the editor role, as the
    connection page's Reset data does; a runner only starts and cancels syncs.
    """
    user = principal(request).user
    role = Role.EDITOR if payload.jobType in ("reset", "clear") else Role.RUNNER
    connection, _ = scoped_get(request, Connection, payload.connectionId, role)
    if payload.jobType == "refresh":
        raise unprocessable("Refreshes are not supported in the public API.")
    if payload.jobType == "sync":
        try:
            job = sync_request(
                connection=connection, trigger=SyncJob.Trigger.API, actor=user
            )
        except ConnectionNotActive as exc:
            raise _not_active(connection, exc) from None
        except SyncAlreadyRunning:
            raise _already_running(connection) from None
        return _reloaded(job)
    return _reloaded(_reset(user, connection))


def _not_active(connection: Connection, exc: ConnectionNotActive) -> ApiProblem:
    detail = str(exc)
    if connection.status_reason:
        detail = f"{detail} Why it is {connection.status}: {connection.status_reason}"
    return conflict(
        detail,
        {"connectionStatus": connection.status, "reason": connection.status_reason},
    )


def _already_running(connection: Connection) -> ApiProblem:
    return try_again_later(f"A sync is already running for: {connection.public_id}")


def _reset(user: Any, connection: Connection) -> SyncJob:
    """Empty every stream's tables and state as a job; see the module docstring."""
    if not get_engine(connection.workspace).resets_as_jobs:
        raise unprocessable(
            "This workspace's engine resets a connection without a job, so the "
            "API has no job to answer with: reset the connection from its page "
            "in the console (Reset data) instead."
        )
    try:
        with transaction.atomic():
            if connection.jobs.active().exists():
                raise _already_running(connection)
            connection_reset(actor=user, connection=connection, drop_tables=True)
            job = (
                connection.jobs.filter(trigger=SyncJob.Trigger.RESET)
                .order_by("-created_at", "-pk")
                .first()
            )
    except ValidationError as exc:
        raise conflict(" ".join(exc.messages)) from None
    if job is None:  # pragma: no cover - resets_as_jobs engines always make one
        raise conflict("The reset started no job.")
    return job


@router.get(
    "jobs/{jobId}",
    response=JobResponse,
    operation_id="getJob",
    summary="Get Job status and details",
    exclude_none=True,
)
def get_job(request: HttpRequest, jobId: int) -> dict[str, Any]:
    return job_json(job_for(request, jobId, Role.VIEWER))


@router.delete(
    "jobs/{jobId}",
    response=JobResponse,
    operation_id="cancelJob",
    summary="Cancel a running Job",
    exclude_none=True,
)
def cancel_job(request: HttpRequest, jobId: int) -> dict[str, Any]:
    """Cancel a job (runner): one no worker holds ends at once, a running one
    reads as running until its worker stops it."""
    job = job_for(request, jobId, Role.RUNNER)
    try:
        job = sync_cancel(actor=principal(request).user, job=job)
    except ValidationError:
        raise conflict(
            f"Job is not currently running: job {job.pk} is "
            f"{PUBLIC_STATUS.get(job.status, job.status)}."
        ) from None
    return _reloaded(job)
