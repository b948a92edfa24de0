"""Connection pages: list, build, the connection page with live progress, jobs, logs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.connections import presenters, selectors, services
from apps.connections.catalog import StreamChoice
from apps.connections.forms import (
    ConnectionForm,
    JobFilterForm,
    ResetForm,
    TimelineFilterForm,
    choices_as_dicts,
    stream_rows,
)
from apps.connections.logs import LogView
from apps.connections.models import Connection, SyncJob
from apps.connections.review import Review, connection_review, review_problems
from apps.connectors.models import Source
from apps.core.forms import apply_validation_error
from apps.core.htmx import redirect, render_page
from apps.core.roles import Role
from apps.workspaces.access import require_role

JOBS_PER_PAGE = 25
# A refresh still pending after the discover task's time limit lost its worker: the
# schema section stops polling and says so.
DISCOVER_LOST_AFTER = timedelta(seconds=1800 + 60)


def _connection(
    request: HttpRequest, workspace_id: UUID, connection_id: UUID, role: str
):
    membership = require_role(request, workspace_id, role)
    connection = selectors.connection_get(
        workspace=membership.workspace, public_id=connection_id
    )
    return membership, connection


@login_required
@require_GET
def connection_list(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Every connection with its source, destination and last sync."""
    membership = require_role(request, workspace_id)
    search = request.GET.get("q", "").strip()[:100]
    status = request.GET.get("status", "")
    if status not in Connection.Status.values:
        status = ""
    rows = selectors.connection_list(
        workspace=membership.workspace, search=search, status=status
    )
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    page.object_list = selectors.with_last_jobs(page.object_list)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "page": page,
        "search": search,
        "status": status,
        "statuses": Connection.Status.choices,
        # The pager keeps the filters on every page.
        "query": urlencode({"q": search, "status": status}, quote_via=quote),
    }
    return render_page(
        request, "connections/connection_list.html", context, partial="rows"
    )


def _source_from(request: HttpRequest, workspace) -> Source | None:
    raw = request.POST.get("source") or request.GET.get("source")
    if not raw:
        return None
    try:
        return Source.objects.for_workspace(workspace).filter(pk=int(raw)).first()
    except ValueError:
        return None


@login_required
@require_http_methods(["GET", "POST"])
def connection_create(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Build a connection: source, destination, streams and how each syncs."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    workspace = membership.workspace
    posted = request.method == "POST"
    form = ConnectionForm(
        request.POST if posted else None,
        workspace=workspace,
        initial={"source": request.GET.get("source"), "name": ""},
    )
    source = _source_from(request, workspace)
    rows = (
        stream_rows(source.catalog, data=request.POST if posted else None)
        if source
        else []
    )
    action = request.POST.get("action", "save") if posted else ""
    if posted and form.is_valid() and action == "review":
        # The review step: nothing is saved; the form stays in the page, hidden.
        choices = [StreamChoice.from_dict(item) for item in choices_as_dicts(rows)]
        problems = review_problems(
            workspace=workspace,
            name=form.cleaned_data["name"],
            source=form.cleaned_data["source"],
            choices=choices,
            destination=form.cleaned_data["destination"],
        )
        if problems:
            apply_validation_error(form, ValidationError(problems))
        else:
            review = connection_review(
                workspace=workspace,
                source=form.cleaned_data["source"],
                destination=form.cleaned_data["destination"],
                namespace=form.cleaned_data["namespace"],
                table_prefix=form.cleaned_data["table_prefix"],
                policy=form.cleaned_data["schema_change_policy"],
                choices=choices,
            )
            return _render_form(
                request, membership, form, source, rows, posted=False, review=review
            )
    elif posted and action == "edit":
        return _render_form(request, membership, form, source, rows, posted=False)
    elif posted and form.is_valid():
        try:
            connection = services.connection_create(
                actor=request.user,
                workspace=workspace,
                name=form.cleaned_data["name"],
                source=form.cleaned_data["source"],
                destination=form.cleaned_data["destination"],
                streams=choices_as_dicts(rows),
                namespace=form.cleaned_data["namespace"],
                table_prefix=form.cleaned_data["table_prefix"],
                schema_change_policy=form.cleaned_data["schema_change_policy"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, f"Connection “{connection.name}” created.")
            return redirect(
                request,
                "connections:detail",
                workspace_id=workspace.public_id,
                connection_id=connection.public_id,
            )
    return _render_form(request, membership, form, source, rows, posted=posted)


def _render_form(
    request: HttpRequest,
    membership,
    form: ConnectionForm,
    source: Source | None,
    rows: list,
    *,
    posted: bool,
    connection: Connection | None = None,
    review: Review | None = None,
) -> HttpResponse:
    """The connection form (new or settings); a POST that got here was refused,
    unless it asked for the review step (``review``) or to go back from it."""
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "connection": connection,
        "form": form,
        "source": source,
        "rows": rows,
        "stream_errors": form.errors.get("streams", []),
        "review": review,
    }
    return render_page(
        request,
        "connections/connection_form.html",
        context,
        partial="form",
        status=400 if posted else 200,
    )


@login_required
@require_GET
def connection_streams(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """The stream table for the chosen source (the new-connection step that loads)."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    source = _source_from(request, membership.workspace)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "source": source,
        "rows": stream_rows(source.catalog) if source else [],
    }
    return render_page(
        request, "connections/connection_form.html", context, partial="streams"
    )


def _detail_context(membership, connection: Connection) -> dict[str, Any]:
    return {
        "workspace": membership.workspace,
        "membership": membership,
        **presenters.connection_page(connection),
    }


@login_required
@require_GET
def connection_detail(
    request: HttpRequest, workspace_id: UUID, connection_id: UUID
) -> HttpResponse:
    """The connection page: status, actions, streams, live progress, recent jobs."""
    membership, connection = _connection(
        request, workspace_id, connection_id, Role.VIEWER
    )
    context = _detail_context(membership, connection)
    return render_page(
        request, "connections/connection_detail.html", context, partial="live"
    )


@login_required
@require_POST
def connection_sync(
    request: HttpRequest, workspace_id: UUID, connection_id: UUID
) -> HttpResponse:
    """Sync now (runners and up); a second click finds the running job."""
    membership, connection = _connection(
        request, workspace_id, connection_id, Role.RUNNER
    )
    try:
        services.sync_request(
            connection=connection, trigger=SyncJob.Trigger.MANUAL, actor=request.user
        )
    except services.SyncAlreadyRunning:
        messages.warning(request, "A sync of this connection is already running.")
        status = 409
    except services.ConnectionNotActive as exc:
        messages.error(request, str(exc))
        status = 409
    else:
        messages.success(request, "Sync started.")
        status = 200
    return _after_action(request, membership, connection, status)


def _after_action(
    request: HttpRequest, membership, connection: Connection, status: int
) -> HttpResponse:
    if request.htmx:
        connection = selectors.connection_get(
            workspace=membership.workspace, public_id=connection.public_id
        )
        context = _detail_context(membership, connection)
        return render_page(
            request,
            "connections/connection_detail.html",
            context,
            partial="live",
            status=status,
        )
    return redirect(
        request,
        "connections:detail",
        workspace_id=membership.workspace.public_id,
        connection_id=connection.public_id,
    )


@login_required
@require_POST
def connection_cancel(
    request: HttpRequest, workspace_id: UUID, connection_id: UUID
) -> HttpResponse:
    """Cancel the running sync; committed data stays."""
    membership, connection = _connection(
        request, workspace_id, connection_id, Role.RUNNER
    )
    job = selectors.active_job(connection=connection)
    status = 200
    if job is None:
        messages.info(request, "Nothing is running.")
        status = 409
    else:
        try:
            services.sync_cancel(actor=request.user, job=job)
        except ValidationError as exc:
            messages.info(request, " ".join(exc.messages))
        else:
            messages.success(request, "Cancelling; data committed so far is kept.")
    return _after_action(request, membership, connection, status)


@login_required
@require_POST
def job_retry_now(
    request: HttpRequest, workspace_id: UUID, job_id: UUID
) -> HttpResponse:
    """Retry now (runners and up): a job waiting to retry starts its next attempt.

    Posted from the job page or the connection page (``back=connection``); either
    gets its own live part back. A job that moved on meanwhile changes nothing.
    """
    membership = require_role(request, workspace_id, Role.RUNNER)
    job = selectors.job_get(workspace=membership.workspace, public_id=job_id)
    status = 200
    try:
        services.sync_retry_now(actor=request.user, job=job)
    except ValidationError as exc:
        messages.info(request, " ".join(exc.messages))
        status = 409
    else:
        messages.success(request, "Retrying now.")
    if request.POST.get("back") == "connection":
        return _after_action(request, membership, job.connection, status)
    if request.htmx:
        return _job_detail_response(request, membership, job_id, status=status)
    return redirect(
        request, "connections:job", workspace_id=workspace_id, job_id=job_id
    )


@login_required
@require_POST
def connection_toggle(
    request: HttpRequest, workspace_id: UUID, connection_id: UUID
) -> HttpResponse:
    """Pause or resume (editors): a paused connection does not sync."""
    membership, connection = _connection(
        request, workspace_id, connection_id, Role.EDITOR
    )
    target = (
        Connection.Status.ACTIVE
        if connection.status != Connection.Status.ACTIVE
        else Connection.Status.PAUSED
    )
    services.connection_set_status(
        actor=request.user, connection=connection, status=target
    )
    messages.success(
        request, "Resumed." if target == Connection.Status.ACTIVE else "Paused."
    )
    return _after_action(request, membership, connection, 200)


@login_required
@require_http_methods(["GET", "POST"])
def connection_settings(
    request: HttpRequest, workspace_id: UUID, connection_id: UUID
) -> HttpResponse:
    """Change the name, schema, prefix, policy, queue and each stream's mode."""
    membership, connection = _connection(
        request, workspace_id, connection_id, Role.EDITOR
    )
    posted = request.method == "POST"
    form = ConnectionForm(
        request.POST if posted else None,
        workspace=membership.workspace,
        editing=True,
        initial={
            "name": connection.name,
            "namespace": connection.namespace,
            "table_prefix": connection.table_prefix,
            "schema_change_policy": connection.schema_change_policy,
            "queue": connection.queue,
        },
    )
    limits = selectors.destination_modes(destination=connection.destination)
    rows = stream_rows(
        connection.source.catalog,
        data=request.POST if posted else None,
        existing=services.stream_choices_for(connection),
        destination_modes=limits[1] if limits else None,
    )
    if posted and form.is_valid():
        try:
            services.connection_update(
                actor=request.user,
                connection=connection,
                name=form.cleaned_data["name"],
                streams=choices_as_dicts(rows),
                namespace=form.cleaned_data["namespace"],
                table_prefix=form.cleaned_data["table_prefix"],
                schema_change_policy=form.cleaned_data["schema_change_policy"],
                queue=form.cleaned_data["queue"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            messages.success(request, "Connection saved.")
            return redirect(
                request,
                "connections:detail",
                workspace_id=workspace_id,
                connection_id=connection_id,
            )
    return _render_form(
        request,
        membership,
        form,
        connection.source,
        rows,
        posted=posted,
        connection=connection,
    )


@login_required
@require_http_methods(["GET", "POST"])
def connection_reset(
    request: HttpRequest, workspace_id: UUID, connection_id: UUID
) -> HttpResponse:
    """Reset data: forget state (and optionally empty tables) after a confirmation."""
    membership, connection = _connection(
        request, workspace_id, connection_id, Role.EDITOR
    )
    form = ResetForm(request.POST or None, connection=connection)
    if request.method == "POST" and form.is_valid():
        try:
            names = services.connection_reset(
                actor=request.user,
                connection=connection,
                streams=form.cleaned_data["streams"] or None,
                drop_tables=form.cleaned_data["drop_tables"],
            )
        except ValidationError as exc:
            apply_validation_error(form, exc)
        else:
            if form.can_forget_state_only:
                done = "the next sync starts over."
            else:  # the engine runs the reset as a job, shown in the history
                done = "the reset runs as a job; syncs wait until it ends."
            messages.success(request, f"Reset {', '.join(names)}: {done}")
            return redirect(
                request,
                "connections:detail",
                workspace_id=workspace_id,
                connection_id=connection_id,
            )
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "connection": connection,
        "form": form,
    }
    return render_page(
        request,
        "connections/connection_reset.html",
        context,
        partial="form",
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def connection_delete(
    request: HttpRequest, workspace_id: UUID, connection_id: UUID
) -> HttpResponse:
    """Delete a connection and its history (editors); refused while it syncs."""
    _, connection = _connection(request, workspace_id, connection_id, Role.EDITOR)
    try:
        services.connection_delete(actor=request.user, connection=connection)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(
            request,
            "connections:detail",
            workspace_id=workspace_id,
            connection_id=connection_id,
        )
    messages.success(request, f"Connection “{connection.name}” deleted.")
    return redirect(request, "connections:list", workspace_id=workspace_id)


@login_required
@require_GET
def job_list(
    request: HttpRequest, workspace_id: UUID, connection_id: UUID
) -> HttpResponse:
    """A connection's job history with filters and pagination."""
    membership, connection = _connection(
        request, workspace_id, connection_id, Role.VIEWER
    )
    form = JobFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    jobs = selectors.job_list(
        connection=connection,
        status=filters.get("status", ""),
        trigger=filters.get("trigger", ""),
        since=filters.get("since"),
        until=filters.get("until"),
    )
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "connection": connection,
        "form": form,
        "page": page,
        "query": query.urlencode(),
    }
    return render_page(request, "connections/job_list.html", context, partial="results")


@login_required
@require_GET
def job_timeline(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Every connection's jobs, newest first, filtered and paged; running rows
    refresh themselves (``?row=<job id>`` renders one row)."""
    membership = require_role(request, workspace_id)
    workspace = membership.workspace
    context: dict[str, Any] = {"workspace": workspace, "membership": membership}
    row = request.GET.get("row", "")
    if row:
        try:
            job_id = UUID(row)
        except ValueError:
            raise Http404("No such job.") from None
        context["job"] = selectors.workspace_job_get(
            workspace=workspace, public_id=job_id
        )
        return render_page(
            request, "connections/job_timeline.html", context, partial="row"
        )
    form = TimelineFilterForm(request.GET or None, workspace=workspace)
    filters = form.cleaned_data if form.is_valid() else {}
    jobs = selectors.workspace_jobs(
        workspace=workspace,
        status=filters.get("status", ""),
        connection=filters.get("connection"),
        trigger=filters.get("trigger", ""),
        since=filters.get("since"),
        until=filters.get("until"),
    )
    page = Paginator(jobs, JOBS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context.update(form=form, page=page, query=query.urlencode())
    return render_page(
        request, "connections/job_timeline.html", context, partial="results"
    )


@login_required
@require_GET
def job_detail(request: HttpRequest, workspace_id: UUID, job_id: UUID) -> HttpResponse:
    """One job: its attempts, counts and why it failed."""
    membership = require_role(request, workspace_id)
    return _job_detail_response(request, membership, job_id)


def _job_detail_response(
    request: HttpRequest, membership, job_id: UUID, *, status: int = 200
) -> HttpResponse:
    job = selectors.job_get(workspace=membership.workspace, public_id=job_id)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "job": job,
        "connection": job.connection,
        "progress": presenters.job_progress(job) if job.is_active else None,
        "retry": presenters.retry_wait(job),
    }
    return render_page(
        request, "connections/job_detail.html", context, partial="live", status=status
    )


@login_required
@require_GET
def job_log(request: HttpRequest, workspace_id: UUID, job_id: UUID) -> HttpResponse:
    """The job's log: the tail, a level filter, search, follow and download."""
    membership = require_role(request, workspace_id)
    job = selectors.job_get(workspace=membership.workspace, public_id=job_id)
    view = LogView.for_job(
        job,
        level=request.GET.get("level", ""),
        search=request.GET.get("q", ""),
        attempt=request.GET.get("attempt", ""),
    )
    if request.GET.get("download"):
        response = HttpResponse(
            view.full_text(), content_type="text/plain; charset=utf-8"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="job-{job.public_id}.log"'
        )
        return response
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "job": job,
        "connection": job.connection,
        "log": view,
    }
    return render_page(request, "connections/job_log.html", context, partial="lines")


@login_required
@require_http_methods(["GET", "POST"])
def connection_schema(
    request: HttpRequest, workspace_id: UUID, connection_id: UUID
) -> HttpResponse:
    """The source's schema against the connection's; refresh it, or apply it.

    A refresh runs the source's discover on a worker (a connector, or a call to an
    Airbyte server, never inside a web request): the section polls until the
    worker has recorded the catalog, and the connections app applies each
    connection's policy when it has (``connection_schema_follow``).
    """
    from apps.connections.catalog import schema_diff
    from apps.connectors.services import source_discover_request

    role = Role.EDITOR if request.method == "POST" else Role.VIEWER
    membership, connection = _connection(request, workspace_id, connection_id, role)
    action = request.POST.get("action", "")
    if action == "refresh":
        source_discover_request(actor=request.user, source=connection.source)
    elif action == "apply":
        services.connection_apply_schema(
            actor=request.user,
            connection=connection,
            add_new_streams=connection.schema_change_policy
            == Connection.SchemaChangePolicy.PROPAGATE_FULLY,
        )
        messages.success(request, "The connection now follows the source's schema.")
    connection = selectors.connection_get(
        workspace=membership.workspace, public_id=connection.public_id
    )
    source = connection.source
    discovering = source.discover_status == "pending" and (
        timezone.now() - source.updated_at < DISCOVER_LOST_AFTER
    )
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "connection": connection,
        "discovering": discovering,
        "discover_lost": source.discover_status == "pending" and not discovering,
        "diff": schema_diff(list(connection.streams.all()), source.catalog),
    }
    return render_page(
        request, "connections/connection_schema.html", context, partial="schema"
    )
