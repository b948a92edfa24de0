"""Jobs: ``jobs/get`` (with logs), ``jobs/get_without_logs``, ``attempt/get_for_job``
and ``jobs/list`` (POST, and ``GET ?configId=`` or ``?workspaceId=``).

A job's id is its ``SyncJob.pk`` (Airbyte's are int64). A job of a workspace the
caller is not a member of is the same 404 as an unknown id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Schema

from apps.api.access import membership_for, scoped_get
from apps.api.config.shapes import (
    JOB_STATUSES,
    attempt_info,
    job_info,
    job_with_attempts,
)
from apps.api.pagination import MAX_OFFSET
from apps.api.problems import bad_request, not_found
from apps.api.public.jobs import job_for
from apps.connections.models import Connection, SyncJob
from apps.core.roles import Role

router = Router(tags=["jobs", "attempt"])

MAX_PAGE = 100
DEFAULT_PAGE = 20


class JobIdRequestBody(Schema):
    id: int


@router.post(
    "jobs/get",
    response=dict,
    operation_id="getJobInfo",
    summary="A job with its attempts and their logs",
)
def job_get(request: HttpRequest, body: JobIdRequestBody) -> dict[str, Any]:
    """``JobInfoRead`` with every attempt's log."""
    return job_info(job_for(request, body.id), with_logs=True)


@router.post(
    "jobs/get_without_logs",
    response=dict,
    operation_id="getJobInfoWithoutLogs",
    summary="A job with its attempts",
)
def job_get_without_logs(request: HttpRequest, body: JobIdRequestBody) -> dict:
    """``JobInfoRead`` without the logs (what a poll asks for)."""
    return job_info(job_for(request, body.id), with_logs=False)


class GetAttemptStatsRequestBody(Schema):
    jobId: int
    attemptNumber: int


@router.post(
    "attempt/get_for_job",
    response=dict,
    operation_id="getAttemptForJob",
    summary="One attempt of a job, with its log",
)
def attempt_for_job(
    request: HttpRequest, body: GetAttemptStatsRequestBody
) -> dict[str, Any]:
    """``AttemptInfoRead``; ``attemptNumber`` counts from 0, as Airbyte's does."""
    job = job_for(request, body.jobId)
    attempt = job.attempts.filter(number=body.attemptNumber + 1).first()
    if attempt is None:
        raise not_found(
            f"Job {job.pk} has no attempt {body.attemptNumber}.",
            resource_type="attempt",
            resource_id=f"{job.pk}/{body.attemptNumber}",
        )
    return attempt_info(attempt, with_logs=True)


# -- jobs/list ---------------------------------------------------------------------
ConfigType = Literal[
    "check_connection_source",
    "check_connection_destination",
    "discover_schema",
    "get_spec",
    "sync",
    "reset_connection",
    "refresh",
    "clear",
]
JobStatus = Literal[
    "pending", "running", "incomplete", "failed", "succeeded", "cancelled"
]


class Pagination(Schema):
    pageSize: int = DEFAULT_PAGE
    rowOffset: int = 0


class JobListRequestBody(Schema):
    configTypes: list[ConfigType]
    configId: str = ""
    pagination: Pagination | None = None
    statuses: list[JobStatus] = []
    createdAtStart: datetime | None = None
    createdAtEnd: datetime | None = None
    updatedAtStart: datetime | None = None
    updatedAtEnd: datetime | None = None
    orderByField: Literal["createdAt", "updatedAt"] = "createdAt"
    orderByMethod: Literal["ASC", "DESC"] = "DESC"


def _console_statuses(statuses: list[str]) -> list[str]:
    return [mine for mine, theirs in JOB_STATUSES.items() if theirs in statuses]


def _triggers(config_types: list[str]) -> list[str] | None:
    """The jobs the config types ask for: syncs, resets (clears), or both."""
    wanted = set()
    if "sync" in config_types:
        wanted |= {t for t in SyncJob.Trigger.values if t != SyncJob.Trigger.RESET}
    if {"reset_connection", "clear"} & set(config_types):
        wanted.add(SyncJob.Trigger.RESET)
    return sorted(wanted)


def _utc(name: str, value: datetime) -> datetime:
    """A date filter in UTC, where one at the calendar's edge overflows as a 400
    here rather than later inside the query as a 500."""
    try:
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        raise bad_request(
            f"{name} is outside the calendar once in UTC: {value.isoformat()}",
            {"errors": [{"path": name, "message": "out of range"}]},
        ) from None


def _job_page(jobs: QuerySet[SyncJob], body: JobListRequestBody) -> dict[str, Any]:
    jobs = jobs.filter(trigger__in=_triggers(body.configTypes))
    if body.statuses:
        jobs = jobs.filter(status__in=_console_statuses(body.statuses))
    for name, field, bound in (
        ("createdAtStart", "created_at", "gte"),
        ("createdAtEnd", "created_at", "lte"),
        ("updatedAtStart", "updated_at", "gte"),
        ("updatedAtEnd", "updated_at", "lte"),
    ):
        value = getattr(body, name)
        if value is not None:
            jobs = jobs.filter(**{f"{field}__{bound}": _utc(name, value)})
    field = "created_at" if body.orderByField == "createdAt" else "updated_at"
    sign = "-" if body.orderByMethod == "DESC" else ""
    page = body.pagination or Pagination()
    if not 1 <= page.pageSize <= MAX_PAGE or not 0 <= page.rowOffset <= MAX_OFFSET:
        raise bad_request(
            f"pagination.pageSize must be 1 to {MAX_PAGE} and rowOffset 0 to "
            f"{MAX_OFFSET}.",
            {"errors": [{"path": "pagination", "message": "out of range"}]},
        )
    total = jobs.count()
    rows = (
        jobs.select_related("connection")
        .prefetch_related("attempts")
        .order_by(f"{sign}{field}", f"{sign}id")[
            page.rowOffset : page.rowOffset + page.pageSize
        ]
    )
    return {"jobs": [job_with_attempts(job) for job in rows], "totalJobCount": total}


def _connection_jobs(request: HttpRequest, connection_id: str) -> QuerySet[SyncJob]:
    connection, _ = scoped_get(
        request, Connection, connection_id, Role.VIEWER, resource_type="connection"
    )
    return SyncJob.objects.filter(connection=connection)


@router.post(
    "jobs/list",
    response=dict,
    operation_id="listJobsFor",
    summary="A connection's jobs, newest first",
)
def job_list(request: HttpRequest, body: JobListRequestBody) -> dict[str, Any]:
    """``JobReadList``: ``configId`` is the connection; its attempts without logs.

    The default order is newest first (``createdAt``, ``DESC``), as Airbyte's.
    """
    if not body.configId:
        raise bad_request(
            "configId (the connection's id) is required.",
            {"errors": [{"path": "configId", "message": "required"}]},
        )
    return _job_page(_connection_jobs(request, body.configId), body)


class JobListQuery(Schema):
    configId: str = ""
    connectionId: str = ""
    workspaceId: UUID | None = None
    configTypes: list[ConfigType] = ["sync", "clear"]
    statuses: list[JobStatus] = []
    pageSize: int = DEFAULT_PAGE
    rowOffset: int = 0


@router.get(
    "jobs/list",
    response=dict,
    operation_id="listJobsForGet",
    summary="Jobs of a connection or a workspace, newest first (the console's GET)",
)
def job_list_get(request: HttpRequest, query: Query[JobListQuery]) -> dict[str, Any]:
    """The GET form of ``jobs/list``: ``?configId=`` (or ``connectionId``) for one
    connection, or ``?workspaceId=`` for every connection of a workspace."""
    connection_id = query.configId or query.connectionId
    if connection_id:
        jobs = _connection_jobs(request, connection_id)
    elif query.workspaceId is not None:
        workspace = membership_for(request, query.workspaceId, Role.VIEWER).workspace
        jobs = SyncJob.objects.filter(connection__workspace=workspace)
    else:
        raise bad_request(
            "Give configId (a connection's id) or workspaceId.",
            {"errors": [{"path": "configId", "message": "required"}]},
        )
    body = JobListRequestBody(
        configTypes=query.configTypes,
        statuses=query.statuses,
        pagination=Pagination(pageSize=query.pageSize, rowOffset=query.rowOffset),
    )
    return _job_page(jobs, body)
