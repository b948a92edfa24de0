"""Forms for connections: settings, and the per-stream table built from the catalog."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import QueryDict

from apps.connections.catalog import (
    ALLOWED_MODES,
    StreamChoice,
    default_choice,
    required_fields,
)
from apps.connections.models import (
    QUEUE_NAME_MESSAGE,
    QUEUE_NAME_PATTERN,
    Connection,
    SyncJob,
)
from apps.connectors.models import Destination, Source
from apps.engines.registry import get_engine

MODE_LABELS = {
    ("full_refresh", "overwrite"): "Full refresh | Overwrite",
    ("full_refresh", "append"): "Full refresh | Append",
    ("incremental", "append"): "Incremental | Append",
    ("incremental", "append_dedup"): "Incremental | Append + Deduped",
}


# A destination schema and a table prefix, as every way of making a connection
# accepts them (this form, the JSON API).
SCHEMA_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
TABLE_PREFIX_PATTERN = r"^[A-Za-z0-9_]{0,40}$"


class ConnectionForm(forms.Form):
    name = forms.CharField(max_length=200)
    source = forms.ModelChoiceField(queryset=Source.objects.none())
    destination = forms.ModelChoiceField(queryset=Destination.objects.none())
    namespace = forms.RegexField(
        label="Destination schema",
        regex=SCHEMA_NAME_PATTERN,
        initial="public",
        help_text="Tables go into this schema (letters, digits, underscores).",
        error_messages={
            "invalid": "Use letters, digits and underscores; start with a letter."
        },
    )
    table_prefix = forms.RegexField(
        regex=TABLE_PREFIX_PATTERN,
        required=False,
        help_text="Put before every table name, e.g. faker_.",
        error_messages={"invalid": "Use letters, digits and underscores only."},
    )
    schema_change_policy = forms.ChoiceField(
        label="When the source's schema changes",
        choices=Connection.SchemaChangePolicy.choices,
        initial=Connection.SchemaChangePolicy.IGNORE,
    )
    # Advanced, on the settings page only: pins the connection's syncs to the worker
    # hosts whose WORKER_QUEUES name this queue.
    queue = forms.RegexField(
        label="Queue",
        regex=QUEUE_NAME_PATTERN,
        required=False,
        help_text=(
            "The worker queue its syncs go to; blank is the shared “syncs” queue. "
            "Only a worker whose WORKER_QUEUES names this queue runs them."
        ),
        error_messages={"invalid": QUEUE_NAME_MESSAGE},
    )

    def __init__(
        self, *args: Any, workspace, editing: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = Source.objects.for_workspace(
            workspace
        ).select_related("definition")
        self.fields["destination"].queryset = Destination.objects.for_workspace(
            workspace
        ).select_related("definition")
        if editing:
            # Moving a connection to another source or destination is a new connection.
            del self.fields["source"]
            del self.fields["destination"]
        else:
            del self.fields["queue"]


@dataclass
class StreamRow:
    """One row of the stream table: the catalog's facts and the user's choice."""

    index: int
    catalog: dict[str, Any]
    choice: StreamChoice
    # The destination modes the destination supports, when it limits them.
    destination_modes: tuple[str, ...] | None = None

    @property
    def label(self) -> str:
        namespace = self.catalog.get("namespace")
        return (
            f"{namespace}.{self.catalog['name']}" if namespace else self.catalog["name"]
        )

    @property
    def modes(self) -> list[tuple[str, str]]:
        supported = self.catalog.get("supported_sync_modes") or ["full_refresh"]
        return [
            (f"{sync}:{dest}", MODE_LABELS[(sync, dest)])
            for sync in supported
            for dest in ALLOWED_MODES.get(sync, ())
            if self.destination_modes is None
            or dest in self.destination_modes
            or self.mode == f"{sync}:{dest}"  # a saved choice stays visible
        ]

    @property
    def mode(self) -> str:
        return f"{self.choice.sync_mode}:{self.choice.destination_sync_mode}"

    @property
    def fields(self) -> list[str]:
        return sorted((self.catalog.get("json_schema") or {}).get("properties", {}))

    @property
    def paths(self) -> list[FieldPath]:
        """Every field of the stream's schema, nested ones too, for the pickers."""
        return field_paths(self.catalog.get("json_schema") or {})

    @property
    def cursor_value(self) -> str:
        return path_value(self.choice.cursor_field) if self.choice.cursor_field else ""

    @property
    def pk_values(self) -> list[str]:
        return [path_value(p) for p in self.choice.primary_key]

    @property
    def cursor_options(self) -> list[FieldPath]:
        """The fields a cursor may be, plus the chosen one if the schema lost it."""
        options = self.paths
        if self.choice.cursor_field and self.cursor_value not in {
            o.value for o in options
        }:
            options = [FieldPath(tuple(self.choice.cursor_field)), *options]
        return options

    @property
    def pk_options(self) -> list[FieldPath]:
        options = self.paths
        known = {o.value for o in options}
        missing = [
            FieldPath(tuple(p))
            for p in self.choice.primary_key
            if path_value(p) not in known
        ]
        return [*missing, *options]

    @property
    def cursor_text(self) -> str:
        return ".".join(self.choice.cursor_field)

    @property
    def pk_text(self) -> str:
        return ", ".join(".".join(p) for p in self.choice.primary_key)

    @property
    def field_choices(self) -> list[dict[str, Any]]:
        """The top-level fields for field selection: checked, and locked when the
        primary key or cursor needs them."""
        properties = (self.catalog.get("json_schema") or {}).get("properties") or {}
        chosen = set(self.choice.selected_fields)
        locked = set(required_fields(self.choice))
        return [
            {
                "name": name,
                "checked": not chosen or name in chosen or name in locked,
                "locked": name in locked,
            }
            for name in properties
        ]

    @property
    def fields_summary(self) -> str:
        total = len((self.catalog.get("json_schema") or {}).get("properties") or {})
        chosen = sum(1 for f in self.field_choices if f["checked"])
        if chosen >= total:
            return f"All {total} field{'s' if total != 1 else ''}"
        return f"{chosen} of {total} fields"

    @property
    def uses_cursor(self) -> bool:
        return self.choice.sync_mode == "incremental"

    @property
    def uses_pk(self) -> bool:
        return self.choice.destination_sync_mode == "append_dedup"

    @property
    def cursor_fixed(self) -> bool:
        return bool(self.catalog.get("source_defined_cursor"))

    @property
    def pk_fixed(self) -> bool:
        return bool(self.catalog.get("source_defined_primary_key"))


@dataclass(frozen=True)
class FieldPath:
    """A field of a stream's schema by its path (``("address", "city")``)."""

    path: tuple[str, ...]
    type: str = ""

    @property
    def label(self) -> str:
        return ".".join(self.path)

    @property
    def value(self) -> str:
        return path_value(self.path)


def path_value(path: Any) -> str:
    """A path as a form value: JSON, so names with dots or commas survive."""
    return json.dumps(list(path))


MAX_PATHS = 500


def field_paths(json_schema: dict[str, Any], *, depth: int = 4) -> list[FieldPath]:
    """Every property path of a JSON schema, depth first, objects before their
    children; at most ``MAX_PATHS`` (a huge schema still gets a usable picker)."""
    found: list[FieldPath] = []

    def walk(node: dict[str, Any], prefix: tuple[str, ...]) -> None:
        for name, sub in (node.get("properties") or {}).items():
            if len(found) >= MAX_PATHS:
                return
            sub = sub if isinstance(sub, dict) else {}
            kind = sub.get("type", "")
            if isinstance(kind, list):
                kind = next((k for k in kind if k != "null"), "")
            found.append(FieldPath((*prefix, str(name)), str(kind or "")))
            if sub.get("properties") and len(prefix) + 1 < depth:
                walk(sub, (*prefix, str(name)))

    walk(json_schema, ())
    return found


def stream_rows(
    catalog: dict | None,
    *,
    data: QueryDict | None = None,
    existing: list[dict[str, Any]] | None = None,
    destination_modes: tuple[str, ...] | None = None,
) -> list[StreamRow]:
    """The stream table: from a POST (what the user chose), else the saved streams,
    else the best default each stream supports (among ``destination_modes``, the
    modes the destination supports, when it limits them)."""
    saved = {(s.get("namespace") or "", s["name"]): s for s in existing or []}
    rows = []
    for index, stream in enumerate((catalog or {}).get("streams", [])):
        key = (stream.get("namespace") or "", stream["name"])
        if data is not None:
            choice = _choice_from_post(data, index, stream)
        elif key in saved:
            choice = StreamChoice.from_dict(saved[key])
        else:
            choice = default_choice(stream)
            if (
                destination_modes is not None
                and choice.destination_sync_mode not in destination_modes
            ):
                allowed = ALLOWED_MODES.get(choice.sync_mode, ())
                choice.destination_sync_mode = next(
                    (m for m in allowed if m in destination_modes),
                    choice.destination_sync_mode,
                )
            # A new connection starts with every stream selected, like Airbyte's.
            choice.selected = True
        rows.append(
            StreamRow(
                index=index,
                catalog=stream,
                choice=choice,
                destination_modes=destination_modes,
            )
        )
    return rows


def _paths(text: str) -> list[list[str]]:
    """Paths from a form value: a picker's JSON path, or typed ``a.b, c`` text."""
    text = text.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(p, str) for p in value):
            return [value] if value else []
    return [
        [part.strip() for part in item.split(".") if part.strip()]
        for item in text.split(",")
        if item.strip()
    ]


def _values(data: QueryDict, name: str) -> list[str]:
    if hasattr(data, "getlist"):
        return [str(v) for v in data.getlist(name)]
    value = data.get(name)
    return [] if value is None else [str(value)]


def _choice_from_post(
    data: QueryDict, index: int, stream: dict[str, Any]
) -> StreamChoice:
    prefix = f"stream-{index}-"
    mode = data.get(prefix + "mode", "full_refresh:overwrite")
    sync_mode, _, destination_mode = mode.partition(":")
    cursor = _paths(data.get(prefix + "cursor", ""))
    primary_key = [p for value in _values(data, prefix + "pk") for p in _paths(value)]
    # Field selection: only when the form showed the picker (else every field).
    fields = (
        _values(data, prefix + "fields") if data.get(prefix + "fields-shown") else []
    )
    return StreamChoice(
        name=stream["name"],
        namespace=stream.get("namespace") or "",
        selected=data.get(prefix + "selected") == "on",
        sync_mode=sync_mode,
        destination_sync_mode=destination_mode or "overwrite",
        cursor_field=cursor[0] if cursor else [],
        primary_key=primary_key,
        selected_fields=list(dict.fromkeys(fields)),
    )


def choices_as_dicts(rows: list[StreamRow]) -> list[dict[str, Any]]:
    return [vars(row.choice) for row in rows]


class JobFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), *SyncJob.Status.choices]
    )
    trigger = forms.ChoiceField(
        required=False, choices=[("", "Any trigger"), *SyncJob.Trigger.choices]
    )
    since = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class TimelineFilterForm(JobFilterForm):
    """The workspace job timeline's filters: a job's filters plus its connection."""

    connection = forms.ModelChoiceField(
        queryset=Connection.objects.none(),
        required=False,
        empty_label="Any connection",
        to_field_name="public_id",
    )
    field_order = ["status", "connection", "trigger", "since", "until"]

    def __init__(self, *args: Any, workspace, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connection"].queryset = Connection.objects.for_workspace(
            workspace
        ).order_by("name")


class ResetForm(forms.Form):
    streams = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None chosen: every stream.",
    )
    drop_tables = forms.BooleanField(
        required=False, label="Also empty the destination tables of these streams"
    )
    confirm = forms.CharField(
        help_text="Type the connection's name to confirm.", max_length=200
    )

    def __init__(self, *args: Any, connection: Connection, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connection = connection
        self.fields["streams"].choices = [
            (s.name, str(s)) for s in connection.streams.all() if s.selected
        ]
        # Some engines (a server's) have no reset that keeps the tables: say so here
        # rather than let the user believe the data stays.
        self.can_forget_state_only = get_engine(
            connection.workspace
        ).can_forget_state_only
        if not self.can_forget_state_only:
            field = self.fields["drop_tables"]
            field.initial = True
            field.label = "Empty the destination tables of these streams"
            field.help_text = (
                "Required here: this workspace's engine has no reset that keeps "
                "the tables, so their data is deleted."
            )

    def clean_drop_tables(self) -> bool:
        value = bool(self.cleaned_data.get("drop_tables"))
        if not value and not self.can_forget_state_only:
            raise forms.ValidationError(
                "This workspace's engine cannot forget the saved state alone: a "
                "reset also empties the tables. Tick this box to reset."
            )
        return value

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"].strip()
        if value != self.connection.name:
            raise forms.ValidationError(
                f"Type “{self.connection.name}” exactly to confirm the reset."
            )
        return value
