"""Transforms on the pages of the apps below: the connection page and the job page.

The connections app may not import transforms (it sits below it); its templates
load these tags instead: ``{% transforms_for_connection connection %}`` lists the
projects that run after the connection's syncs, with a form to add or remove one;
``{% transforms_for_job job %}`` says "then: transform run #N" under a sync.
"""

from __future__ import annotations

from typing import Any

from django import template

from apps.transforms import selectors
from apps.transforms.forms import TriggerForm
from apps.transforms.models import DbtProject

register = template.Library()


@register.inclusion_tag("transforms/_connection_transforms.html", takes_context=True)
def transforms_for_connection(
    context: template.Context, connection: Any
) -> dict[str, Any]:
    membership = context.get("membership")
    can_edit = bool(membership is not None and membership.can_edit)
    triggers = selectors.triggers_for_connection(connection=connection)
    workspace = connection.workspace
    taken = {t.project_id for t in triggers}
    choices = [
        p
        for p in selectors.projects_for_picker(workspace=workspace)
        if p.pk not in taken
    ]
    form = None
    if can_edit and choices:
        form = TriggerForm(
            workspace=workspace, initial={"connection": connection.public_id}
        )
        form.fields["project"].queryset = form.fields["project"].queryset.exclude(
            pk__in=taken
        )
    request = context.get("request")
    return {
        "workspace": workspace,
        "connection": connection,
        "triggers": triggers,
        "form": form,
        "can_edit": can_edit,
        "generated": DbtProject.objects.for_workspace(workspace)
        .filter(connection=connection, kind=DbtProject.Kind.GENERATED)
        .exists(),
        "next": request.path if request is not None else "",
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("transforms/_job_transforms.html", takes_context=True)
def transforms_for_job(context: template.Context, job: Any) -> dict[str, Any]:
    return {
        "workspace": job.connection.workspace,
        "job": job,
        **selectors.job_followup(job=job),
    }
