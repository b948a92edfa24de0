"""Reads for the connector catalog: definitions with their install state.

Counts of sources shown to a user cover only the workspaces they belong to (staff
see every workspace): how many sources another team has is not theirs to know.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from apps.connectors.catalog.access import sees_every_workspace
from apps.connectors.models import ConnectorDefinition, ConnectorInstall, Source
from apps.engines.registry import get_engine


def _latest(queryset: QuerySet) -> Subquery:
    return Subquery(
        queryset.filter(definition=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )


def connector_definition_list(
    *, search: str = "", stage: str = "", kind: str = "", user: Any = None
) -> list[ConnectorDefinition]:
    """The catalog, filtered, each definition carrying its install state.

    Every definition gets ``latest_install`` (the newest install or uninstall, or
    None), ``installed_version`` (the version the last install put here, or ""),
    ``installed_versions`` (every version installed now) and ``source_versions``
    (``[(version, count)]`` of the sources ``user`` may see; None is everyone).
    A fixed number of queries whatever the number of definitions.
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
    return _with_state(queryset, user)


def _with_state(queryset: QuerySet, user: Any = None) -> list[ConnectorDefinition]:
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
    versions = _installed_versions_of(definitions)
    usage = _source_versions_of(definitions, user)
    for definition in definitions:
        definition.installed_versions = versions.get(definition.pk, [])
        definition.source_versions = usage.get(definition.pk, [])
        definition.source_count = sum(n for _, n in definition.source_versions)
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
    *, definition: ConnectorDefinition, user: Any = None
) -> ConnectorDefinition:
    """One definition with its install state attached (see the list above)."""
    found = _with_state(ConnectorDefinition.objects.filter(pk=definition.pk), user)
    return found[0] if found else definition


def version_key(version: str) -> tuple[tuple[int, Any], ...]:
    """Sort key that puts 7.10.0 after 7.9.0 (numbers as numbers, the rest as text)."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part)
        for part in re.split(r"[.+!_-]", version)
    )


def _installed_versions_of(
    definitions: Iterable[ConnectorDefinition],
) -> dict[int, list[str]]:
    """Per definition, the versions successful installs put here since the last
    successful uninstall (which removes every version)."""
    ids = [d.pk for d in definitions]
    found: dict[int, set[str]] = defaultdict(set)
    if not ids:
        return {}
    rows = (
        ConnectorInstall.objects.filter(
            definition_id__in=ids, status=ConnectorInstall.Status.SUCCEEDED
        )
        .order_by("created_at", "id")
        .values_list("definition_id", "operation", "version")
    )
    for definition_id, operation, version in rows:
        if operation == ConnectorInstall.Operation.UNINSTALL:
            found[definition_id].clear()
        elif version:
            found[definition_id].add(version)
    return {pk: sorted(v, key=version_key) for pk, v in found.items()}


def installed_versions(
    *, definition: ConnectorDefinition, workspace: Any = None
) -> list[str]:
    """The versions of a connector a source may pin, oldest first.

    Those a successful install put on this console, and the catalog's pinned
    version when the workspace's engine says it is installed (an engine that runs
    connectors elsewhere says so for every version).
    """
    versions = set(_installed_versions_of([definition]).get(definition.pk, []))
    if (
        definition.is_installable
        and definition.pypi_version
        and definition.pypi_version not in versions
        and get_engine(workspace).installed(definition.ref)
    ):
        versions.add(definition.pypi_version)
    return sorted(versions, key=version_key)


def sources_visible_to(user: Any) -> QuerySet[Source]:
    """Sources in the workspaces ``user`` belongs to; every source for staff."""
    sources = Source.objects.all()
    if sees_every_workspace(user):
        return sources
    return sources.filter(workspace__memberships__user_id=user.pk)


def _source_versions_of(
    definitions: Iterable[ConnectorDefinition], user: Any
) -> dict[int, list[tuple[str, int]]]:
    by_pk = {d.pk: d for d in definitions}
    if not by_pk:
        return {}
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = (
        sources_visible_to(user)
        .filter(definition_id__in=list(by_pk))
        .values("definition_id", "connector_version")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        definition = by_pk[row["definition_id"]]
        version = row["connector_version"] or definition.pypi_version
        counts[definition.pk][version] += row["n"]
    return {
        pk: sorted(found.items(), key=lambda item: version_key(item[0]))
        for pk, found in counts.items()
    }


def source_versions(
    *, definition: ConnectorDefinition, user: Any = None
) -> list[tuple[str, int]]:
    """``[(version, count)]`` of the sources of this connector ``user`` may see."""
    return _source_versions_of([definition], user).get(definition.pk, [])


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


def source_version_choices(*, source: Source) -> list[str]:
    """The versions a source's edit form offers: the installed ones and its own.

    None on an engine that runs connectors elsewhere (its server picks the
    version) or for a connector the console does not install.
    """
    definition = source.definition
    if not definition.is_installable or get_engine(source.workspace).remote:
        return []
    versions = set(
        installed_versions(definition=definition, workspace=source.workspace)
    )
    if source.pinned_version:
        versions.add(source.pinned_version)
    return sorted(versions, key=version_key)
