"""Reading a registry file in Airbyte's shape and merging it into the catalog.

The file has ``sources[]`` and ``destinations[]``; each entry carries Airbyte's
``sourceDefinitionId`` / ``destinationDefinitionId``, ``name``, ``dockerRepository``,
``dockerImageTag``, ``documentationUrl``, ``releaseStage``, ``supportLevel``,
``iconUrl`` (and ``icon``, an inline SVG), ``language`` / ``tags``
(``manifest-only``) and ``remoteRegistries.pypi`` (``packageName``; ``enabled:
false`` means no package). Real entries carry many more keys (specs, releases,
generated metadata): they are ignored. Two additions are the console's own:
``remoteRegistries.pypi.packageVersion`` (the pinned PyPI version; Airbyte's registry
has none, so ``dockerImageTag`` stands in, as Airbyte publishes both with one version)
and an optional ``console`` object (``entrypoint``, ``builtin``, ``engines``).

``pypi_version`` is the version the console pins whatever runs the connector: the
PyPI version, or the image tag for a manifest-only entry (its manifest's version on
the CDN) and a Docker-only one.

Two ways to parse. The shipped file is parsed strictly (``skipped=None``): any bad
entry is an error, since it is ours. A fetched registry is Airbyte's (~600 entries):
one malformed entry must not sink the others, so a ``Skipped`` collects what
was left out and why, and only a document with no usable entry is refused. The
skip messages kept are capped (``Skipped``: the first 20 and a count), and a
document listing more than ``MAX_ENTRIES`` sources or destinations is refused
outright: a few megabytes of ``{}`` would otherwise become a million messages held
in memory, stored in the fetch's report and printed.

The destinations the console writes itself need no entry: each registered
``DestinationDescriptor`` (``apps.engines.registry.destinations()``) becomes one, with
its title, definition id, docs URL, icon and ``builtin`` name. A file entry with the
same definition id adds what only a catalog knows, such as Airbyte's image of the
same destination, so the airbyte engine can run it too.

The merge is shared by the data migration that loads the shipped file and by
the registry fetch (``services.catalog_fetch``, the daily task and ``manage.py
airbyte connectors refresh``): existing definitions are updated by definition id,
new ones added, and nothing in use, installed, made in the console's connector
builder, listed in the shipped file or merely malformed today is ever deleted.
What runs an installed or in-use connector (its package, image, manifest,
entrypoint and pinned version) and what kind it is never change under it: a
registry that names another image for it is recorded, not obeyed. It writes in
bulk (one ``bulk_create`` and one ``bulk_update``), so a 600-entry registry is a
handful of queries, and it sets only the fields the model has (the migration's
historical model predates the registry's newer fields). Measured on PostgreSQL
with a synthetic 600-entry registry in Airbyte's shape (6.4 MB with inline SVGs and
specs), on a loaded 2-core machine: parse 35-50 ms; merge 100 ms / 7 queries
(all new), 32 ms / 4 queries (unchanged), 500 ms / 6 queries (all updated).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from django.db.models import Q
from django.utils import timezone

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
    "icon_url",
    "support_level",
    "manifest_only",
)

SUPPORT_LEVELS = ("certified", "community", "archived")
# Airbyte's registry lists ~600 sources and ~100 destinations; a document with more
# than this in one list is not a registry (a few MB of ``{}`` would be a million).
MAX_ENTRIES = 10_000
# Skip messages kept in a report and printed; the rest are only counted.
SKIPPED_SHOWN = 20
# What defines how an installed or in-use connector runs (see merge_registry).
RUNTIME_FIELDS = (
    "pypi_package",
    "docker_repository",
    "docker_image_tag",
    "manifest_only",
    "entrypoint",
    "pypi_version",
)
# What a built-in destination's descriptor does not know (Airbyte's image of it,
# its stage and support level, so which engines run it): a registry that does
# not list the destination leaves them as an earlier one said.
DESCRIPTOR_SILENT_FIELDS = (
    "docker_repository",
    "docker_image_tag",
    "release_stage",
    "support_level",
    "icon_url",
    "engines",
)
# The ones whose change means another connector, not a newer version of it.
IDENTITY_FIELDS = ("pypi_package", "docker_repository", "manifest_only")
# An inline SVG icon larger than this is not kept (Airbyte's are a few kB).
INLINE_ICON_MAX_CHARS = 256 * 1024


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
    icon_url: str = ""
    support_level: str = ""
    manifest_only: bool = False
    # The registry's inline SVG (``icon``), cached as the icon without a download.
    icon_svg: str = field(default="", repr=False, compare=False)
    # A built-in destination the file does not list, known from its descriptor
    # alone: it says nothing of Airbyte's image of it, so a merge keeps what an
    # earlier registry said (the airbyte engine runs that image).
    descriptor_only: bool = field(default=False, compare=False)


@dataclass
class Skipped:
    """Entries of a registry left out: the first few messages, a count, the ids.

    Only ``SKIPPED_SHOWN`` messages are kept (``lines()`` adds "and N more"), so a
    document of a million broken entries costs a counter, not a million strings.
    ``ids`` are the definition ids of skipped entries that had a readable one: a
    prune must not take an entry that is merely malformed today for one Airbyte
    withdrew.
    """

    messages: list[str] = field(default_factory=list)
    count: int = 0
    ids: set[uuid.UUID] = field(default_factory=set)

    def add(self, message: str, definition_id: uuid.UUID | None = None) -> None:
        self.count += 1
        if len(self.messages) < SKIPPED_SHOWN:
            self.messages.append(message)
        if definition_id is not None:
            self.ids.add(definition_id)

    def lines(self) -> list[str]:
        more = self.count - len(self.messages)
        return [*self.messages, *([f"and {more} more"] if more else [])]


@dataclass
class MergeReport:
    """What a merge did, by definition name."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept_in_use: list[str] = field(default_factory=list)
    # Installed or in-use connectors the registry would have changed how they run:
    # "name: kept X (the registry now says Y)".
    kept_runtime: list[str] = field(default_factory=list)
    # Entries of the registry left out, each "where (name): why" (capped: see
    # Skipped), and how many there were in all.
    skipped: list[str] = field(default_factory=list)
    skipped_count: int = 0

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "kept_in_use": self.kept_in_use,
            "kept_runtime": self.kept_runtime,
            "skipped": self.skipped,
        }

    def summary(self) -> str:
        text = (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed, "
            f"{len(self.kept_in_use)} kept (in use)"
        )
        if self.kept_runtime:
            text += f", {len(self.kept_runtime)} kept as they run"
        if self.skipped_count:
            text += f", {self.skipped_count} skipped"
        return text


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


def parse_registry(
    data: dict[str, Any],
    *,
    skipped: Skipped | None = None,
    label: str = "The document",
) -> list[RegistryEntry]:
    """Every entry of a registry document, validated; errors name the entry.

    Strict when ``skipped`` is None (the first bad entry raises). Given a
    ``Skipped``, a bad entry is left out and described there instead; a document
    that is not a registry, lists more than ``MAX_ENTRIES`` in a list, or has no
    usable entry at all, still raises.
    """
    if not isinstance(data, dict) or not ("sources" in data or "destinations" in data):
        raise RegistryError(
            f"{label} is not a registry: no `sources` or `destinations` list."
        )
    lists = (
        ("source", "sources", "sourceDefinitionId"),
        ("destination", "destinations", "destinationDefinitionId"),
    )
    for _kind, key, _id_key in lists:
        items = data.get(key, [])
        if not isinstance(items, list):
            raise RegistryError(f"{label} is not a registry: `{key}` must be a list.")
        if len(items) > MAX_ENTRIES:
            raise RegistryError(
                f"{label} is not a registry: it lists {len(items):,} {key}, more "
                f"than the {MAX_ENTRIES:,} the console accepts (Airbyte's lists "
                "under a thousand)."
            )
    entries: list[RegistryEntry] = []
    seen: set[uuid.UUID] = set()
    problems = skipped if skipped is not None else Skipped()
    total = 0
    for kind, key, id_key in lists:
        for index, item in enumerate(data.get(key, [])):
            where = f"{key}[{index}]"
            if isinstance(item, dict) and item.get("tombstone") is True:
                continue  # Withdrawn by Airbyte: not an entry, not a mistake.
            total += 1
            try:
                entry = _parse_entry(item, kind, id_key, where)
                if entry.definition_id in seen:
                    raise RegistryError(
                        f"{where} ({entry.name}): definition id "
                        f"{entry.definition_id} appears twice."
                    )
            except RegistryError as exc:
                if skipped is None:
                    raise
                problems.add(str(exc), _readable_id(item, id_key))
                continue
            seen.add(entry.definition_id)
            entries.append(entry)
    if total and not entries:
        raise RegistryError(
            f"{label} has no usable entry among {total}: "
            + "; ".join(problems.messages[:3])
        )
    return _with_builtin_destinations(entries, skipped)


def _readable_id(item: Any, id_key: str) -> uuid.UUID | None:
    """The definition id of a malformed entry, if it has a readable one."""
    if not isinstance(item, dict):
        return None
    try:
        return uuid.UUID(str(item.get(id_key, "")))
    except ValueError:
        return None


def _with_builtin_destinations(
    entries: list[RegistryEntry], problems: Skipped | None = None
) -> list[RegistryEntry]:
    """The entries with every registered built-in destination in its own terms.

    A descriptor's fields win over a file's for the same definition id (a file from
    Airbyte names PostgreSQL "Postgres" and knows no ``builtin``); the file keeps
    what the descriptor does not say: the Docker image, release stage, engines.
    With ``problems``, an entry that contradicts a descriptor is left out and
    described there instead of refusing the whole document.
    """
    if problems is not None:
        kept = []
        for entry in entries:
            try:
                _with_builtin_destinations([entry])
            except RegistryError as exc:
                problems.add(str(exc), entry.definition_id)
            else:
                kept.append(entry)
        entries = kept
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
            # The console writes it itself: no package or version to pin, whatever
            # Airbyte publishes for its own image of the same destination.
            "pypi_package": "",
            "pypi_version": "",
            "manifest_only": False,
        }
        found = index.get(definition_id)
        if found is None:
            result.append(
                RegistryEntry(
                    definition_id=definition_id,
                    engines=tuple(
                        engines_for(kind="destination", builtin=descriptor.name)
                    ),
                    descriptor_only=True,
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
            e
            for e in engines_for(kind="destination", builtin=descriptor.name)
            if e not in entry.engines
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


def _text(item: dict[str, Any], key: str, limit: int) -> str:
    value = item.get(key)
    return str(value)[:limit] if isinstance(value, str | int | float) else ""


def _is_manifest_only(item: dict[str, Any]) -> bool:
    tags = item.get("tags")
    return item.get("language") == "manifest-only" or (
        isinstance(tags, list) and "language:manifest-only" in tags
    )


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
    name = _text(item, "name", 200).strip() or builtin
    if not name:
        raise RegistryError(f"{where}: `name` is required.")
    where = f"{where} ({name})"
    registries = item.get("remoteRegistries") or {}
    pypi = registries.get("pypi") if isinstance(registries, dict) else None
    tag = _text(item, "dockerImageTag", 50)
    docker_repository = _text(item, "dockerRepository", 200)
    manifest_only = _is_manifest_only(item)
    package = ""
    version = ""
    if isinstance(pypi, dict) and pypi.get("enabled", True) is not False:
        package = str(pypi.get("packageName") or "")
        version = str(pypi.get("packageVersion") or "")
    if (package or manifest_only or docker_repository) and not builtin and not version:
        # One version for every runtime: Airbyte publishes the package, the
        # manifest and the image of a release under the same number.
        version = tag
    if package and not PACKAGE_RE.match(package):
        raise RegistryError(f"{where}: `{package}` is not a valid package name.")
    if version and not VERSION_RE.match(version):
        raise RegistryError(f"{where}: `{version}` is not a valid version.")
    if manifest_only and not version:
        raise RegistryError(f"{where}: a manifest-only entry needs `dockerImageTag`.")
    engines = console.get("engines")
    if engines is None:
        engines = engines_for(
            kind=kind,
            package=package,
            builtin=builtin,
            docker_repository=docker_repository,
            manifest_only=manifest_only,
        )
    known = engine_registry.engine_names()
    if not isinstance(engines, list) or not set(engines) <= set(known):
        raise RegistryError(f"{where}: engines must be a list drawn from {known}.")
    # Rendered as a link on the catalog and the connector form: a ``javascript:``
    # or ``data:`` URL there would run in the console's origin when clicked.
    docs_url = _text(item, "documentationUrl", 501)
    if len(docs_url) > 500 or not docs_url.startswith(("https://", "http://")):
        docs_url = ""
    stage = _text(item, "releaseStage", 30) or "alpha"
    support = _text(item, "supportLevel", 20)
    icon_url = _text(item, "iconUrl", 501)
    if len(icon_url) > 500 or not icon_url.startswith(("https://", "http://")):
        icon_url = ""
    icon = _text(item, "icon", INLINE_ICON_MAX_CHARS + 1) or _text(item, "iconUrl", 101)
    inline_svg = icon if "<svg" in icon[:2000] else ""
    if len(inline_svg) > INLINE_ICON_MAX_CHARS:
        inline_svg = ""
    if icon.startswith(("https://", "http://")) and not icon_url and len(icon) <= 500:
        icon_url = icon
    return RegistryEntry(
        kind=kind,
        definition_id=definition_id,
        name=name,
        docker_repository=docker_repository,
        docker_image_tag=tag,
        documentation_url=docs_url,
        release_stage=stage if stage in RELEASE_STAGES else "alpha",
        pypi_package=package,
        pypi_version=version,
        entrypoint=str(console.get("entrypoint") or "")[:100],
        builtin=builtin,
        engines=tuple(engines),
        # Airbyte's registry inlines whole SVGs as `icon`; only a short name or URL
        # fits the column (the SVG itself goes to the icon cache).
        icon=icon if len(icon) <= 100 and "<" not in icon else "",
        icon_url=icon_url,
        support_level=support if support in SUPPORT_LEVELS else "",
        manifest_only=manifest_only,
        icon_svg=inline_svg,
    )


def engines_for(
    *,
    kind: str = "",
    package: str = "",
    builtin: str = "",
    docker_repository: str = "",
    manifest_only: bool = False,
) -> list[str]:
    """The registered engines that can run an entry of this kind with these means
    of running (``kind`` "" when unknown: only the means count)."""
    return [
        name
        for name in engine_registry.engine_names()
        if engine_registry.engine_class(name).runs_catalog_entry(
            kind=kind,
            package=package,
            builtin=builtin,
            docker_repository=docker_repository,
            manifest_only=manifest_only,
        )
    ]


def merge_registry(
    entries: list[RegistryEntry],
    *,
    model: Any,
    is_installed: Callable[[Any], bool] = lambda definition: False,
    is_in_use: Callable[[Any], bool] = lambda definition: False,
    prune: bool = False,
    skipped: Skipped | None = None,
) -> MergeReport:
    """Update definitions by id, add new ones; with ``prune``, drop unused missing ones.

    ``model`` is the ConnectorDefinition class (the historical one in a migration,
    whose older fields are all it sets). A connector installed here or used by a
    source or destination keeps how it runs (``RUNTIME_FIELDS``: its package,
    image, manifest, entrypoint and pinned version): a Docker connector a sync
    pulls on demand has no install row, and a registry that names another image
    for it would otherwise have the next sync pull and run that image. The
    refresh only records the registry's version as ``latest_version`` ("upgrade
    available") when it is the same package or image, and names what it kept in
    ``kept_runtime``; "Change version" moves the pin when the user chooses to. An
    existing definition never changes kind (a source in use would become a
    destination): such an entry is skipped and said so.

    ``skipped`` (from ``parse_registry``) receives the entries skipped here and
    keeps every skipped entry's id out of a prune, as does the shipped file.
    """
    report = MergeReport()
    skipped = skipped if skipped is not None else Skipped()
    has = {f.name for f in model._meta.concrete_fields}
    fields = [name for name in MERGED_FIELDS if name in has]
    existing = {d.definition_id: d for d in model.objects.all()}
    created: list[Any] = []
    updated: list[Any] = []
    changed_fields: set[str] = set()
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
            "icon_url": entry.icon_url,
            "support_level": entry.support_level,
            "manifest_only": entry.manifest_only,
        }
        values = {name: values[name] for name in fields}
        definition = existing.get(entry.definition_id)
        if definition is None:
            created.append(model(definition_id=entry.definition_id, **values))
            report.added.append(entry.name)
            continue
        if definition.kind != entry.kind:
            skipped.add(
                f"{entry.kind}s ({entry.name}): definition id "
                f"{entry.definition_id} is a {definition.kind} here "
                f"({definition.name}); its kind never changes.",
                entry.definition_id,
            )
            continue
        # A file from Airbyte knows nothing of the console's own fields: keep ours.
        for name in ("entrypoint", "builtin", "icon"):
            if not values[name]:
                values[name] = getattr(definition, name)
        if entry.descriptor_only:
            for name in DESCRIPTOR_SILENT_FIELDS:
                if name in values:
                    values[name] = getattr(definition, name)
        if _runs_something(definition) and (
            is_installed(definition) or is_in_use(definition)
        ):
            _keep_runtime(definition, values, report)
        changed = [n for n in fields if getattr(definition, n) != values[n]]
        if not changed:
            report.unchanged.append(definition.name)
            continue
        for name in changed:
            setattr(definition, name, values[name])
        changed_fields.update(changed)
        updated.append(definition)
        report.updated.append(definition.name)
    model.objects.bulk_create(created, batch_size=500)
    if updated:
        now = timezone.now()
        for definition in updated:
            definition.updated_at = now
        model.objects.bulk_update(
            updated, [*sorted(changed_fields), "updated_at"], batch_size=500
        )
    if prune:
        wanted = {e.definition_id for e in entries} | skipped.ids
        wanted |= shipped_definition_ids()
        made_here = _made_here(model)
        for definition_id, definition in existing.items():
            if definition_id in wanted:
                continue
            if (
                definition.pk in made_here
                or is_in_use(definition)
                or is_installed(definition)
            ):
                report.kept_in_use.append(definition.name)
            else:
                definition.delete()
                report.removed.append(definition.name)
    report.skipped = skipped.lines()
    report.skipped_count = skipped.count
    return report


def _keep_runtime(definition: Any, values: dict[str, Any], report: MergeReport) -> None:
    """Keep how an installed or in-use connector runs; the registry's offer is
    only ``latest_version``, and only when it is the same package or image."""
    offered = {
        n: values[n]
        for n in IDENTITY_FIELDS
        if n in values and getattr(definition, n) != values[n]
    }
    for name in RUNTIME_FIELDS:
        if name in values:
            values[name] = getattr(definition, name)
    if offered:
        # Another package, image or a move to a manifest: not an upgrade of what
        # runs, so it is not offered as one.
        values["latest_version"] = definition.latest_version
        kept = "; ".join(
            f"kept {_RUNTIME_LABELS[n]} {getattr(definition, n)!r} (the registry "
            f"now says {value!r})"
            for n, value in offered.items()
        )
        report.kept_runtime.append(f"{definition.name}: {kept}")


_RUNTIME_LABELS = {
    "pypi_package": "package",
    "docker_repository": "image",
    "manifest_only": "manifest-only",
}


@functools.cache
def shipped_definition_ids() -> frozenset[uuid.UUID]:
    """The definition ids the shipped registry.json lists (the offline fallback).

    Read as plain JSON, not parsed: a prune must keep them even if a later
    release's parser would refuse an entry.
    """
    ids: set[uuid.UUID] = set()
    data = load_registry_file(SHIPPED_REGISTRY)
    for key, id_key in (
        ("sources", "sourceDefinitionId"),
        ("destinations", "destinationDefinitionId"),
    ):
        for item in data.get(key) or []:
            found = _readable_id(item, id_key)
            if found is not None:
                ids.add(found)
    return frozenset(ids)


def _made_here(model: Any) -> set[Any]:
    """The pks of definitions made in this console, which no registry lists.

    A connector published from the connector builder (or ``airbyte cdk deploy``)
    has a fresh definition id and is never installed through the catalog, so it
    looks unused to a prune; deleting it would take every published version (its
    ``ConnectorManifest`` rows) with it and start the project over at 0.1.0 under
    a new id. Such a definition has builder-made manifests, a builder project or
    the ``custom`` release stage the builder gives it; any of the three keeps it.
    Only relations the model has are asked for (the migration's historical model
    has fewer).
    """
    names = {f.name for f in model._meta.get_fields()}
    made = Q(release_stage="custom") if "release_stage" in names else Q()
    if "manifests" in names:
        made |= Q(manifests__origin="builder")
    if "builder_project" in names:
        made |= Q(builder_project__isnull=False)
    if not made:
        return set()
    return set(model.objects.filter(made).values_list("pk", flat=True))


def _runs_something(definition: Any) -> bool:
    """Something the console installs (a package, a manifest, an image)."""
    if definition.builtin:
        return False
    return bool(
        definition.pypi_package
        or getattr(definition, "manifest_only", False)
        or definition.docker_repository
    )
