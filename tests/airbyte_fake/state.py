"""The fake's in-memory data: definitions, workspaces, actors, connections and jobs.

Plain dataclasses and small pure helpers; the HTTP layer (``server.py``) holds the
lock and turns these into the API shapes (``endpoints.py``).
"""

from __future__ import annotations

import copy
import itertools
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

SECRET_MASK = "**********"
DEFAULT_ORGANIZATION_ID = "00000000-0000-0000-0000-000000000000"
DEFAULT_USER_ID = "00000000-0000-0000-0000-000000000000"
DEFAULT_WORKSPACE_ID = "5ae6b09b-fdec-41af-aaf7-7d94cfc33ef6"

# Airbyte's real definition ids, so a console that hard-codes them behaves the same.
FAKER_SOURCE_ID = "dfd88b22-b603-4c3d-aad7-3701784586b1"
POSTGRES_DESTINATION_ID = "25c5221d-dce2-4163-ade9-739ef790f503"
DUCKDB_DESTINATION_ID = "94bd199c-2ff0-4aa2-b98e-17f0acb72610"

TERMINAL_JOB_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
ACTIVE_JOB_STATUSES = frozenset({"pending", "running", "incomplete"})

# Public sync mode <-> (source SyncMode, DestinationSyncMode) of the Config API.
PUBLIC_SYNC_MODES: dict[str, tuple[str, str]] = {
    "full_refresh_overwrite": ("full_refresh", "overwrite"),
    "full_refresh_overwrite_deduped": ("full_refresh", "overwrite_dedup"),
    "full_refresh_append": ("full_refresh", "append"),
    "full_refresh_update": ("full_refresh", "update"),
    "full_refresh_soft_delete": ("full_refresh", "soft_delete"),
    "incremental_append": ("incremental", "append"),
    "incremental_deduped_history": ("incremental", "append_dedup"),
    "incremental_update": ("incremental", "update"),
    "incremental_soft_delete": ("incremental", "soft_delete"),
}


def now_seconds() -> int:
    return int(time.time())


def new_id() -> str:
    return str(uuid.uuid4())


# --- definitions -------------------------------------------------------------------


@dataclass
class StreamDef:
    """One stream a source definition discovers."""

    name: str
    json_schema: dict[str, Any]
    supported_sync_modes: list[str]
    source_defined_cursor: bool = False
    default_cursor_field: list[str] = field(default_factory=list)
    source_defined_primary_key: list[list[str]] = field(default_factory=list)
    namespace: str | None = None

    @property
    def property_fields(self) -> list[list[str]]:
        return [[name] for name in self.json_schema.get("properties", {})]


@dataclass
class Definition:
    """A connector definition with its connectionSpecification."""

    id: str
    kind: str  # "source" | "destination"
    name: str
    docker_repository: str
    docker_image_tag: str
    documentation_url: str
    connection_specification: dict[str, Any]
    streams: list[StreamDef] = field(default_factory=list)
    supported_destination_sync_modes: list[str] = field(default_factory=list)
    source_type: str = "api"  # Config API SourceDefinitionRead.sourceType
    # A custom declarative source published from a connector builder project:
    # the one workspace that sees it, and its manifests by version number.
    workspace_id: str = ""
    manifests: dict[int, dict[str, Any]] = field(default_factory=dict)
    active_manifest: int = 0

    def visible_to(self, workspace_id: str) -> bool:
        return not self.workspace_id or self.workspace_id == workspace_id

    @property
    def type_name(self) -> str:
        """``sourceType``/``destinationType`` as the Public API reports it."""
        return self.docker_repository.rsplit("/", 1)[-1].removeprefix(f"{self.kind}-")


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


_TIMESTAMP = {"type": ["null", "string"], "format": "date-time"}
_INT = {"type": ["null", "integer"]}
_STR = {"type": ["null", "string"]}


def seed_definitions() -> dict[str, Definition]:
    """Faker source, Postgres and DuckDB destinations: small but realistic specs."""
    faker = Definition(
        id=FAKER_SOURCE_ID,
        kind="source",
        name="Sample Data (Faker)",
        docker_repository="airbyte/source-faker",
        docker_image_tag="6.2.21",
        documentation_url="https://docs.airbyte.com/integrations/sources/faker",
        source_type="api",
        connection_specification={
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Faker Source Spec",
            "type": "object",
            "required": ["count"],
            "additionalProperties": True,
            "properties": {
                "count": {
                    "title": "Count",
                    "description": "How many users should be generated in total.",
                    "type": "integer",
                    "minimum": 1,
                    "default": 1000,
                    "order": 0,
                },
                "seed": {
                    "title": "Seed",
                    "description": "Random seed; -1 for a different run every time.",
                    "type": "integer",
                    "default": -1,
                    "order": 1,
                },
                "records_per_slice": {
                    "title": "Records Per Stream Slice",
                    "description": "How many records per slice before a state message.",
                    "type": "integer",
                    "minimum": 1,
                    "default": 1000,
                    "order": 2,
                },
            },
        },
        streams=[
            StreamDef(
                name="users",
                json_schema=_object(
                    {
                        "id": _INT,
                        "name": _STR,
                        "email": _STR,
                        "created_at": _TIMESTAMP,
                        "updated_at": _TIMESTAMP,
                    }
                ),
                supported_sync_modes=["full_refresh", "incremental"],
                source_defined_cursor=True,
                default_cursor_field=["updated_at"],
                source_defined_primary_key=[["id"]],
            ),
            StreamDef(
                name="products",
                json_schema=_object(
                    {
                        "id": _INT,
                        "make": _STR,
                        "model": _STR,
                        "price": {"type": ["null", "number"]},
                        "updated_at": _TIMESTAMP,
                    }
                ),
                supported_sync_modes=["full_refresh", "incremental"],
                default_cursor_field=["updated_at"],
                source_defined_primary_key=[["id"]],
            ),
            StreamDef(
                name="purchases",
                json_schema=_object(
                    {
                        "id": _INT,
                        "user_id": _INT,
                        "product_id": _INT,
                        "purchased_at": _TIMESTAMP,
                    }
                ),
                supported_sync_modes=["full_refresh"],
                source_defined_primary_key=[["id"]],
            ),
        ],
    )
    postgres = Definition(
        id=POSTGRES_DESTINATION_ID,
        kind="destination",
        name="Postgres",
        docker_repository="airbyte/destination-postgres",
        docker_image_tag="2.4.7",
        documentation_url="https://docs.airbyte.com/integrations/destinations/postgres",
        supported_destination_sync_modes=[
            "overwrite",
            "append",
            "append_dedup",
            "overwrite_dedup",
        ],
        connection_specification={
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Postgres Destination Spec",
            "type": "object",
            "required": ["host", "port", "username", "database", "schema"],
            "additionalProperties": True,
            "properties": {
                "host": {"title": "Host", "type": "string", "order": 0},
                "port": {
                    "title": "Port",
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 65536,
                    "default": 5432,
                    "order": 1,
                },
                "database": {"title": "DB Name", "type": "string", "order": 2},
                "schema": {
                    "title": "Default Schema",
                    "type": "string",
                    "default": "public",
                    "order": 3,
                },
                "username": {"title": "User", "type": "string", "order": 4},
                "password": {
                    "title": "Password",
                    "type": "string",
                    "airbyte_secret": True,
                    "order": 5,
                },
                "ssl_mode": {
                    "title": "SSL modes",
                    "type": "object",
                    "order": 6,
                    "oneOf": [
                        {
                            "title": "disable",
                            "required": ["mode"],
                            "properties": {
                                "mode": {"type": "string", "const": "disable"}
                            },
                        },
                        {
                            "title": "verify-full",
                            "required": ["mode", "ca_certificate"],
                            "properties": {
                                "mode": {"type": "string", "const": "verify-full"},
                                "ca_certificate": {
                                    "type": "string",
                                    "airbyte_secret": True,
                                    "multiline": True,
                                },
                                "client_key_password": {
                                    "type": "string",
                                    "airbyte_secret": True,
                                },
                            },
                        },
                    ],
                },
            },
        },
    )
    duckdb = Definition(
        id=DUCKDB_DESTINATION_ID,
        kind="destination",
        name="DuckDB",
        docker_repository="airbyte/destination-duckdb",
        docker_image_tag="0.4.28",
        documentation_url="https://docs.airbyte.com/integrations/destinations/duckdb",
        supported_destination_sync_modes=["overwrite", "append", "append_dedup"],
        connection_specification={
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Destination Duckdb",
            "type": "object",
            "required": ["destination_path"],
            "additionalProperties": True,
            "properties": {
                "destination_path": {
                    "title": "Destination DB",
                    "description": "Path to the .duckdb file.",
                    "type": "string",
                    "order": 0,
                },
                "schema": {"title": "Destination Schema", "type": "string"},
                "motherduck_api_key": {
                    "title": "MotherDuck API Key",
                    "type": "string",
                    "airbyte_secret": True,
                },
            },
        },
    )
    return {d.id: d for d in (faker, postgres, duckdb)}


# --- secrets -----------------------------------------------------------------------


def _property_schemas(schema: dict[str, Any]) -> dict[str, Any]:
    """Properties of an object schema, merged across its oneOf/anyOf branches."""
    merged: dict[str, Any] = dict(schema.get("properties", {}))
    for key in ("oneOf", "anyOf", "allOf"):
        for branch in schema.get(key, []):
            for name, sub in branch.get("properties", {}).items():
                merged.setdefault(name, sub)
                if sub.get("airbyte_secret"):
                    merged[name] = sub
    return merged


def mask_secrets(config: Any, schema: dict[str, Any]) -> Any:
    """Replace every ``airbyte_secret`` value with ``**********``, at any depth."""
    if not isinstance(config, dict):
        return config
    props = _property_schemas(schema)
    out: dict[str, Any] = {}
    for key, value in config.items():
        sub = props.get(key, {})
        if sub.get("airbyte_secret") and value is not None:
            out[key] = SECRET_MASK
        elif isinstance(value, dict):
            out[key] = mask_secrets(value, sub)
        else:
            out[key] = copy.deepcopy(value)
    return out


def keep_masked_secrets(new: Any, stored: Any) -> Any:
    """Where ``new`` still holds the mask, take the stored secret (``copySecrets``)."""
    if new == SECRET_MASK:
        return copy.deepcopy(stored)
    if isinstance(new, dict):
        old = stored if isinstance(stored, dict) else {}
        return {
            key: keep_masked_secrets(value, old.get(key)) for key, value in new.items()
        }
    return copy.deepcopy(new)


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """PATCH semantics of the Public API: objects merge, everything else replaces."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def contains_value(config: Any, needle: str) -> bool:
    if isinstance(config, dict):
        return any(contains_value(v, needle) for v in config.values())
    if isinstance(config, list):
        return any(contains_value(v, needle) for v in config)
    return config == needle


# --- resources ---------------------------------------------------------------------


@dataclass
class Workspace:
    """A workspace as the Public API shows it."""

    id: str
    name: str
    notifications: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False


@dataclass
class Actor:
    """A source or a destination; ``configuration`` holds the real secrets."""

    id: str
    kind: str
    name: str
    definition_id: str
    workspace_id: str
    configuration: dict[str, Any]
    created_at: int = field(default_factory=now_seconds)
    deleted: bool = False


@dataclass
class ConfiguredStream:
    """One selected stream of a connection, in public terms."""

    name: str
    sync_mode: str
    cursor_field: list[str] = field(default_factory=list)
    primary_key: list[list[str]] = field(default_factory=list)
    namespace: str | None = None
    selected_fields: list[dict[str, Any]] | None = None
    mappers: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Connection:
    """A connection as the Public API shows it."""

    id: str
    name: str
    source_id: str
    destination_id: str
    workspace_id: str
    streams: list[ConfiguredStream]
    status: str = "active"
    schedule_type: str = "manual"
    cron_expression: str | None = None
    namespace_definition: str = "destination"
    namespace_format: str | None = None
    prefix: str = ""
    non_breaking_behavior: str = "ignore"
    tags: list[dict[str, Any]] = field(default_factory=list)
    created_at: int = field(default_factory=now_seconds)


# --- jobs --------------------------------------------------------------------------

DEFAULT_SYNC_STEPS = ("pending", "running", "running", "succeeded")
BYTES_PER_ROW = 120


@dataclass
class JobScript:
    """How the next job behaves: the statuses it shows, one per observation."""

    steps: list[str] = field(default_factory=lambda: list(DEFAULT_SYNC_STEPS))
    rows: int = 100
    bytes: int | None = None
    failure: dict[str, Any] | None = None
    attempt_failures: list[dict[str, Any]] = field(default_factory=list)
    allow_invalid_response: bool = False


@dataclass
class Attempt:
    """One attempt of a job (Config API ``AttemptRead``)."""

    number: int
    status: str = "running"
    created_at: int = field(default_factory=now_seconds)
    updated_at: int = field(default_factory=now_seconds)
    ended_at: int | None = None
    records: int = 0
    bytes: int = 0
    failure: dict[str, Any] | None = None
    log_lines: list[str] = field(default_factory=list)


def _failure_reason(failure: dict[str, Any], default_type: str) -> dict[str, Any]:
    reason = {
        "failureOrigin": "source",
        "failureType": default_type,
        "externalMessage": "Something went wrong during the sync.",
        **failure,
    }
    reason.setdefault("internalMessage", reason["externalMessage"])
    reason.setdefault("retryable", reason["failureType"] == "transient_error")
    reason.setdefault("timestamp", int(time.time() * 1000))
    return reason


@dataclass
class Job:
    """A job that advances one scripted step each time a client observes it."""

    id: int
    connection_id: str
    workspace_id: str
    job_type: str
    script: JobScript
    stream_names: list[str] = field(default_factory=list)
    status: str = "pending"
    remaining: list[str] = field(default_factory=list)
    created_at: int = field(default_factory=now_seconds)
    updated_at: int = field(default_factory=now_seconds)
    started_at: int | None = None
    attempts: list[Attempt] = field(default_factory=list)
    rows: int = 0
    running_seen: int = 0
    observations: int = 0

    def __post_init__(self) -> None:
        steps = list(self.script.steps) or ["succeeded"]
        self.remaining = steps[1:]
        self._enter(steps[0])

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_JOB_STATUSES

    @property
    def active(self) -> bool:
        # Unknown (future) statuses count as active: a console must not start a
        # second sync while it cannot tell what the first one is doing.
        return not self.terminal

    @property
    def bytes(self) -> int:
        if self.script.bytes is not None and self.script.rows:
            return self.script.bytes * self.rows // self.script.rows
        return self.rows * BYTES_PER_ROW

    def observe(self) -> None:
        """Called for every GET of this job: move one step along the script."""
        self.observations += 1
        if self.remaining:
            self._enter(self.remaining.pop(0))

    def cancel(self) -> None:
        self.remaining.clear()
        self._enter("cancelled")

    # Each status change updates the job and mirrors it in the attempts.
    def _enter(self, status: str) -> None:
        now = now_seconds()
        self.status = status
        self.updated_at = now
        total_running = max(1, self.script.steps.count("running"))
        if status == "running":
            if self.started_at is None:
                self.started_at = now
            self.running_seen += 1
            self.rows = min(
                self.script.rows,
                self.script.rows * self.running_seen // (total_running + 1),
            )
            attempt = self._current_attempt()
            attempt.log_lines.append(f"Read {self.rows} records so far")
        elif status == "succeeded":
            self.rows = self.script.rows
            attempt = self._current_attempt()
            attempt.log_lines += [
                f"Read {self.rows} records",
                f"Sync summary: {self.rows} records committed",
                "Sync succeeded",
            ]
            self._close_attempt(attempt, "succeeded", None)
        elif status == "incomplete":
            attempt = self._current_attempt()
            failed_before = sum(1 for a in self.attempts if a.status == "failed")
            failures = self.script.attempt_failures
            failure = failures[failed_before] if failed_before < len(failures) else {}
            reason = _failure_reason(
                {
                    "failureOrigin": "replication",
                    "externalMessage": "Attempt failed; Airbyte will retry.",
                    **failure,
                },
                "transient_error",
            )
            self._close_attempt(attempt, "failed", reason)
        elif status == "failed":
            attempt = self._current_attempt()
            reason = _failure_reason(self.script.failure or {}, "system_error")
            self._close_attempt(attempt, "failed", reason)
        elif (
            status == "cancelled"
            and self.attempts
            and self.attempts[-1].status == "running"
        ):
            reason = _failure_reason(
                {
                    "failureOrigin": "airbyte_platform",
                    "externalMessage": "The sync was cancelled.",
                },
                "manual_cancellation",
            )
            self._close_attempt(self.attempts[-1], "failed", reason)

    def _current_attempt(self) -> Attempt:
        """The running attempt, or a new one when the last attempt has ended."""
        if self.attempts and self.attempts[-1].status == "running":
            return self.attempts[-1]
        attempt = Attempt(number=len(self.attempts))
        attempt.log_lines += [
            f"Starting sync... (job {self.id}, attempt {attempt.number})",
            f"Syncing streams: {', '.join(self.stream_names) or '(none)'}",
        ]
        self.attempts.append(attempt)
        return attempt

    def _close_attempt(
        self, attempt: Attempt, status: str, failure: dict[str, Any] | None
    ) -> None:
        now = now_seconds()
        attempt.status = status
        attempt.updated_at = attempt.ended_at = now
        attempt.records = self.rows
        attempt.bytes = self.bytes
        attempt.failure = failure
        if failure:
            attempt.log_lines.append(f"Failure: {failure['externalMessage']}")


@dataclass
class State:
    """Everything the fake stores; replaced wholesale by ``AirbyteFake.reset()``."""

    definitions: dict[str, Definition] = field(default_factory=seed_definitions)
    workspaces: dict[str, Workspace] = field(default_factory=dict)
    sources: dict[str, Actor] = field(default_factory=dict)
    destinations: dict[str, Actor] = field(default_factory=dict)
    connections: dict[str, Connection] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)  # token -> monotonic expiry
    scripts: list[JobScript] = field(default_factory=list)
    connection_scripts: dict[str, list[JobScript]] = field(default_factory=dict)
    # Connector builder projects: id -> {workspaceId, name, definitionId}.
    builder_projects: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.workspaces:
            self.workspaces[DEFAULT_WORKSPACE_ID] = Workspace(
                id=DEFAULT_WORKSPACE_ID, name="Default Workspace"
            )

    def next_script(self, connection_id: str) -> JobScript:
        queue = self.connection_scripts.get(connection_id)
        if queue:
            return queue.pop(0)
        if self.scripts:
            return self.scripts.pop(0)
        return JobScript()


# Job ids keep counting across resets, so a stale id from an earlier test never
# names a new job by accident.
job_ids = itertools.count(1)
