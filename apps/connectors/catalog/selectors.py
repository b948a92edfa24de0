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

from django.core.paginator import Page, Paginator
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from apps.connectors.builder.selectors import visible_definitions
from apps.connectors.catalog.access import sees_every_workspace
from apps.connectors.models import (
    ConnectorDefinition,
    ConnectorInstall,
    RegistryFetch,
    Source,
)
from apps.engines.base import (
    RUNTIME_BUILTIN,
    RUNTIME_DOCKER,
    RUNTIME_MANIFEST,
    RUNTIME_PYPI,
)
from apps.engines.registry import get_engine


def _latest(queryset: QuerySet) -> Subquery:
    return Subquery(
        queryset.filter(definition=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values("id")[:1]
    )


# "How it runs" filter values: the runtimes of this host and the Airbyte server.
RUNS_CHOICES = (
    ("pypi", "PyPI package"),
    ("manifest", "Manifest"),
    ("docker", "Docker image"),
    ("builtin", "Built into the console"),
    ("airbyte", "On your Airbyte server"),
)
PAGE_SIZE = 50


def _has_image() -> Q:
    return ~Q(docker_repository="") & ~Q(docker_repository="None")


def _runs_filter(runs: str) -> Q:
    """Definitions whose runtime is ``runs`` (ConnectorRef.runtime's precedence:
    builtin > manifest > package > image)."""
    own = Q(builtin="")
    if runs == "builtin":
        return ~Q(builtin="")
    if runs == "manifest":
        return own & Q(manifest_only=True)
    if runs == "pypi":
        return own & Q(manifest_only=False) & ~Q(pypi_package="")
    if runs == "docker":
        return own & Q(manifest_only=False, pypi_package="") & _has_image()
    if runs == "airbyte":
        return _has_image()
    return Q()


def connector_definition_queryset(
    *,
    search: str = "",
    stage: str = "",
    kind: str = "",
    runs: str = "",
    support: str = "",
) -> QuerySet[ConnectorDefinition]:
    """The catalog's definitions matching the filters, in catalog order."""
    # Connectors made in a workspace's connector builder are that workspace's
    # (its Builder page lists them), not the shared catalog's.
    queryset = visible_definitions(ConnectorDefinition.objects.all(), workspace=None)
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
    if runs:
        queryset = queryset.filter(_runs_filter(runs))
    if support:
        queryset = queryset.filter(support_level=support)
    return queryset


def connector_definition_list(
    *,
    search: str = "",
    stage: str = "",
    kind: str = "",
    runs: str = "",
    support: str = "",
    user: Any = None,
    workspace: Any = None,
) -> list[ConnectorDefinition]:
    """The catalog, filtered, each definition carrying its install state.

    Every definition gets ``latest_install`` (the newest install or uninstall, or
    None), ``installed_version`` (the version the last install put here, or ""),
    ``installed_versions`` (every version installed now), ``source_versions``
    (``[(version, count)]`` of the sources ``user`` may see; None is everyone),
    ``upgrade_available`` and how it runs for ``workspace``'s engine
    (``runtime_label``, ``runtime_note``, ``runtime_reason``; see
    ``how_it_runs``).
    A fixed number of queries whatever the number of definitions.
    """
    queryset = connector_definition_queryset(
        search=search, stage=stage, kind=kind, runs=runs, support=support
    )
    return _with_state(queryset, user, workspace)


def connector_definition_page(
    *,
    search: str = "",
    stage: str = "",
    kind: str = "",
    runs: str = "",
    support: str = "",
    user: Any = None,
    workspace: Any = None,
    page: Any = 1,
    per_page: int = PAGE_SIZE,
) -> tuple[Page, list[ConnectorDefinition]]:
    """One page of the filtered catalog (Airbyte's has ~600 entries), with state."""
    queryset = connector_definition_queryset(
        search=search, stage=stage, kind=kind, runs=runs, support=support
    )
    found = Paginator(queryset, per_page).get_page(page)
    definitions = _with_state(
        ConnectorDefinition.objects.filter(pk__in=[d.pk for d in found]),
        user,
        workspace,
    )
    return found, definitions


def how_it_runs(
    definition: ConnectorDefinition, *, engine: Any, docker: tuple[bool, str]
) -> tuple[str, str, str]:
    """``(key, label, note)``: how this entry runs for a workspace on ``engine``.

    On an engine that runs connectors elsewhere (the airbyte engine) that is its
    server; on this host, the entry's runtime, with a note when the host lacks
    what it needs (a Docker image without a Docker daemon).
    """
    if engine.remote:
        if engine.name in (definition.engines or []):
            return "airbyte", "On your Airbyte server", ""
        return "", "Not on this engine", "The Airbyte server cannot run it."
    # Asked of the engine, not read from ``engines`` (as old as the row's last
    # merge): the embedded engine writes only its own destinations, so a Docker
    # destination's image is not how it runs here.
    if not type(engine).runs_catalog_entry(
        kind=definition.kind,
        package=definition.pypi_package,
        builtin=definition.builtin,
        docker_repository=definition.docker_repository,
        manifest_only=definition.manifest_only,
    ):
        return "", "Runs on an Airbyte server only", ""
    runtime = definition.ref.runtime
    if runtime == RUNTIME_BUILTIN:
        return runtime, "Built into the console", ""
    if runtime == RUNTIME_PYPI:
        return runtime, "PyPI", ""
    if runtime == RUNTIME_MANIFEST:
        return runtime, "Manifest", ""
    if runtime == RUNTIME_DOCKER:
        missing = "" if docker[0] else "Needs Docker on the worker host."
        return runtime, "Docker", missing
    return "", "Runs on an Airbyte server only", ""


def _docker_state(engine: Any, definitions: list[ConnectorDefinition]) -> Any:
    """Ask the engine about Docker once per page, and only if a row needs it.

    The engine answers from what its workers recorded (when and on which host),
    never by starting ``docker`` in this request: the web host may have none.
    """
    if engine.remote or not any(d.ref.runtime == RUNTIME_DOCKER for d in definitions):
        return (True, "")
    return type(engine).runtime_available(RUNTIME_DOCKER)


def upgrade_available(definition: ConnectorDefinition) -> bool:
    """The registry offers a newer version than the pinned one."""
    latest, pinned = definition.latest_version, definition.pypi_version
    if not latest or not pinned or latest == pinned:
        return False
    try:
        return version_key(latest) > version_key(pinned)
    except TypeError:
        return False


def registry_last_fetch() -> RegistryFetch | None:
    """The newest fetch of the registry, good or failed."""
    return RegistryFetch.objects.order_by("-created_at", "-id").first()


def registry_last_good_fetch() -> RegistryFetch | None:
    """The newest fetch that was merged: where the catalog comes from."""
    return (
        RegistryFetch.objects.filter(status=RegistryFetch.Status.SUCCEEDED)
        .order_by("-created_at", "-id")
        .first()
    )


def _with_state(
    queryset: QuerySet, user: Any = None, workspace: Any = None
) -> list[ConnectorDefinition]:
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
    engine = get_engine(workspace)
    docker = _docker_state(engine, definitions)
    for definition in definitions:
        definition.installed_versions = versions.get(definition.pk, [])
        definition.source_versions = usage.get(definition.pk, [])
        definition.source_count = sum(n for _, n in definition.source_versions)
        definition.upgrade_available = upgrade_available(definition)
        (
            definition.runtime_key,
            definition.runtime_label,
            definition.runtime_note,
        ) = how_it_runs(definition, engine=engine, docker=docker)
        # Why Docker is missing is the same for every row: the page says it once.
        definition.runtime_reason = (
            docker[1].rstrip(".") if definition.runtime_note else ""
        )
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
    *, definition: ConnectorDefinition, user: Any = None, workspace: Any = None
) -> ConnectorDefinition:
    """One definition with its install state attached (see the list above)."""
    found = _with_state(
        ConnectorDefinition.objects.filter(pk=definition.pk), user, workspace
    )
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
