"""What the console reads from Airbyte's answers, as frozen dataclasses.

``client.py`` turns each JSON answer into one of these once, with ``from_api``, so
the rest of the console reads ``job.rows_synced`` instead of digging for camelCase
keys in nested dicts. The parsing is lenient on purpose, like the callers were:

* enum words (job, attempt and check statuses, failure types, sync modes) stay
  plain strings, so a word a newer server adds passes through to be shown rather
  than breaking a poll;
* a missing or null optional field gets an empty default (``""``, ``0``, ``()``,
  ``None`` where "absent" means something different from zero);
* connector configurations and JSON schemas stay dicts: they are the connector's
  data, not the API's shape, and the console stores or sends them back as they are.

Only what the console uses is modelled; anything else stays behind in the client's
generic ``public()``/``config()`` calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar


def _dict(value: Any) -> Mapping[str, Any]:
    """A nested object, or an empty one when absent, null or of the wrong type."""
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _str(value: Any, default: str = "") -> str:
    return default if value is None else str(value)


def _int(value: Any) -> int:
    # ``int(x or 0)``: what the callers did before, a null count being 0.
    return int(value or 0)


def _count(value: Any) -> int | None:
    """A count the server may leave out: None when absent, null or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def epoch(value: Any) -> datetime | None:
    """Airbyte's epoch seconds as an aware datetime; None if absent or not a number."""
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


# -- the server -----------------------------------------------------------------------
@dataclass(frozen=True)
class ServerInfo:
    """``GET /api/v1/instance_configuration``: what the server is (anonymous)."""

    version: str = ""
    edition: str = ""
    auth_mode: str = ""  # "simple", "oidc", "none", ... as the server says

    @classmethod
    def from_api(cls, data: Any) -> ServerInfo:
        data = _dict(data)
        return cls(
            version=_str(data.get("version") or ""),
            edition=_str(data.get("edition") or ""),
            auth_mode=_str(_dict(data.get("auth")).get("mode") or ""),
        )


@dataclass(frozen=True)
class RemoteWorkspace:
    """A workspace on the server (Public API ``WorkspaceResponse``)."""

    id: str
    name: str = ""

    @classmethod
    def from_api(cls, data: Any) -> RemoteWorkspace:
        data = _dict(data)
        return cls(id=_str(data.get("workspaceId")), name=_str(data.get("name")))


@dataclass(frozen=True)
class RemoteDefinition:
    """A connector the server offers (Config API ``*DefinitionRead``)."""

    kind: str  # source | destination
    id: str
    name: str = ""
    docker_repository: str = ""
    docker_image_tag: str = ""
    documentation_url: str = ""
    custom: bool = False

    @classmethod
    def from_api(cls, kind: str, data: Any) -> RemoteDefinition:
        data = _dict(data)
        return cls(
            kind=kind,
            id=_str(data.get(f"{kind}DefinitionId") or ""),
            name=_str(data.get("name") or ""),
            docker_repository=_str(data.get("dockerRepository") or ""),
            docker_image_tag=_str(data.get("dockerImageTag") or ""),
            documentation_url=_str(data.get("documentationUrl") or ""),
            custom=bool(data.get("custom")),
        )


# -- sources, destinations, connections -----------------------------------------------
@dataclass(frozen=True)
class RemoteConnector:
    """A source or destination on the server (Public API ``*Response``).

    ``configuration`` is the connector's own settings with Airbyte's mask where a
    secret is; the importer keeps it as the console's config, masks included.
    """

    KIND: ClassVar[str] = ""

    id: str
    name: str = ""
    definition_id: str = ""
    workspace_id: str = ""
    configuration: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.KIND

    @classmethod
    def from_api(cls, data: Any) -> RemoteConnector:
        data = _dict(data)
        return cls(
            id=_str(data.get(f"{cls.KIND}Id") or ""),
            name=_str(data.get("name")),
            definition_id=_str(data.get("definitionId") or ""),
            workspace_id=_str(data.get("workspaceId") or ""),
            configuration=dict(_dict(data.get("configuration"))),
        )


@dataclass(frozen=True)
class RemoteSource(RemoteConnector):
    KIND: ClassVar[str] = "source"


@dataclass(frozen=True)
class RemoteDestination(RemoteConnector):
    KIND: ClassVar[str] = "destination"


REMOTE_CONNECTORS: dict[str, type[RemoteConnector]] = {
    "source": RemoteSource,
    "destination": RemoteDestination,
}


@dataclass(frozen=True)
class RemoteStreamConfiguration:
    """One selected stream of a connection (Public API ``StreamConfiguration``)."""

    name: str = ""
    namespace: str = ""
    sync_mode: str = ""  # the Public API's one word, e.g. "incremental_append"
    cursor_field: tuple[str, ...] = ()
    primary_key: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def from_api(cls, data: Any) -> RemoteStreamConfiguration:
        data = _dict(data)
        return cls(
            name=_str(data.get("name") or ""),
            namespace=_str(data.get("namespace") or ""),
            sync_mode=_str(data.get("syncMode") or ""),
            cursor_field=tuple(_list(data.get("cursorField"))),
            primary_key=tuple(tuple(path) for path in _list(data.get("primaryKey"))),
        )


@dataclass(frozen=True)
class RemoteConnection:
    """A connection on the server (Public API ``ConnectionResponse``).

    The console sends connections from its own rows (``mirror.connection_body``),
    never back from these, so no raw configuration is kept.
    """

    id: str
    name: str = ""
    source_id: str = ""
    destination_id: str = ""
    workspace_id: str = ""
    status: str = "active"  # "active" | "inactive" | "deprecated" | newer words
    namespace_definition: str = ""
    namespace_format: str = ""
    prefix: str = ""
    non_breaking_schema_updates_behavior: str = ""
    streams: tuple[RemoteStreamConfiguration, ...] = ()

    @classmethod
    def from_api(cls, data: Any) -> RemoteConnection:
        data = _dict(data)
        return cls(
            id=_str(data.get("connectionId") or ""),
            name=_str(data.get("name")),
            source_id=_str(data.get("sourceId") or ""),
            destination_id=_str(data.get("destinationId") or ""),
            workspace_id=_str(data.get("workspaceId") or ""),
            # Absent means active (as the importer always read it); null does not.
            status=_str(data.get("status", "active")),
            namespace_definition=_str(data.get("namespaceDefinition") or ""),
            namespace_format=_str(data.get("namespaceFormat") or ""),
            prefix=_str(data.get("prefix") or ""),
            non_breaking_schema_updates_behavior=_str(
                data.get("nonBreakingSchemaUpdatesBehavior") or ""
            ),
            streams=tuple(
                RemoteStreamConfiguration.from_api(item)
                for item in _list(_dict(data.get("configurations")).get("streams"))
            ),
        )


# -- jobs -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FailureReason:
    """Why an attempt or a synchronous job failed (Config API ``FailureReason``)."""

    failure_type: str = ""  # config_error, system_error, ... or newer words
    failure_origin: str = ""  # source, destination, platform, ...
    external_message: str = ""

    @classmethod
    def from_api(cls, data: Any) -> FailureReason:
        data = _dict(data)
        return cls(
            failure_type=_str(data.get("failureType") or ""),
            failure_origin=_str(data.get("failureOrigin") or ""),
            external_message=_str(data.get("externalMessage") or ""),
        )


@dataclass(frozen=True)
class RemoteJob:
    """A job on the server (Public API ``JobResponse``); ``status`` as the server
    says it, including words the console does not know."""

    id: str
    status: str = ""
    job_type: str = ""
    connection_id: str = ""
    rows_synced: int = 0
    bytes_synced: int = 0
    start_time: str = ""  # ISO 8601, as the Public API sends it
    last_updated_at: str = ""

    @classmethod
    def from_api(cls, data: Any) -> RemoteJob:
        data = _dict(data)
        return cls(
            id=_str(data.get("jobId") or ""),
            status=_str(data.get("status") or ""),
            job_type=_str(data.get("jobType") or ""),
            connection_id=_str(data.get("connectionId") or ""),
            rows_synced=_int(data.get("rowsSynced")),
            bytes_synced=_int(data.get("bytesSynced")),
            start_time=_str(data.get("startTime") or ""),
            last_updated_at=_str(data.get("lastUpdatedAt") or ""),
        )


def _event_line(event: Any) -> str:
    """One structured log event as a line: ``2024-.. INFO [source] message``."""
    event = _dict(event)
    stamp = None
    if isinstance(event.get("timestamp"), int | float):
        stamp = epoch(event["timestamp"] // 1000)
    when = f"{stamp:%Y-%m-%d %H:%M:%SZ} " if stamp else ""  # UTC
    # ``level`` since 1.2 (lowercase); ``logLevel`` is what older code read.
    level = _str(event.get("level") or event.get("logLevel") or "info").upper()
    source = _str(event.get("logSource") or "")
    where = f"[{source}] " if source else ""
    line = f"{when}{level} {where}{_str(event.get('message') or '')}"
    trace = _str(event.get("stackTrace") or "")
    return f"{line}\n{trace.rstrip()}" if trace.strip() else line


def _log_lines(log_type: Any, logs: Any) -> tuple[str, ...]:
    """An attempt's log as lines, chosen by ``logType``.

    From 1.2 logs are ``structured``: ``events`` with ``level`` and ``logSource``.
    The server's model sends ``"logLines": []`` beside them, so the events come
    first whenever the type says so or there are any; ``logLines`` (``formatted``)
    otherwise.
    """
    if not isinstance(logs, Mapping):
        return ()
    events = _list(logs.get("events"))
    if events or (log_type == "structured" and not logs.get("logLines")):
        return tuple(_event_line(event) for event in events)
    return tuple(_str(line) for line in _list(logs.get("logLines")))


@dataclass(frozen=True)
class RemoteAttempt:
    """One attempt of a job (Config API ``AttemptInfoRead``).

    The ``records_committed``/``bytes_committed``/``records_emitted`` counts come
    from ``totalStats``; ``records_synced``/``bytes_synced`` are the attempt's own
    older counters (the sync's output, set when it ends). Each is None when the
    server did not send it: ``totalStats`` is absent while an attempt runs and
    often lacks ``bytesCommitted``, and "not said" must not read as zero.
    ``log_lines`` is empty unless the attempt came from a call with logs.
    """

    id: int = 0
    status: str = ""  # running | failed | succeeded | newer words
    ended_at: datetime | None = None
    records_emitted: int | None = None
    records_committed: int | None = None
    bytes_committed: int | None = None
    records_synced: int | None = None
    bytes_synced: int | None = None
    failures: tuple[FailureReason, ...] = ()
    log_lines: tuple[str, ...] = ()

    @property
    def failure(self) -> FailureReason | None:
        """The first failure, the one Airbyte's UI shows."""
        return self.failures[0] if self.failures else None

    @classmethod
    def from_api(cls, data: Any) -> RemoteAttempt:
        data = _dict(data)
        attempt = _dict(data.get("attempt"))
        stats = _dict(attempt.get("totalStats"))
        return cls(
            id=_int(attempt.get("id")),
            status=_str(attempt.get("status") or ""),
            ended_at=epoch(attempt.get("endedAt")),
            records_emitted=_count(stats.get("recordsEmitted")),
            records_committed=_count(stats.get("recordsCommitted")),
            bytes_committed=_count(stats.get("bytesCommitted")),
            records_synced=_count(attempt.get("recordsSynced")),
            bytes_synced=_count(attempt.get("bytesSynced")),
            failures=tuple(
                FailureReason.from_api(item)
                for item in _list(_dict(attempt.get("failureSummary")).get("failures"))
            ),
            log_lines=_log_lines(data.get("logType"), data.get("logs")),
        )


def attempts_from_api(data: Any) -> tuple[RemoteAttempt, ...]:
    """The attempts of a Config API ``JobInfoRead`` (``jobs/get*``)."""
    return tuple(
        RemoteAttempt.from_api(item) for item in _list(_dict(data).get("attempts"))
    )


# -- connectors run on the server -----------------------------------------------------
def _job_failure(data: Mapping[str, Any]) -> str:
    """``jobInfo.failureReason.externalMessage`` of a synchronous job's answer."""
    return FailureReason.from_api(
        _dict(data.get("jobInfo")).get("failureReason")
    ).external_message


@dataclass(frozen=True)
class ConnectorSpecification:
    """A definition's settings form (Config API ``*DefinitionSpecificationRead``).

    ``advanced_auth`` is handed on as the server sent it (the OAuth flow's own
    description), or None.
    """

    connection_specification: dict[str, Any] = field(default_factory=dict)
    documentation_url: str = ""
    supported_destination_sync_modes: tuple[str, ...] = ()
    advanced_auth: Any = None

    @classmethod
    def from_api(cls, data: Any) -> ConnectorSpecification:
        data = _dict(data)
        return cls(
            connection_specification=dict(_dict(data.get("connectionSpecification"))),
            documentation_url=_str(data.get("documentationUrl") or ""),
            supported_destination_sync_modes=tuple(
                _list(data.get("supportedDestinationSyncModes"))
            ),
            advanced_auth=data.get("advancedAuth"),
        )


@dataclass(frozen=True)
class CheckOutcome:
    """A connection check's answer (Config API ``CheckConnectionRead``)."""

    status: str = ""  # succeeded | failed | newer words
    message: str = ""
    failure_message: str = ""  # the job's failure, when the check itself failed

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"

    @classmethod
    def from_api(cls, data: Any) -> CheckOutcome:
        data = _dict(data)
        return cls(
            status=_str(data.get("status") or ""),
            message=_str(data.get("message") or ""),
            failure_message=_job_failure(data),
        )


@dataclass(frozen=True)
class RemoteStream:
    """One stream of a discovered catalog (the Airbyte protocol's ``AirbyteStream``)."""

    name: str = ""
    json_schema: dict[str, Any] = field(default_factory=dict)
    supported_sync_modes: tuple[str, ...] = ("full_refresh",)
    namespace: str | None = None
    source_defined_cursor: bool = False
    default_cursor_field: tuple[str, ...] = ()
    source_defined_primary_key: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def from_api(cls, data: Any) -> RemoteStream:
        data = _dict(data)
        return cls(
            name=_str(data.get("name") or ""),
            json_schema=dict(_dict(data.get("jsonSchema"))),
            supported_sync_modes=tuple(
                _list(data.get("supportedSyncModes")) or ("full_refresh",)
            ),
            namespace=data.get("namespace") or None,
            source_defined_cursor=bool(data.get("sourceDefinedCursor")),
            default_cursor_field=tuple(_list(data.get("defaultCursorField"))),
            source_defined_primary_key=tuple(
                tuple(path) for path in _list(data.get("sourceDefinedPrimaryKey"))
            ),
        )


@dataclass(frozen=True)
class DiscoverOutcome:
    """A discover's answer (Config API ``SourceDiscoverSchemaRead``).

    ``ok`` needs a catalog and a job that did not say it failed (``succeeded`` is
    sometimes absent on a good answer).
    """

    has_catalog: bool = False
    succeeded: bool | None = None
    failure_message: str = ""
    streams: tuple[RemoteStream, ...] = ()

    @property
    def ok(self) -> bool:
        return self.succeeded is not False and self.has_catalog

    @classmethod
    def from_api(cls, data: Any) -> DiscoverOutcome:
        data = _dict(data)
        catalog = _dict(data.get("catalog"))
        return cls(
            has_catalog=bool(data.get("catalog")),
            succeeded=_dict(data.get("jobInfo")).get("succeeded"),
            failure_message=_job_failure(data),
            streams=tuple(
                RemoteStream.from_api(_dict(item).get("stream"))
                for item in _list(catalog.get("streams"))
            ),
        )
