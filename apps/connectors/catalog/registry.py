"""Reading a registry file in Airbyte's shape and merging it into the catalog.

The file has ``sources[]`` and ``destinations[]``; each entry carries Airbyte's
``sourceDefinitionId`` / ``destinationDefinitionId``, ``name``, ``dockerRepository``,
``dockerImageTag``, ``documentationUrl``, ``releaseStage`` and
``remoteRegistries.pypi.packageName``. Two additions are the console's own:
``remoteRegistries.pypi.packageVersion`` (the pinned PyPI version; Airbyte's registry
has none, so ``dockerImageTag`` stands in, as Airbyte publishes both with one version)
and an optional ``console`` object (``entrypoint``, ``builtin``, ``engines``).

The destinations the console writes itself need no entry: each registered
``DestinationDescriptor`` (``apps.engines.registry.destinations()``) becomes one, with
its title, definition id, docs URL, icon and ``builtin`` name. A file entry with the
same definition id adds what only a catalog knows, such as Airbyte's image of the
same destination, so the airbyte engine can run it too.

The merge is shared by the data migration that loads the shipped file and by
``manage.py airbyte connectors refresh --from FILE``: existing definitions are
updated by definition id, new ones added, and nothing in use is ever deleted.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from apps.engines import registry as engine_registry
from apps.engines.base import PACKAGE_RE, VERSION_RE

SHIPPED_REGISTRY = Path(__file__).resolve().parent / "registry.json"

RELEASE_STAGES = ("generally_available", "beta", "alpha", "custom")

# Package names and versions end up in file names and in pip's argument list, so
# only the characters PyPI itself allows get through (no "-" first: no pip option).

# Fields of ConnectorDefinition a registry entry sets.
MERGED_FIELDS = (
    "kind",
    "name",
    "docker_repository",
    "docker_image_tag",
    "documentation_url",
    "release_stage",
    "pypi_package",
    "pypi_version",
    "latest_version",
    "entrypoint",
    "builtin",
    "engines",
    "icon",
)


class RegistryError(ValueError):
    """The registry file is not in the expected shape; the message says where."""


@dataclass(frozen=True)
class RegistryEntry:
    """One connector from a registry file, in the console's terms."""

    kind: str
    definition_id: uuid.UUID
    name: str
    docker_repository: str = ""
    docker_image_tag: str = ""
    documentation_url: str = ""
    release_stage: str = "alpha"
    pypi_package: str = ""
    pypi_version: str = ""
    entrypoint: str = ""
    builtin: str = ""
    engines: tuple[str, ...] = ()
    icon: str = ""


@dataclass
class MergeReport:
    """What a merge did, by definition name."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept_in_use: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "kept_in_use": self.kept_in_use,
        }

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed, "
            f"{len(self.kept_in_use)} kept (in use)"
        )


def load_registry_file(path: Path | str) -> dict[str, Any]:
    """The parsed JSON of a registry file, with a clear error when it is not JSON."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"Cannot read {path}: {exc.strerror or exc}.") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise RegistryError(f"{path} is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise RegistryError(
            f"{path}: expected an object with sources and destinations."
        )
    return data


def parse_registry(data: dict[str, Any]) -> list[RegistryEntry]:
    """Every entry of a registry document, validated; errors name the entry."""
    if not isinstance(data, dict) or not ("sources" in data or "destinations" in data):
        raise RegistryError("A registry has a `sources` and/or `destinations` list.")
    entries: list[RegistryEntry] = []
    seen: set[uuid.UUID] = set()
    for kind, key, id_key in (
        ("source", "sources", "sourceDefinitionId"),
        ("destination", "destinations", "destinationDefinitionId"),
    ):
        items = data.get(key, [])
        if not isinstance(items, list):
            raise RegistryError(f"`{key}` must be a list.")
        for index, item in enumerate(items):
            entry = _parse_entry(item, kind, id_key, f"{key}[{index}]")
            if entry.definition_id in seen:
                raise RegistryError(
                    f"{key}[{index}]: definition id {entry.definition_id} "
                    "appears twice."
                )
            seen.add(entry.definition_id)
            entries.append(entry)
    return _with_builtin_destinations(entries)


def _with_builtin_destinations(entries: list[RegistryEntry]) -> list[RegistryEntry]:
    """The entries with every registered built-in destination in its own terms.

    A descriptor's fields win over a file's for the same definition id (a file from
    Airbyte names PostgreSQL "Postgres" and knows no ``builtin``); the file keeps
    what the descriptor does not say: the Docker image, release stage, engines.
    """
    result = list(entries)
    index = {entry.definition_id: i for i, entry in enumerate(result)}
    for descriptor in engine_registry.destinations():
        definition_id = uuid.UUID(descriptor.definition_id)
        own = {
            "kind": "destination",
            "name": descriptor.title,
            "documentation_url": descriptor.docs_url,
            "builtin": descriptor.name,
            "icon": descriptor.icon,
        }
        found = index.get(definition_id)
        if found is None:
            result.append(
                RegistryEntry(
                    definition_id=definition_id,
                    engines=tuple(engines_for(builtin=descriptor.name)),
                    **own,
                )
            )
            continue
        entry = result[found]
        if entry.kind != "destination":
            raise RegistryError(
                f"{entry.name}: definition id {definition_id} is the built-in "
                f"destination {descriptor.name!r}, not a {entry.kind}."
            )
        if entry.builtin and entry.builtin != descriptor.name:
            raise RegistryError(
                f"{entry.name}: definition id {definition_id} is the built-in "
                f"destination {descriptor.name!r}, not {entry.builtin!r}."
            )
        writers = [
            e for e in engines_for(builtin=descriptor.name) if e not in entry.engines
        ]
        result[found] = replace(entry, engines=(*writers, *entry.engines), **own)
    for entry in result:
        descriptor = (
            engine_registry.destination(entry.builtin) if entry.builtin else None
        )
        if descriptor is not None and uuid.UUID(descriptor.definition_id) != (
            entry.definition_id
        ):
            raise RegistryError(
                f"{entry.name}: builtin {entry.builtin!r} has definition id "
                f"{descriptor.definition_id}, not {entry.definition_id}."
            )
    return result


def _parse_entry(item: Any, kind: str, id_key: str, where: str) -> RegistryEntry:
    if not isinstance(item, dict):
        raise RegistryError(f"{where}: expected an object.")
    try:
        definition_id = uuid.UUID(str(item.get(id_key, "")))
    except ValueError:
        raise RegistryError(f"{where}: `{id_key}` must be a UUID.") from None
    console = item.get("console") or {}
    if not isinstance(console, dict):
        raise RegistryError(f"{where}: `console` must be an object.")
    builtin = str(console.get("builtin") or "")
    if builtin and engine_registry.destination(builtin) is None:
        known = ", ".join(d.name for d in engine_registry.destinations())
        raise RegistryError(
            f"{where}: builtin must be one of {known}, not {builtin!r}."
        )
    # A built-in destination's entry takes its name from the descriptor.
    name = str(item.get("name") or "").strip() or builtin
    if not name:
        raise RegistryError(f"{where}: `name` is required.")
    where = f"{where} ({name})"
    pypi = (item.get("remoteRegistries") or {}).get("pypi") or {}
    package = ""
    version = ""
    if isinstance(pypi, dict) and pypi.get("enabled", True) is not False:
        package = str(pypi.get("packageName") or "")
        version = str(pypi.get("packageVersion") or "")
        if package and not version:
            version = str(item.get("dockerImageTag") or "")
    if package and not PACKAGE_RE.match(package):
        raise RegistryError(f"{where}: `{package}` is not a valid package name.")
    if version and not VERSION_RE.match(version):
        raise RegistryError(f"{where}: `{version}` is not a valid version.")
    engines = console.get("engines")
    if engines is None:
        engines = engines_for(
            package=package,
            builtin=builtin,
            docker_repository=str(item.get("dockerRepository") or ""),
        )
    known = engine_registry.engine_names()
    if not isinstance(engines, list) or not set(engines) <= set(known):
        raise RegistryError(f"{where}: engines must be a list drawn from {known}.")
    stage = str(item.get("releaseStage") or "alpha")
    icon = str(item.get("iconUrl") or item.get("icon") or "")
    return RegistryEntry(
        kind=kind,
        definition_id=definition_id,
        name=name[:200],
        docker_repository=str(item.get("dockerRepository") or "")[:200],
        docker_image_tag=str(item.get("dockerImageTag") or "")[:50],
        documentation_url=str(item.get("documentationUrl") or "")[:500],
        release_stage=stage if stage in RELEASE_STAGES else "alpha",
        pypi_package=package,
        pypi_version=version,
        entrypoint=str(console.get("entrypoint") or "")[:100],
        builtin=builtin,
        engines=tuple(engines),
        # Airbyte's registry inlines whole SVGs as `icon`; only a short name or URL
        # fits the column and is worth keeping.
        icon=icon if len(icon) <= 100 and "<" not in icon else "",
    )


def engines_for(
    *, package: str = "", builtin: str = "", docker_repository: str = ""
) -> list[str]:
    """The registered engines that can run an entry with these means of running."""
    return [
        name
        for name in engine_registry.engine_names()
        if engine_registry.engine_class(name).runs_catalog_entry(
            package=package, builtin=builtin, docker_repository=docker_repository
        )
    ]


def merge_registry(
    entries: list[RegistryEntry],
    *,
    model: Any,
    is_installed: Callable[[Any], bool] = lambda definition: False,
    is_in_use: Callable[[Any], bool] = lambda definition: False,
    prune: bool = False,
) -> MergeReport:
    """Update definitions by id, add new ones; with ``prune``, drop unused missing ones.

    ``model`` is the ConnectorDefinition class (the historical one in a migration).
    An installed connector keeps its package and pinned version: the refresh only
    records the registry's version as ``latest_version``, and "Change version" moves
    the pin when the user chooses to.
    """
    report = MergeReport()
    existing = {d.definition_id: d for d in model.objects.all()}
    for entry in entries:
        values = {
            "kind": entry.kind,
            "name": entry.name,
            "docker_repository": entry.docker_repository,
            "docker_image_tag": entry.docker_image_tag,
            "documentation_url": entry.documentation_url,
            "release_stage": entry.release_stage,
            "pypi_package": entry.pypi_package,
            "pypi_version": entry.pypi_version,
            "latest_version": entry.pypi_version,
            "entrypoint": entry.entrypoint,
            "builtin": entry.builtin,
            "engines": list(entry.engines),
            "icon": entry.icon,
        }
        definition = existing.get(entry.definition_id)
        if definition is None:
            model.objects.create(definition_id=entry.definition_id, **values)
            report.added.append(entry.name)
            continue
        # A file from Airbyte knows nothing of the console's own fields: keep ours.
        for name in ("entrypoint", "builtin", "icon"):
            if not values[name]:
                values[name] = getattr(definition, name)
        if definition.pypi_package and is_installed(definition):
            values["pypi_package"] = definition.pypi_package
            values["pypi_version"] = definition.pypi_version
            if entry.pypi_package != definition.pypi_package:
                values["latest_version"] = definition.latest_version
        changed = [n for n in MERGED_FIELDS if getattr(definition, n) != values[n]]
        if not changed:
            report.unchanged.append(definition.name)
            continue
        for name in changed:
            setattr(definition, name, values[name])
        definition.save(update_fields=[*changed, "updated_at"])
        report.updated.append(definition.name)
    if prune:
        wanted = {e.definition_id for e in entries}
        for definition_id, definition in existing.items():
            if definition_id in wanted:
                continue
            if is_in_use(definition) or is_installed(definition):
                report.kept_in_use.append(definition.name)
            else:
                definition.delete()
                report.removed.append(definition.name)
    return report
