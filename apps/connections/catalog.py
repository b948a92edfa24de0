"""Checking a connection's stream configuration against the source's catalog.

The catalog is the source's discovered catalog as Airbyte's protocol gives it
(``{"streams": [{"name", "namespace", "json_schema", "supported_sync_modes",
"source_defined_cursor", "default_cursor_field", "source_defined_primary_key"}]}``),
cached on the Source by discover.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.connections.models import DestinationSyncMode, SyncMode

# Which destination modes go with which source mode (Airbyte's combinations).
ALLOWED_MODES: dict[str, tuple[str, ...]] = {
    SyncMode.FULL_REFRESH: (DestinationSyncMode.OVERWRITE, DestinationSyncMode.APPEND),
    SyncMode.INCREMENTAL: (
        DestinationSyncMode.APPEND,
        DestinationSyncMode.APPEND_DEDUP,
    ),
}


@dataclass
class StreamChoice:
    """What a user chose for one stream."""

    name: str
    namespace: str = ""
    selected: bool = True
    sync_mode: str = SyncMode.FULL_REFRESH
    destination_sync_mode: str = DestinationSyncMode.OVERWRITE
    cursor_field: list[str] = field(default_factory=list)
    primary_key: list[list[str]] = field(default_factory=list)
    # Field selection: top-level fields to sync; empty means all of them.
    selected_fields: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StreamChoice:
        return cls(
            name=str(data["name"]),
            namespace=str(data.get("namespace") or ""),
            selected=bool(data.get("selected", True)),
            sync_mode=str(data.get("sync_mode") or SyncMode.FULL_REFRESH),
            destination_sync_mode=str(
                data.get("destination_sync_mode") or DestinationSyncMode.OVERWRITE
            ),
            cursor_field=list(data.get("cursor_field") or []),
            primary_key=[list(path) for path in data.get("primary_key") or []],
            selected_fields=[str(f) for f in data.get("selected_fields") or []],
        )


def catalog_streams(catalog: dict | None) -> dict[tuple[str, str], dict[str, Any]]:
    """The catalog's streams keyed by (namespace, name)."""
    streams = (catalog or {}).get("streams", [])
    return {(s.get("namespace") or "", s["name"]): s for s in streams}


def schema_has_path(json_schema: dict, path: list[str]) -> bool:
    """True when ``path`` names a property in the (possibly nested) JSON schema."""
    node: dict = json_schema
    for part in path:
        properties = node.get("properties") or {}
        if part not in properties:
            return False
        node = properties[part] or {}
    return bool(path)


def default_choice(stream: dict[str, Any]) -> StreamChoice:
    """The choice a new connection starts with: the best mode the stream supports."""
    modes = stream.get("supported_sync_modes") or [SyncMode.FULL_REFRESH]
    cursor = list(stream.get("default_cursor_field") or [])
    primary_key = [list(p) for p in stream.get("source_defined_primary_key") or []]
    if SyncMode.INCREMENTAL in modes and cursor:
        sync_mode = SyncMode.INCREMENTAL
        destination_mode = (
            DestinationSyncMode.APPEND_DEDUP
            if primary_key
            else DestinationSyncMode.APPEND
        )
    else:
        sync_mode = SyncMode.FULL_REFRESH
        destination_mode = DestinationSyncMode.OVERWRITE
    return StreamChoice(
        name=stream["name"],
        namespace=stream.get("namespace") or "",
        sync_mode=sync_mode,
        destination_sync_mode=destination_mode,
        cursor_field=cursor,
        primary_key=primary_key,
    )


DESTINATION_MODE_WORDS = {
    DestinationSyncMode.OVERWRITE: "overwrite",
    DestinationSyncMode.APPEND: "append",
    DestinationSyncMode.APPEND_DEDUP: "append + deduped",
}


def validate_choices(
    catalog: dict | None,
    choices: list[StreamChoice],
    *,
    destination_modes: tuple[str, str] | None = None,
) -> list[str]:
    """Every problem with the choices, each naming its stream; empty when valid.

    ``destination_modes`` is ``(destination name, modes)`` when the destination
    says which it supports (a files destination cannot deduplicate), else None.
    """
    streams = catalog_streams(catalog)
    problems: list[str] = []
    if not streams:
        return ["The source has no discovered catalog: run “Refresh schema” first."]
    if not any(choice.selected for choice in choices):
        problems.append("Select at least one stream.")
    for choice in choices:
        if not choice.selected:
            continue
        label = f"{choice.namespace}.{choice.name}" if choice.namespace else choice.name
        stream = streams.get((choice.namespace, choice.name))
        if stream is None:
            problems.append(f"Stream {label}: the source does not have it (any more).")
            continue
        supported = stream.get("supported_sync_modes") or [SyncMode.FULL_REFRESH]
        if choice.sync_mode not in supported:
            problems.append(
                f"Stream {label}: the source does not support {choice.sync_mode} "
                f"(it supports {', '.join(supported)})."
            )
            continue
        if choice.destination_sync_mode not in ALLOWED_MODES.get(choice.sync_mode, ()):
            problems.append(
                f"Stream {label}: {choice.sync_mode} cannot be combined with "
                f"{choice.destination_sync_mode}."
            )
            continue
        if destination_modes is not None:
            destination, supported_modes = destination_modes
            if choice.destination_sync_mode not in supported_modes:
                words = ", ".join(
                    DESTINATION_MODE_WORDS.get(m, m) for m in supported_modes
                )
                mode = DESTINATION_MODE_WORDS.get(
                    choice.destination_sync_mode, choice.destination_sync_mode
                )
                problems.append(
                    f"Stream {label}: {destination} does not support the {mode} "
                    f"mode (it supports {words}): choose another."
                )
                continue
        schema = stream.get("json_schema") or {}
        if choice.sync_mode == SyncMode.INCREMENTAL:
            if stream.get("source_defined_cursor"):
                choice.cursor_field = list(stream.get("default_cursor_field") or [])
            if not choice.cursor_field:
                problems.append(
                    f"Stream {label}: incremental sync needs a cursor field."
                )
            elif not schema_has_path(schema, choice.cursor_field):
                problems.append(
                    f"Stream {label}: the cursor field {'.'.join(choice.cursor_field)} "
                    "is not in the stream's schema."
                )
        if choice.destination_sync_mode == DestinationSyncMode.APPEND_DEDUP:
            source_key = stream.get("source_defined_primary_key")
            if source_key:
                choice.primary_key = [list(p) for p in source_key]
            if not choice.primary_key:
                problems.append(
                    f"Stream {label}: append + deduped needs a primary key."
                )
            for path in choice.primary_key:
                if not schema_has_path(schema, path):
                    problems.append(
                        f"Stream {label}: the primary key field {'.'.join(path)} "
                        "is not in the stream's schema."
                    )
        if choice.selected_fields:
            _normalise_fields(schema, choice)
    return problems


def required_fields(choice: StreamChoice) -> list[str]:
    """The top-level fields a stream always syncs: its primary key and cursor."""
    needed: list[str] = []
    if choice.sync_mode == SyncMode.INCREMENTAL and choice.cursor_field:
        needed.append(choice.cursor_field[0])
    if choice.destination_sync_mode == DestinationSyncMode.APPEND_DEDUP:
        needed.extend(path[0] for path in choice.primary_key if path)
    return needed


def _normalise_fields(schema: dict, choice: StreamChoice) -> None:
    """Field selection: the key and cursor are always added, fields the schema no
    longer has are dropped (a schema change must not stop the connection), and
    every field chosen means no selection (new fields then sync too)."""
    known = list((schema.get("properties") or {}).keys())
    kept = [f for f in choice.selected_fields if f in known]
    if not kept:
        choice.selected_fields = []
        return
    chosen = set(kept) | set(required_fields(choice))
    choice.selected_fields = (
        [] if chosen >= set(known) else [f for f in known if f in chosen]
    )


@dataclass
class SchemaDiff:
    """How the source's catalog differs from what a connection was saved with."""

    added_streams: list[str] = field(default_factory=list)
    removed_streams: list[str] = field(default_factory=list)
    added_columns: dict[str, list[str]] = field(default_factory=dict)
    removed_columns: dict[str, list[str]] = field(default_factory=dict)
    breaking: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.added_streams
            or self.removed_streams
            or self.added_columns
            or self.removed_columns
        )


def schema_diff(saved: list[Any], catalog: dict | None) -> SchemaDiff:
    """Compare a connection's saved streams with the source's current catalog.

    A change is breaking when a synced stream disappears, or a synced stream loses
    its cursor or a primary-key field (the sync could no longer work as set up).
    """
    diff = SchemaDiff()
    current = catalog_streams(catalog)
    known = {(s.namespace, s.name): s for s in saved}
    for key, stream in sorted(current.items()):
        if key not in known:
            diff.added_streams.append(stream["name"])
    for key, row in sorted(known.items()):
        label = f"{row.namespace}.{row.name}" if row.namespace else row.name
        stream = current.get(key)
        if stream is None:
            diff.removed_streams.append(label)
            if row.selected:
                diff.breaking.append(f"The synced stream {label} is gone.")
            continue
        old = set((row.json_schema or {}).get("properties") or {})
        new = set((stream.get("json_schema") or {}).get("properties") or {})
        if new - old:
            diff.added_columns[label] = sorted(new - old)
        if old - new:
            diff.removed_columns[label] = sorted(old - new)
            lost = {row.cursor_field[0]} if row.cursor_field else set()
            lost |= {path[0] for path in row.primary_key if path}
            for name in sorted(lost & (old - new)):
                if row.selected:
                    diff.breaking.append(
                        f"Stream {label} lost {name}, its cursor or primary key."
                    )
    return diff
