"""Schedule pages: list, create and edit with a live preview, pause, resume, delete."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.connections.models import Connection
from apps.core.forms import apply_validation_error
from apps.core.htmx import redirect, render_page, wants_partial
from apps.core.roles import Role
from apps.schedules import selectors, services, timing
from apps.schedules.forms import ScheduleForm
from apps.schedules.models import Schedule
from apps.workspaces.access import require_role

LIST_TEMPLATE = "schedules/schedule_list.html"
FORM_TEMPLATE = "schedules/schedule_form.html"


def _list_context(membership, search: str = "") -> dict:
    return {
        "workspace": membership.workspace,
        "membership": membership,
        "schedules": selectors.schedule_list(
            workspace=membership.workspace, search=search
        ),
        "search": search,
    }


def _preview(data: QueryDict, workspace, schedule: Schedule | None = None):
    """The next five runs of what the form holds, or what is wrong with it."""
    kind = data.get("kind") or (schedule.kind if schedule else Schedule.Kind.CRON)
    interval = None
    if kind == Schedule.Kind.INTERVAL:
        try:
            interval = timing.parse_every(data.get("interval_minutes", ""))
        except ValidationError as exc:
            return selectors.Preview(
                errors=exc.messages, field_errors={"interval_minutes": exc.messages}
            )
    connection = schedule.connection if schedule else None
    if connection is None and data.get("connection"):
        try:
            connection = (
                Connection.objects.for_workspace(workspace)
                .filter(public_id=UUID(data["connection"]))
                .first()
            )
        except ValueError:
            connection = None
    return selectors.schedule_preview(
        kind=kind,
        cron_expression=data.get("cron_expression", ""),
        interval_minutes=interval,
        timezone_name=data.get("timezone") or "UTC",
        connection=connection,
    )


@login_required
@require_GET
def schedule_list(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """Every schedule of the workspace with its next run and last tick."""
    membership = require_role(request, workspace_id)
    search = request.GET.get("q", "").strip()[:100]
    return render_page(
        request, LIST_TEMPLATE, _list_context(membership, search), partial="rows"
    )


@login_required
@require_GET
def schedule_detail(
    request: HttpRequest, workspace_id: UUID, schedule_id: UUID
) -> HttpResponse:
    """One schedule: its timing, its next five runs and what its ticks did."""
    membership = require_role(request, workspace_id)
    schedule = selectors.schedule_get(
        workspace=membership.workspace, public_id=schedule_id
    )
    preview = selectors.schedule_preview(
        kind=schedule.kind,
        cron_expression=schedule.cron_expression,
        interval_minutes=schedule.interval_minutes,
        timezone_name=schedule.timezone,
        connection=schedule.connection,
    )
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "schedule": schedule,
        "preview": preview,
        "next_run": selectors.next_run_for(schedule.connection),
        "ticks": selectors.tick_list(schedule=schedule),
    }
    return render_page(request, "schedules/schedule_detail.html", context)


def _save(request: HttpRequest, form: ScheduleForm, membership) -> Schedule | None:
    data = form.cleaned_data
    timing_args = {
        "name": data["name"],
        "kind": data["kind"],
        "interval_minutes": data.get("interval_minutes"),
        "cron_expression": data.get("cron_expression") or "",
        "timezone_name": data["timezone"],
    }
    try:
        if form.schedule is None:
            return services.schedule_create(
                actor=request.user,
                workspace=membership.workspace,
                connection=data["connection"],
                **timing_args,
            )
        return services.schedule_update(
            actor=request.user, schedule=form.schedule, **timing_args
        )
    except ValidationError as exc:
        apply_validation_error(form, exc)
        return None


def _form_page(
    request: HttpRequest, membership, schedule: Schedule | None
) -> HttpResponse:
    posted = request.method == "POST"
    form = ScheduleForm(
        request.POST if posted else None,
        workspace=membership.workspace,
        schedule=schedule,
        initial={"connection": request.GET.get("connection")} if not posted else {},
    )
    if posted and form.is_valid():
        saved = _save(request, form, membership)
        if saved is not None:
            verb = "created" if schedule is None else "saved"
            messages.success(request, f"Schedule “{saved.name}” {verb}.")
            return redirect(
                request,
                "schedules:detail",
                workspace_id=membership.workspace.public_id,
                schedule_id=saved.public_id,
            )
    shown = request.POST if posted else _initial_data(form)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "form": form,
        "schedule": schedule,
        "creating": schedule is None,
        "min_interval": timing.min_interval_minutes(),
        "preview": _preview(shown, membership.workspace, schedule),
    }
    return render_page(
        request, FORM_TEMPLATE, context, partial="form", status=400 if posted else 200
    )


def _initial_data(form: ScheduleForm) -> QueryDict:
    data = QueryDict(mutable=True)
    for name in (
        "connection",
        "kind",
        "interval_minutes",
        "cron_expression",
        "timezone",
    ):
        value = form.initial.get(name, form.fields[name].initial)
        if value:
            data[name] = str(value)
    return data


@login_required
@require_http_methods(["GET", "POST"])
def schedule_create(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """A new schedule for one of the workspace's connections."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    return _form_page(request, membership, None)


@login_required
@require_http_methods(["GET", "POST"])
def schedule_edit(
    request: HttpRequest, workspace_id: UUID, schedule_id: UUID
) -> HttpResponse:
    """Change a schedule's name or timing."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    schedule = selectors.schedule_get(
        workspace=membership.workspace, public_id=schedule_id
    )
    return _form_page(request, membership, schedule)


@login_required
@require_GET
def schedule_preview(request: HttpRequest, workspace_id: UUID) -> HttpResponse:
    """The form's preview as the user types: the next five runs, or the problem."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    schedule = None
    if request.GET.get("schedule"):
        try:
            schedule = selectors.schedule_get(
                workspace=membership.workspace, public_id=UUID(request.GET["schedule"])
            )
        except ValueError:
            schedule = None
    preview = _preview(request.GET, membership.workspace, schedule)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "schedule": schedule,
        "preview": preview,
        "oob_fields": [
            (name, preview.field_errors.get(name, []))
            for name in ("interval_minutes", "cron_expression", "timezone")
        ],
    }
    # Only ever a fragment: the form asks for it as the user types.
    return render(request, f"{FORM_TEMPLATE}#preview", context)


def _after_toggle(request: HttpRequest, membership, schedule: Schedule) -> HttpResponse:
    if wants_partial(request):
        return render_page(
            request, LIST_TEMPLATE, _list_context(membership), partial="rows"
        )
    return redirect(
        request,
        "schedules:detail",
        workspace_id=membership.workspace.public_id,
        schedule_id=schedule.public_id,
    )


@login_required
@require_POST
def schedule_pause(
    request: HttpRequest, workspace_id: UUID, schedule_id: UUID
) -> HttpResponse:
    """Stop the schedule from starting syncs until it is resumed."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    schedule = selectors.schedule_get(
        workspace=membership.workspace, public_id=schedule_id
    )
    services.schedule_pause(actor=request.user, schedule=schedule)
    messages.success(request, f"Schedule “{schedule.name}” paused.")
    return _after_toggle(request, membership, schedule)


@login_required
@require_POST
def schedule_resume(
    request: HttpRequest, workspace_id: UUID, schedule_id: UUID
) -> HttpResponse:
    """Start the schedule again from now; missed runs are not replayed."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    schedule = selectors.schedule_get(
        workspace=membership.workspace, public_id=schedule_id
    )
    services.schedule_resume(actor=request.user, schedule=schedule)
    messages.success(request, f"Schedule “{schedule.name}” resumed.")
    return _after_toggle(request, membership, schedule)


@login_required
@require_http_methods(["GET", "POST"])
def schedule_delete(
    request: HttpRequest, workspace_id: UUID, schedule_id: UUID
) -> HttpResponse:
    """Confirm, then delete a schedule; the connection goes back to manual syncs."""
    membership = require_role(request, workspace_id, Role.EDITOR)
    schedule = selectors.schedule_get(
        workspace=membership.workspace, public_id=schedule_id
    )
    if request.method == "POST":
        services.schedule_delete(actor=request.user, schedule=schedule)
        messages.success(request, f"Schedule “{schedule.name}” deleted.")
        if wants_partial(request):
            return render_page(
                request, LIST_TEMPLATE, _list_context(membership), partial="rows"
            )
        return redirect(
            request, "schedules:list", workspace_id=membership.workspace.public_id
        )
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "schedule": schedule,
    }
    return render_page(request, "schedules/schedule_confirm_delete.html", context)
