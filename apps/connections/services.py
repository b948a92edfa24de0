"""Every write to connections and sync jobs, each with its audit event."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import asdict
from functools import reduce
from operator import or_
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.services import audit_record, field_changes
from apps.connections import lifecycle, selectors, signals
from apps.connections.catalog import (
    SchemaDiff,
    StreamChoice,
    catalog_streams,
    default_choice,
    schema_diff,
    validate_choices,
)
from apps.connections.models import (
    QUEUE_NAME_MESSAGE,
    QUEUE_NAME_PATTERN,
    Connection,
    ConnectionState,
    ConnectionStream,
    SyncJob,
)
from apps.connectors.models import Destination, Source
from apps.engines.registry import get_engine

logger = logging.getLogger(__name__)


class SyncAlreadyRunning(Exception):
    """The connection already has an active job; at most one runs at a time."""

    def __init__(self, job: SyncJob | None) -> None:
        self.job = job
        super().__init__("A sync of this connection is already running or queued.")


class ConnectionNotActive(Exception):
    """The connection is paused or broken, so it does not sync."""


def _check_same_workspace(workspace, source: Source, destination: Destination) -> None:
    if source.workspace_id != workspace.pk or destination.workspace_id != workspace.pk:
        raise ValidationError("The source and destination must be in this workspace.")


def _checked_queue(queue: str) -> str:
    """The connection's Celery queue as given; blank is the shared one."""
    queue = (queue or "").strip()
    if queue and not re.fullmatch(QUEUE_NAME_PATTERN, queue):
        raise ValidationError({"queue": QUEUE_NAME_MESSAGE})
    return queue


def _save_streams(
    connection: Connection, source: Source, choices: list[StreamChoice]
) -> None:
    streams = catalog_streams(source.catalog)
    existing = {(s.namespace, s.name): s for s in connection.streams.all()}
    keep = set()
    for choice in choices:
        key = (choice.namespace, choice.name)
        keep.add(key)
        row = existing.get(key) or ConnectionStream(
            connection=connection, name=choice.name, namespace=choice.namespace
        )
        row.selected = choice.selected
        if (row.sync_mode, row.destination_sync_mode) != (
            choice.sync_mode,
            choice.destination_sync_mode,
        ):
            row.remote_sync_mode = ""  # a mode chosen here replaces Airbyte's own
        row.sync_mode = choice.sync_mode
        row.destination_sync_mode = choice.destination_sync_mode
        row.cursor_field = choice.cursor_field
        row.primary_key = choice.primary_key
        row.selected_fields = choice.selected_fields
        row.json_schema = (streams.get(key) or {}).get("json_schema") or row.json_schema
        row.save()
    stale = [row.pk for key, row in existing.items() if key not in keep]
    if stale:
        ConnectionStream.objects.filter(pk__in=stale).delete()


def _stream_summary(connection: Connection) -> list[dict[str, Any]]:
    return [
        {
            "stream": str(s),
            "selected": s.selected,
            "mode": f"{s.sync_mode}/{s.destination_sync_mode}",
            **({"fields": list(s.selected_fields)} if s.selected_fields else {}),
        }
        for s in connection.streams.all()
    ]


def _validated_choices(
    source: Source, destination: Destination, streams: list[dict[str, Any]]
) -> list[StreamChoice]:
    choices = [StreamChoice.from_dict(item) for item in streams]
    problems = validate_choices(
        source.catalog,
        choices,
        destination_modes=selectors.destination_modes(destination=destination),
    )
    if problems:
        raise ValidationError({"streams": problems})
    return choices


@transaction.atomic
def connection_create(
    *,
    actor: AbstractBaseUser,
    workspace,
    name: str,
    source: Source,
    destination: Destination,
    streams: list[dict[str, Any]],
    namespace: str = "public",
    table_prefix: str = "",
    schema_change_policy: str = Connection.SchemaChangePolicy.IGNORE,
    queue: str = "",
) -> Connection:
    """Create a connection whose streams are checked against the source's catalog."""
    _check_same_workspace(workspace, source, destination)
    queue = _checked_queue(queue)
    name = " ".join(name.split())
    if Connection.objects.for_workspace(workspace).filter(name__iexact=name).exists():
        raise ValidationError({"name": f"A connection named “{name}” already exists."})
    choices = _validated_choices(source, destination, streams)
    connection = Connection(
        workspace=workspace,
        name=name,
        source=source,
        destination=destination,
        namespace=namespace or "public",
        table_prefix=table_prefix,
        schema_change_policy=schema_change_policy,
        queue=queue,
        created_by=actor,
    )
    connection.full_clean()
    connection.save()
    _save_streams(connection, source, choices)
    signals.connection_saved.send(sender=Connection, connection=connection)
    audit_record(
        actor=actor,
        action="connection.created",
        workspace=workspace,
        target=connection,
        changes={
            "source": [None, source.name],
            "destination": [None, destination.name],
            "streams": [None, _stream_summary(connection)],
        },
    )
    return connection


@transaction.atomic
def connection_update(
    *,
    actor: AbstractBaseUser,
    connection: Connection,
    name: str | None = None,
    streams: list[dict[str, Any]] | None = None,
    namespace: str | None = None,
    table_prefix: str | None = None,
    schema_change_policy: str | None = None,
    queue: str | None = None,
) -> Connection:
    """Change a connection's settings or streams (checked against the catalog)."""
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    before = {
        "name": connection.name,
        "namespace": connection.namespace,
        "table_prefix": connection.table_prefix,
        "schema_change_policy": connection.schema_change_policy,
        "queue": connection.queue,
        "streams": _stream_summary(connection),
    }
    if name is not None:
        name = " ".join(name.split())
        taken = Connection.objects.for_workspace(connection.workspace).filter(
            name__iexact=name
        )
        if taken.exclude(pk=connection.pk).exists():
            raise ValidationError(
                {"name": f"A connection named “{name}” already exists."}
            )
        connection.name = name
    if namespace is not None:
        connection.namespace = namespace or "public"
    if table_prefix is not None:
        connection.table_prefix = table_prefix
    if schema_change_policy is not None:
        connection.schema_change_policy = schema_change_policy
    if queue is not None:
        connection.queue = _checked_queue(queue)
    connection.full_clean()
    connection.save()
    if streams is not None:
        _save_streams(
            connection,
            connection.source,
            _validated_choices(connection.source, connection.destination, streams),
        )
    signals.connection_saved.send(sender=Connection, connection=connection)
    after = {
        "name": connection.name,
        "namespace": connection.namespace,
        "table_prefix": connection.table_prefix,
        "schema_change_policy": connection.schema_change_policy,
        "queue": connection.queue,
        "streams": _stream_summary(connection),
    }
    audit_record(
        actor=actor,
        action="connection.updated",
        workspace=connection.workspace,
        target=connection,
        changes=field_changes(before, after),
    )
    return connection


_STATUS_ACTIONS = {
    Connection.Status.ACTIVE: "connection.resumed",
    Connection.Status.PAUSED: "connection.paused",
    Connection.Status.BROKEN: "connection.broken",
}


@transaction.atomic
def connection_set_status(
    *,
    actor: AbstractBaseUser | None,
    connection: Connection,
    status: str,
    reason: str = "",
) -> Connection:
    """Pause, resume or mark a connection broken (with the reason shown to users)."""
    before = connection.status
    if before == status and connection.status_reason == reason:
        return connection
    connection.status = Connection.Status(status)
    connection.status_reason = reason[:500]
    connection.save(update_fields=["status", "status_reason", "updated_at"])
    if (before == Connection.Status.ACTIVE) != (status == Connection.Status.ACTIVE):
        signals.connection_saved.send(sender=Connection, connection=connection)
    if status != Connection.Status.ACTIVE:
        signals.connection_event.send(
            sender=Connection,
            connection=connection,
            event="connection.disabled",
            reason=reason
            or f"{connection.get_status_display()} by {actor or 'the system'}.",
        )
    audit_record(
        actor=actor,
        actor_label="" if actor else "system",
        action=_STATUS_ACTIONS[status],
        workspace=connection.workspace,
        target=connection,
        changes={"status": [before, status]},
    )
    return connection


@transaction.atomic
def connection_delete(*, actor: AbstractBaseUser, connection: Connection) -> None:
    """Delete a connection and its history; refused while a sync runs."""
    if connection.jobs.active().exists():
        raise ValidationError("Cancel the running sync before deleting the connection.")
    audit_record(
        actor=actor,
        action="connection.deleted",
        workspace=connection.workspace,
        target=connection,
        changes={
            "source": [connection.source.name, None],
            "destination": [connection.destination.name, None],
        },
    )
    signals.connection_deleted.send(sender=Connection, connection=connection)
    connection.delete()


def sync_enqueue(*, job_id: int) -> None:
    """Ask a worker to run the job; a broker outage leaves it for the reaper."""
    from apps.connections.tasks import sync_job_task, sync_queue

    try:
        # No publish retries: with the broker down, "Sync now" answers at once and
        # the job waits for the reaper instead of hanging the request.
        sync_job_task.apply_async(args=[job_id], queue=sync_queue(job_id), retry=False)
    except Exception:  # the broker is down or unreachable: the job row stays pending
        logger.warning(
            "Could not enqueue sync job %s; the reaper will retry.",
            job_id,
            exc_info=True,
        )
        return
    SyncJob.objects.filter(pk=job_id).update(enqueued_at=timezone.now())


@transaction.atomic
def sync_request(
    *, connection: Connection, trigger: str, actor: AbstractBaseUser | None
) -> SyncJob:
    """Queue a sync; raises SyncAlreadyRunning if one is active (one per connection)."""
    if connection.status != Connection.Status.ACTIVE:
        raise ConnectionNotActive(
            f"The connection is {connection.get_status_display().lower()}: "
            "resume it before syncing."
        )
    try:
        # A savepoint, so the unique-constraint failure leaves the outer
        # transaction usable.
        with transaction.atomic():
            job = SyncJob.objects.create(
                public_id=uuid.uuid4(),
                connection=connection,
                trigger=SyncJob.Trigger(trigger),
                requested_by=actor
                if actor is not None and actor.is_authenticated
                else None,
            )
    except IntegrityError:
        raise SyncAlreadyRunning(connection.jobs.active().first()) from None
    audit_record(
        actor=actor,
        actor_label="" if actor else "scheduler",
        action="sync.requested",
        workspace=connection.workspace,
        target=connection,
        changes={"trigger": [None, trigger], "job": [None, str(job.public_id)]},
    )
    transaction.on_commit(lambda: sync_enqueue(job_id=job.pk))
    return job


@transaction.atomic
def sync_cancel(*, actor: AbstractBaseUser | None, job: SyncJob) -> SyncJob:
    """Ask a running job to stop; a job no worker holds is cancelled at once."""
    job = SyncJob.objects.select_for_update().get(pk=job.pk)
    if not job.is_active:
        raise ValidationError("This sync has already ended.")
    before = job.status
    if job.status == SyncJob.Status.RUNNING:
        job.status = SyncJob.Status.CANCELLING
    elif job.status != SyncJob.Status.CANCELLING:
        # Pending or waiting for a retry: no worker runs it, so it ends here.
        job.status = SyncJob.Status.CANCELLED
        job.finished_at = timezone.now()
        job.failure_type = SyncJob.FailureType.MANUAL_CANCELLATION
        job.failure_origin = ""  # a cancel reads as a cancel (as in job_finish)
        job.failure_message = (
            "Cancelled while it waited to retry; data committed before is kept."
            if job.started_at
            else "Cancelled before it started."
        )
    job.save(
        update_fields=[
            "status",
            "finished_at",
            "failure_type",
            "failure_origin",
            "failure_message",
            "updated_at",
        ]
    )
    audit_record(
        actor=actor,
        action="sync.cancel_requested",
        workspace=job.connection.workspace,
        target=job.connection,
        changes={"status": [before, job.status], "job": [str(job.public_id)] * 2},
    )
    if job.status == SyncJob.Status.CANCELLING:
        engine = get_engine(job.connection.workspace)
        transaction.on_commit(lambda: engine.request_cancel(job.pk))
    elif job.status == SyncJob.Status.CANCELLED and job.started_at is not None:
        # It started (counted and announced) and waited for a retry: its end is
        # told like any job's (metrics, the sync.cancelled webhook), once.
        job_id = job.pk
        transaction.on_commit(lambda: lifecycle.job_ended(job_id))
    return job


@transaction.atomic
def sync_retry_now(*, actor: AbstractBaseUser | None, job: SyncJob) -> SyncJob:
    """Start the next attempt of a job waiting to retry now instead of at its time.

    Raises ValidationError when the job no longer waits (a worker took it, it
    ended or was cancelled): the person saw an older page, nothing changes.
    """
    job = (
        SyncJob.objects.select_for_update()
        .select_related("connection__workspace")
        .get(pk=job.pk)
    )
    if job.status != SyncJob.Status.INCOMPLETE:
        now_status = job.get_status_display().lower()
        raise ValidationError(
            f"This sync no longer waits to retry: it is {now_status}."
        )
    before = job.next_attempt_at
    now = timezone.now()
    job.next_attempt_at = now
    job.enqueued_at = None
    job.save(update_fields=["next_attempt_at", "enqueued_at", "updated_at"])
    audit_record(
        actor=actor,
        action="sync.retry_now",
        workspace=job.connection.workspace,
        target=job.connection,
        changes={
            "next_attempt_at": [
                before.isoformat() if before else None,
                now.isoformat(),
            ],
            "job": [str(job.public_id)] * 2,
        },
    )
    job_id = job.pk
    transaction.on_commit(lambda: sync_enqueue(job_id=job_id))
    return job


@transaction.atomic
def connection_reset(
    *,
    actor: AbstractBaseUser,
    connection: Connection,
    streams: list[str] | None = None,
    stream_keys: list[tuple[str, str]] | None = None,
    drop_tables: bool = False,
) -> list[str]:
    """Forget the saved state of some (or all) streams so the next sync starts over.

    ``streams`` chooses by name; ``stream_keys`` by (name, namespace), for callers
    that must not touch a same-named stream of another namespace. With
    ``drop_tables`` (after the user confirmed), the destination tables of those
    streams are emptied too, once this transaction commits. An engine that runs
    resets as jobs gets one (a ``SyncJob`` with trigger ``reset``): it shows in the
    history and, being the connection's one active job, holds syncs until it ends.
    """
    engine = get_engine(connection.workspace)
    if not drop_tables and not engine.can_forget_state_only:
        raise ValidationError(
            "This workspace's engine cannot forget the saved state alone: a reset "
            "there also empties the destination tables of the chosen streams. Tick "
            "“Also empty the destination tables” to reset them."
        )
    if connection.jobs.active().exists():
        raise ValidationError("Cancel the running sync before resetting data.")
    chosen = connection.streams.all()
    if streams:
        chosen = chosen.filter(name__in=streams)
    if stream_keys:
        chosen = chosen.filter(
            reduce(or_, (Q(name=n, namespace=ns) for n, ns in stream_keys))
        )
    names = [s.name for s in chosen]
    if not names:
        raise ValidationError("Choose at least one stream to reset.")
    job = None
    if engine.resets_as_jobs:
        job = _reset_job(connection, actor, [s for s in chosen if s.selected])
    states = ConnectionState.objects.filter(connection=connection)
    if streams:
        states = states.filter(stream_name__in=names) | states.filter(
            kind__in=[ConnectionState.Kind.GLOBAL, ConnectionState.Kind.LEGACY]
        )
    elif stream_keys:
        states = states.filter(
            reduce(
                or_,
                (Q(stream_name=s.name, stream_namespace=s.namespace) for s in chosen),
            )
        ) | states.filter(
            kind__in=[ConnectionState.Kind.GLOBAL, ConnectionState.Kind.LEGACY]
        )
    states.delete()
    for stream in chosen:
        stream.generation_id += 1
        stream.save(update_fields=["generation_id"])
    audit_record(
        actor=actor,
        action="connection.reset",
        workspace=connection.workspace,
        target=connection,
        changes={
            "streams": [None, names],
            "drop_tables": [None, drop_tables],
            **({"job": [None, str(job.public_id)]} if job else {}),
        },
    )
    if job is not None:
        transaction.on_commit(lambda: sync_enqueue(job_id=job.pk))
        return names
    # The destination keeps its own copy of the state (the one a sync resumes from),
    # so the reset reaches it too; emptying the tables only when confirmed.
    from apps.connections.tasks import connection_clear_tables_task

    connection_clear_tables_task.delay_on_commit(connection.pk, names, drop_tables)
    return names


def _reset_job(
    connection: Connection, actor: AbstractBaseUser, streams: list[ConnectionStream]
) -> SyncJob:
    """The reset as the connection's active job (the engine starts and follows it)."""
    if not streams:
        raise ValidationError("Choose at least one synced stream to reset.")
    try:
        with transaction.atomic():  # a savepoint: the constraint may refuse it
            return SyncJob.objects.create(
                public_id=uuid.uuid4(),
                connection=connection,
                trigger=SyncJob.Trigger.RESET,
                requested_by=actor if actor.is_authenticated else None,
                reset_streams=[
                    {"name": s.name, "namespace": s.namespace} for s in streams
                ],
            )
    except IntegrityError:
        raise ValidationError(
            "Cancel the running sync before resetting data."
        ) from None


def stream_choices_for(connection: Connection) -> list[dict[str, Any]]:
    """The connection's streams as plain dicts, the shape the services take."""
    return [
        asdict(
            StreamChoice(
                name=s.name,
                namespace=s.namespace,
                selected=s.selected,
                sync_mode=s.sync_mode,
                destination_sync_mode=s.destination_sync_mode,
                cursor_field=s.cursor_field,
                primary_key=s.primary_key,
                selected_fields=s.selected_fields,
            )
        )
        for s in connection.streams.all()
    ]


@transaction.atomic
def connection_apply_schema(
    *, actor: AbstractBaseUser | None, connection: Connection, add_new_streams: bool
) -> SchemaDiff:
    """Bring a connection up to the source's current catalog.

    Streams keep the user's modes; their saved schemas take the new columns (which
    the destination adds on the next sync). Streams gone from the source are
    dropped from the connection; new ones are added, synced only when
    ``add_new_streams`` (Airbyte's "propagate fully"). Nothing is dropped in the
    destination.
    """
    connection = Connection.objects.select_for_update().get(pk=connection.pk)
    source = connection.source
    diff = schema_diff(list(connection.streams.all()), source.catalog)
    if not diff.changed:
        return diff
    current = catalog_streams(source.catalog)
    for row in connection.streams.all():
        stream = current.get((row.namespace, row.name))
        if stream is None:
            row.delete()
            continue
        row.json_schema = stream.get("json_schema") or {}
        row.save(update_fields=["json_schema"])
    existing = {(s.namespace, s.name) for s in connection.streams.all()}
    for key, stream in current.items():
        if key in existing:
            continue
        choice = default_choice(stream)
        ConnectionStream.objects.create(
            connection=connection,
            name=choice.name,
            namespace=choice.namespace,
            selected=add_new_streams,
            sync_mode=choice.sync_mode,
            destination_sync_mode=choice.destination_sync_mode,
            cursor_field=choice.cursor_field,
            primary_key=choice.primary_key,
            json_schema=stream.get("json_schema") or {},
        )
    audit_record(
        actor=actor,
        actor_label="" if actor else "system",
        action="connection.schema_applied",
        workspace=connection.workspace,
        target=connection,
        changes={
            "streams_added": [None, diff.added_streams],
            "streams_removed": [None, diff.removed_streams],
            "columns_added": [None, diff.added_columns],
            "columns_removed": [None, diff.removed_columns],
        },
    )
    signals.connection_saved.send(sender=Connection, connection=connection)
    return diff


@transaction.atomic
def connection_schema_changed(*, connection: Connection, diff: SchemaDiff) -> None:
    """Tell the team the source's schema moved away from the connection's."""
    summary = {
        "added_streams": diff.added_streams,
        "removed_streams": diff.removed_streams,
        "added_columns": diff.added_columns,
        "removed_columns": diff.removed_columns,
        "breaking": diff.breaking,
    }
    audit_record(
        actor=None,
        actor_label="system",
        action="connection.schema_changed",
        workspace=connection.workspace,
        target=connection,
        changes={"diff": [None, summary]},
    )
    signals.connection_event.send(
        sender=Connection, connection=connection, event="schema.changed", diff=summary
    )


def connection_schema_follow(*, source_id: int) -> None:
    """After a worker refreshed a source's catalog: each connection of the source
    hears what changed and applies its schema-change policy (pause on any change,
    or propagate columns, or columns and streams, when nothing breaks)."""
    for connection in Connection.objects.filter(source_id=source_id).select_related(
        "source", "workspace"
    ):
        _schema_follow(connection)


@transaction.atomic
def _schema_follow(connection: Connection) -> None:
    diff = schema_diff(list(connection.streams.all()), connection.source.catalog)
    if not diff.changed:
        return
    connection_schema_changed(connection=connection, diff=diff)
    policy = connection.schema_change_policy
    if policy == Connection.SchemaChangePolicy.DISABLE:
        connection_set_status(
            actor=None,
            connection=connection,
            status=Connection.Status.PAUSED,
            reason="Paused: the source's schema changed (see Settings).",
        )
    elif (
        policy
        in (
            Connection.SchemaChangePolicy.PROPAGATE_COLUMNS,
            Connection.SchemaChangePolicy.PROPAGATE_FULLY,
        )
        and not diff.breaking
    ):
        connection_apply_schema(
            actor=None,
            connection=connection,
            add_new_streams=policy == Connection.SchemaChangePolicy.PROPAGATE_FULLY,
        )
