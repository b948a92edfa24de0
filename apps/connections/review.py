"""The review step of a new connection: what saving it will do, before it is saved.

Plain reads: the destination's own table layout (its descriptor's ``table_names``),
the modes chosen, and the other connections that already write the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.connections.catalog import StreamChoice, catalog_streams
from apps.connections.models import Connection, DestinationSyncMode, SyncMode
from apps.connectors.models import Destination, Source
from apps.engines.registry import destination as destination_descriptor

MODE_LABELS = {
    (SyncMode.FULL_REFRESH, DestinationSyncMode.OVERWRITE): "Full refresh | Overwrite",
    (SyncMode.FULL_REFRESH, DestinationSyncMode.APPEND): "Full refresh | Append",
    (SyncMode.INCREMENTAL, DestinationSyncMode.APPEND): "Incremental | Append",
    (
        SyncMode.INCREMENTAL,
        DestinationSyncMode.APPEND_DEDUP,
    ): "Incremental | Append + Deduped",
}


@dataclass(frozen=True)
class ReviewStream:
    """One selected stream: where it lands and what syncs do to that table."""

    label: str
    mode: str
    table: str
    first_sync: str
    later_syncs: str
    cursor: str = ""
    primary_key: str = ""
    shared_with: tuple[str, ...] = ()
    # Field selection: "" for every field, else the fields written.
    fields: str = ""


@dataclass
class Review:
    """Everything the review step shows."""

    source: Source
    destination: Destination
    namespace: str
    table_prefix: str
    policy: str
    streams: list[ReviewStream] = field(default_factory=list)
    skipped: int = 0
    # False when the destination cannot say its table names (a server's):
    # the names shown are the usual layout, not a promise.
    exact_names: bool = True

    @property
    def incremental(self) -> int:
        return sum(1 for s in self.streams if s.mode.startswith("Incremental"))

    @property
    def replaced(self) -> int:
        return sum(1 for s in self.streams if s.mode.endswith("Overwrite"))

    @property
    def shared(self) -> list[ReviewStream]:
        return [s for s in self.streams if s.shared_with]

    @property
    def failing(self) -> list[Any]:
        return [
            c
            for c in (self.source, self.destination)
            if c.last_check_status == "failed"
        ]


def _label(namespace: str, name: str) -> str:
    return f"{namespace}.{name}" if namespace else name


def _tables(
    destination: Destination,
    streams: list[tuple[str, str]],
    *,
    namespace: str,
    prefix: str,
) -> tuple[dict[tuple[str, str], str], bool]:
    """``{(namespace, name): "schema.table"}`` and whether the names are exact."""
    descriptor = destination_descriptor(destination.definition.builtin or "")
    if descriptor is not None and descriptor.table_names is not None:
        found = descriptor.table_names(
            [(ns or None, name) for ns, name in streams],
            schema=namespace,
            prefix=prefix,
        )
        names = {}
        for ns, name in streams:
            schema, table = found[(ns or None, name)]
            names[(ns, name)] = f"{schema}.{table}"
        return names, True
    return {(ns, name): f"{namespace}.{prefix}{name}" for ns, name in streams}, False


def _what_syncs_do(choice: StreamChoice) -> tuple[str, str]:
    cursor = ".".join(choice.cursor_field)
    if choice.sync_mode == SyncMode.INCREMENTAL:
        later = f"read only records whose {cursor or 'cursor'} is newer, and "
        if choice.destination_sync_mode == DestinationSyncMode.APPEND_DEDUP:
            key = ", ".join(".".join(p) for p in choice.primary_key)
            return (
                "Reads every record; the table keeps the latest row per "
                f"{key or 'primary key'}.",
                later + "update rows with the same key",
            )
        return "Reads every record into the table.", later + "append them"
    if choice.destination_sync_mode == DestinationSyncMode.APPEND:
        return (
            "Reads every record into the table.",
            "append a full copy again each time",
        )
    return (
        "Creates the table, or replaces it if it exists, with a full copy.",
        "replace the table with a new full copy",
    )


def connection_review(
    *,
    workspace: Any,
    source: Source,
    destination: Destination,
    namespace: str,
    table_prefix: str,
    policy: str,
    choices: list[StreamChoice],
) -> Review:
    """What saving this new connection will do, from the (validated) choices."""
    selected = [c for c in choices if c.selected]
    keys = [(c.namespace, c.name) for c in selected]
    names, exact = _tables(destination, keys, namespace=namespace, prefix=table_prefix)
    # Other connections writing the same destination: the same table twice means
    # one overwrites what the other wrote.
    taken: dict[str, list[str]] = {}
    others = (
        Connection.objects.for_workspace(workspace)
        .filter(destination=destination)
        .prefetch_related("streams")
    )
    for other in others:
        rows = [s for s in other.streams.all() if s.selected]
        theirs, _ = _tables(
            destination,
            [(s.namespace, s.name) for s in rows],
            namespace=other.namespace,
            prefix=other.table_prefix,
        )
        for table in theirs.values():
            taken.setdefault(table, []).append(other.name)
    review = Review(
        source=source,
        destination=destination,
        namespace=namespace,
        table_prefix=table_prefix,
        policy=dict(Connection.SchemaChangePolicy.choices).get(policy, policy),
        skipped=len(choices) - len(selected),
        exact_names=exact,
    )
    catalog = catalog_streams(source.catalog)
    for choice in selected:
        first, later = _what_syncs_do(choice)
        total = len(
            (
                (catalog.get((choice.namespace, choice.name)) or {}).get("json_schema")
                or {}
            ).get("properties")
            or {}
        )
        fields = (
            f"{', '.join(choice.selected_fields)} "
            f"({len(choice.selected_fields)} of {total} fields)"
            if choice.selected_fields
            else ""
        )
        table = names[(choice.namespace, choice.name)]
        review.streams.append(
            ReviewStream(
                label=_label(choice.namespace, choice.name),
                mode=MODE_LABELS.get(
                    (choice.sync_mode, choice.destination_sync_mode),
                    f"{choice.sync_mode} | {choice.destination_sync_mode}",
                ),
                table=table,
                first_sync=first,
                later_syncs=later,
                cursor=".".join(choice.cursor_field)
                if choice.sync_mode == SyncMode.INCREMENTAL
                else "",
                primary_key=", ".join(".".join(p) for p in choice.primary_key)
                if choice.destination_sync_mode == DestinationSyncMode.APPEND_DEDUP
                else "",
                shared_with=tuple(sorted(set(taken.get(table, ())))),
                fields=fields,
            )
        )
    return review


def review_problems(
    *,
    workspace: Any,
    name: str,
    source: Source,
    choices: list[StreamChoice],
    destination: Destination | None = None,
) -> dict[str, list[str]]:
    """What would make the save refuse, found before the review is shown."""
    from apps.connections.catalog import validate_choices
    from apps.connections.selectors import destination_modes

    problems: dict[str, list[str]] = {}
    name = " ".join(name.split())
    if Connection.objects.for_workspace(workspace).filter(name__iexact=name).exists():
        problems["name"] = [f"A connection named “{name}” already exists."]
    streams = validate_choices(
        source.catalog,
        choices,
        destination_modes=(
            destination_modes(destination=destination) if destination else None
        ),
    )
    if streams:
        problems["streams"] = streams
    return problems
