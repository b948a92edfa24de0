"""Reads of the connector builder, and which catalog entries a workspace sees."""

from __future__ import annotations

from uuid import UUID

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404

from apps.connectors.builder.models import BuilderProject
from apps.connectors.models import ConnectorDefinition, ConnectorManifest
from apps.workspaces.models import Workspace


def builder_project_list(*, workspace: Workspace) -> QuerySet[BuilderProject]:
    """The workspace's connector projects, with what they published."""
    return (
        BuilderProject.objects.for_workspace(workspace)
        .select_related("definition", "updated_by")
        .order_by("name")
    )


def builder_project_get(*, workspace: Workspace, public_id: UUID) -> BuilderProject:
    """One project of the workspace; 404 otherwise."""
    found = (
        BuilderProject.objects.for_workspace(workspace)
        .select_related("definition", "workspace")
        .filter(public_id=public_id)
        .first()
    )
    if found is None:
        raise Http404("No such connector project.")
    return found


def builder_project_by_name(
    *, workspace: Workspace, name: str
) -> BuilderProject | None:
    return (
        BuilderProject.objects.for_workspace(workspace)
        .select_related("definition")
        .filter(name=name)
        .first()
    )


def _builder_made() -> Exists:
    return Exists(
        ConnectorManifest.objects.filter(
            definition=OuterRef("pk"), origin=ConnectorManifest.Origin.BUILDER
        )
    )


def visible_definitions(
    queryset: QuerySet[ConnectorDefinition], *, workspace: Workspace | None
) -> QuerySet[ConnectorDefinition]:
    """``queryset`` less the connectors other workspaces built.

    A connector published from the builder belongs to its project's workspace:
    only that workspace's pickers offer it. One whose project is gone (its
    workspace deleted) is offered nowhere. Without a workspace (the global
    catalog page), none is shown.
    """
    if workspace is None:
        return queryset.filter(~Q(_builder_made()))
    mine = Exists(
        BuilderProject.objects.filter(definition=OuterRef("pk"), workspace=workspace)
    )
    return queryset.filter(~Q(_builder_made()) | Q(mine))
