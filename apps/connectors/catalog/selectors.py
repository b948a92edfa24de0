"""Reads for the connector catalog: definitions with their install state."""

from __future__ import annotations

from uuid import UUID

from django.db.models import OuterRef, Q, QuerySet, Subquery

from apps.connectors.models import ConnectorDefinition, ConnectorInstall


def _latest(queryset: QuerySet) -> Subquery:
    return Subquery(
        queryset.filter(definition=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )


def connector_definition_list(
    *, search: str = "", stage: str = "", kind: str = ""
) -> list[ConnectorDefinition]:
    """The catalog, filtered, each definition carrying its install state.

    Every definition gets ``latest_install`` (the newest install or uninstall, or
    None) and ``installed_version`` (the version installed now, or ""). Two queries
    whatever the number of definitions.
    """
    queryset = ConnectorDefinition.objects.all()
    if search:
        queryset = queryset.filter(
            Q(name__icontains=search)
            | Q(pypi_package__icontains=search)
            | Q(docker_repository__icontains=search)
        )
    if stage:
        queryset = queryset.filter(release_stage=stage)
    if kind:
        queryset = queryset.filter(kind=kind)
    return _with_state(queryset)


def _with_state(queryset: QuerySet) -> list[ConnectorDefinition]:
    definitions = list(
        queryset.annotate(
            latest_install_id=_latest(ConnectorInstall.objects.all()),
            last_done_id=_latest(
                ConnectorInstall.objects.filter(
                    status=ConnectorInstall.Status.SUCCEEDED
                )
            ),
        )
    )
    _attach_installs(definitions)
    return definitions


def _attach_installs(definitions: list[ConnectorDefinition]) -> None:
    ids = {
        i
        for d in definitions
        for i in (d.latest_install_id, d.last_done_id)
        if i is not None
    }
    installs = ConnectorInstall.objects.in_bulk(ids) if ids else {}
    for definition in definitions:
        definition.latest_install = installs.get(definition.latest_install_id)
        done = installs.get(definition.last_done_id)
        definition.installed_version = (
            done.version
            if done is not None and done.operation == ConnectorInstall.Operation.INSTALL
            else ""
        )


def connector_definition_with_state(
    *, definition: ConnectorDefinition
) -> ConnectorDefinition:
    """One definition with ``latest_install`` and ``installed_version`` attached."""
    found = _with_state(ConnectorDefinition.objects.filter(pk=definition.pk))
    return found[0] if found else definition


def connector_definition_get(*, public_id: UUID) -> ConnectorDefinition | None:
    return ConnectorDefinition.objects.filter(public_id=public_id).first()


def connector_definition_find(*, name: str) -> list[ConnectorDefinition]:
    """Definitions matching a CLI name: exact package, exact name, then a substring."""
    for lookup in (
        Q(pypi_package__iexact=name),
        Q(name__iexact=name),
        Q(docker_repository__iexact=name)
        | Q(docker_repository__iexact=f"airbyte/{name}"),
        Q(pypi_package__iexact=f"airbyte-{name}"),
    ):
        found = list(ConnectorDefinition.objects.filter(lookup))
        if found:
            return found
    return list(ConnectorDefinition.objects.filter(name__icontains=name))


def connector_install_get(*, public_id: UUID) -> ConnectorInstall | None:
    return (
        ConnectorInstall.objects.select_related("definition")
        .filter(public_id=public_id)
        .first()
    )


def installed_version(*, definition: ConnectorDefinition) -> str:
    """The version of this connector the console has installed, or ""."""
    done = (
        ConnectorInstall.objects.filter(
            definition=definition, status=ConnectorInstall.Status.SUCCEEDED
        )
        .order_by("-created_at", "-id")
        .first()
    )
    if done is None or done.operation != ConnectorInstall.Operation.INSTALL:
        return ""
    return done.version
