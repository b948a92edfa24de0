"""The Engine interface and the plain data it takes and returns.

An engine runs connectors: ``spec``, ``check`` and ``discover`` for a connector
reference and a configuration, sync attempts and jobs, installs, and its own health.
The console never imports an engine: ``apps.engines.registry.get_engine(workspace)``
picks the one the workspace uses, and every engine-specific question is a verb here
with a default the embedded and airbyte engines override. Engines get plain data (a
``ConnectorRef``, a decrypted config, ``StreamRequest``s), never a model of an app
above them. The data types are frozen dataclasses, so callers can cache, compare and
pass them between threads without surprises.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from apps.engines.health import HealthCheck, HealthTarget


class EngineError(Exception):
    """An engine could not do what was asked; ``message`` is safe to show a user.

    Connector output quoted in the message has already had the config's secrets
    masked.
    """

    def __init__(self, message: str, *, logs: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.logs = logs


class ConnectorStartError(EngineError):
    """The connector installed, but its ``spec`` failed on this host.

    A package that needs another Python, a manifest the CDK refuses: the catalog
    marks the connector with this message instead of hiding it.
    """


# What a connector reference may name: checked before a name reaches pip.
PACKAGE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+!_-]{0,49}$")


# How a connector runs on a host of the console (``ConnectorRef.runtime``).
RUNTIME_BUILTIN = "builtin"  # a destination the console writes itself
RUNTIME_PYPI = "pypi"  # a package from PyPI, in its own virtualenv
RUNTIME_MANIFEST = "manifest"  # a low-code manifest run by the CDK's runner
RUNTIME_DOCKER = "docker"  # an image run by a Docker daemon on the worker host
RUNTIMES = (RUNTIME_BUILTIN, RUNTIME_PYPI, RUNTIME_MANIFEST, RUNTIME_DOCKER)


@dataclass(frozen=True)
class ConnectorRef:
    """Which connector to run: the plain data an engine needs, never a model.

    ``builtin`` names a destination the console writes itself; ``manifest`` says
    the connector is the low-code runner whose YAML manifest rides in the config
    (the "Custom YAML manifest" source). ``manifest_only`` says the connector *is*
    a manifest the catalog keeps per version (Airbyte's manifest-only connectors
    and the ones published from the connector builder): engines ask the registered
    ``ManifestStore`` for it. ``docker_repository`` is the connector's image
    (``airbyte/source-foo``), run at tag ``version`` when nothing else can run it.

    ``version`` is the connector's own version whatever runs it: the PyPI
    version, the manifest's version or the image tag.
    """

    kind: str  # source | destination
    name: str
    definition_id: str = ""
    package: str = ""
    version: str = ""
    entrypoint: str = ""
    builtin: str = ""
    manifest: bool = False
    manifest_only: bool = False
    docker_repository: str = ""

    @property
    def runtime(self) -> str:
        """How this connector runs here (one of ``RUNTIMES``; "" if it cannot)."""
        if self.builtin:
            return RUNTIME_BUILTIN
        if self.manifest_only:
            return RUNTIME_MANIFEST
        if self.package:
            return RUNTIME_PYPI
        if self.docker_repository:
            return RUNTIME_DOCKER
        return ""

    @property
    def installable(self) -> bool:
        """Something to install first: a package, a manifest or an image."""
        return self.runtime in (RUNTIME_PYPI, RUNTIME_MANIFEST, RUNTIME_DOCKER)

    @property
    def docker_image(self) -> str:
        """``repository:tag`` of the connector's image ("" without one)."""
        if not self.docker_repository:
            return ""
        return f"{self.docker_repository}:{self.version or 'latest'}"


def connector_ref(definition: Any) -> ConnectorRef:
    """A ``ConnectorRef`` from anything that carries one (a definition's ``ref``)."""
    if isinstance(definition, ConnectorRef):
        return definition
    return definition.ref


class SpecStore(Protocol):
    """Keeps connector specs between runs (registered by the connectors app)."""

    def get(self, ref: ConnectorRef) -> dict[str, Any] | None:
        """The stored raw ``spec`` of this connector version, or None."""

    def put(self, ref: ConnectorRef, spec: dict[str, Any]) -> None:
        """Store the raw ``spec`` of this connector version."""


@dataclass(frozen=True)
class StoredManifest:
    """A manifest-only connector's files at one version, as the catalog keeps them.

    ``manifest`` is the parsed ``manifest.yaml``; ``components`` the text of its
    ``components.py`` ("" when it has none: most have none).
    """

    manifest: dict[str, Any]
    components: str = ""
    digest: str = ""


class ManifestStore(Protocol):
    """Keeps manifest-only connectors' manifests per version (the connectors app)."""

    def get(self, ref: ConnectorRef) -> StoredManifest | None:
        """The manifest of this connector at ``ref.version``, or None."""

    def put(self, ref: ConnectorRef, stored: StoredManifest) -> None:
        """Keep a downloaded manifest for this connector and version."""


@dataclass(frozen=True)
class ConnectorSpec:
    """What a connector accepts as configuration (its ``SPEC`` message)."""

    connection_specification: dict[str, Any]
    documentation_url: str = ""
    supported_destination_sync_modes: tuple[str, ...] = ()
    supports_incremental: bool | None = None
    advanced_auth: dict[str, Any] | None = None

    def secret_paths(self) -> list[tuple[str, ...]]:
        """JSON paths of the fields marked ``airbyte_secret`` (oneOf branches too)."""
        found: list[tuple[str, ...]] = []
        _collect_secret_paths(self.connection_specification, (), found)
        return found


def _collect_secret_paths(
    schema: Any, path: tuple[str, ...], found: list[tuple[str, ...]]
) -> None:
    if not isinstance(schema, dict):
        return
    if schema.get("airbyte_secret"):
        found.append(path)
        return
    for name, sub in (schema.get("properties") or {}).items():
        _collect_secret_paths(sub, (*path, name), found)
    for key in ("oneOf", "anyOf", "allOf"):
        for sub in schema.get(key) or []:
            _collect_secret_paths(sub, path, found)
    items = schema.get("items")
    if isinstance(items, dict):
        _collect_secret_paths(items, (*path, "[]"), found)


@dataclass(frozen=True)
class CheckResult:
    """The answer to "Test connection": ok or not, and the connector's own message."""

    ok: bool
    message: str = ""
    logs: tuple[str, ...] = ()


@dataclass(frozen=True)
class DiscoveredStream:
    """One stream a source offers, as ``discover`` described it."""

    name: str
    json_schema: dict[str, Any]
    supported_sync_modes: tuple[str, ...] = ("full_refresh",)
    namespace: str | None = None
    source_defined_cursor: bool = False
    default_cursor_field: tuple[str, ...] = ()
    source_defined_primary_key: tuple[tuple[str, ...], ...] = ()
    is_resumable: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        """The stream in the Airbyte protocol's JSON shape, for storing on a Source."""
        data: dict[str, Any] = {
            "name": self.name,
            "json_schema": self.json_schema,
            "supported_sync_modes": list(self.supported_sync_modes),
            "source_defined_cursor": self.source_defined_cursor,
            "default_cursor_field": list(self.default_cursor_field),
            "source_defined_primary_key": [
                list(k) for k in self.source_defined_primary_key
            ],
        }
        if self.namespace is not None:
            data["namespace"] = self.namespace
        if self.is_resumable is not None:
            data["is_resumable"] = self.is_resumable
        return data


@dataclass(frozen=True)
class DiscoveredCatalog:
    """Every stream a source offers."""

    streams: tuple[DiscoveredStream, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {"streams": [s.as_dict() for s in self.streams]}

    def stream(self, name: str, namespace: str | None = None) -> DiscoveredStream:
        for stream in self.streams:
            if stream.name == name and stream.namespace == namespace:
                return stream
        raise KeyError(name)


# -- The connector builder (issue #16) -------------------------------------------------


@dataclass(frozen=True)
class ManifestProblem:
    """One reason a declarative manifest cannot run: where in it, and what is wrong.

    ``path`` is the JSON path into the manifest (keys and list indexes); empty
    when the problem is the manifest as a whole.
    """

    path: tuple[str | int, ...]
    message: str


@dataclass(frozen=True)
class ReadLimits:
    """How much a builder's test read may fetch (the CDK's ``__test_read_config``)."""

    max_records: int = 100
    max_pages_per_slice: int = 5
    max_slices: int = 5


@dataclass(frozen=True)
class StreamReadResult:
    """What a test read of one stream of a manifest saw, secrets already masked.

    ``pages`` are ``{"slice", "request", "response", "records"}`` dicts in the
    order they were fetched (``request``: url, http_method, headers, body;
    ``response``: status, headers, body text); ``records`` every record read.
    """

    stream: str
    pages: tuple[dict[str, Any], ...] = ()
    records: tuple[dict[str, Any], ...] = ()
    inferred_schema: dict[str, Any] | None = None
    logs: tuple[str, ...] = ()
    limit_reached: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON for storing the result on a row (the page renders from it)."""
        return {
            "stream": self.stream,
            "pages": list(self.pages),
            "records": list(self.records),
            "inferred_schema": self.inferred_schema,
            "logs": list(self.logs),
            "limit_reached": self.limit_reached,
        }


# -- Built-in destinations ------------------------------------------------------------


@dataclass(frozen=True)
class DestinationDescriptor:
    """Everything the console knows about one destination it writes itself.

    One module per destination exports one of these (``engines/embedded/
    destinations/``); every place that dispatches on a destination reads the
    registry of them (``apps.engines.registry.destinations()``).
    """

    name: str  # the catalog's ``builtin`` key: "postgres", "duckdb"
    title: str  # what people read: "PostgreSQL"
    definition_id: str  # the catalog's definition id for it
    spec: ConnectorSpec
    docs_url: str
    # The three callables below take the config and, keyword-only, ``workspace_id``
    # (the workspace's public id): a destination that keeps files on this host
    # keeps each workspace's apart (DuckDB: ``DUCKDB_DIR/<workspace id>/``).
    # Test a config; every failure comes back as ``CheckResult(ok=False)``.
    check: Callable[..., CheckResult]
    # The config the writer runs with (paths resolved, defaults filled); raises
    # ValueError with a message for the user.
    prepare_config: Callable[..., dict[str, Any]]
    # The writer class, imported only when asked so one backend never loads another's
    # driver.
    writer: Callable[[], type]
    # A dbt ``profiles.yml`` target for this destination's config (issue #14).
    dbt_profile: Callable[..., dict[str, Any]]
    icon: str = ""
    # Where the writer puts a connection's streams (issue #14: a generated dbt
    # project selects from the real tables): ``table_names(streams, *, schema,
    # prefix)`` takes ``(namespace, name)`` pairs and the connection's namespace
    # and table prefix and gives ``{(namespace or None, name): (schema, table)}``.
    # None for a destination that cannot say.
    table_names: Callable[..., dict[tuple[str | None, str], tuple[str, str]]] | None = (
        None
    )
    # The columns the writer makes for a stream's JSON schema, in order:
    # ``[(field, column, sql_type)]`` (the ``_airbyte_*`` columns not included).
    table_columns: Callable[[dict[str, Any]], list[tuple[str, str, str]]] | None = None


# -- Sync attempts (issue #4) ---------------------------------------------------------


@dataclass(frozen=True)
class StreamRequest:
    """One configured stream of an attempt: what to read and how to write it."""

    name: str
    namespace: str | None
    json_schema: dict[str, Any]
    sync_mode: str  # full_refresh | incremental
    destination_sync_mode: str  # overwrite | append | append_dedup
    cursor_field: tuple[str, ...] = ()
    primary_key: tuple[tuple[str, ...], ...] = ()
    generation_id: int = 0
    supported_sync_modes: tuple[str, ...] = ("full_refresh",)
    # Field selection: the top-level fields to write (``json_schema`` lists only
    # these); empty means every field. Records lose the others before the writer.
    selected_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class AttemptRequest:
    """Everything an engine needs to run one attempt; built from the database rows."""

    attempt_id: int
    job_id: str
    connection_id: str
    # The workspace's public id: what its files (DuckDB, /local) are kept under.
    workspace_id: str
    source_definition: ConnectorRef
    source_config: dict[str, Any]
    destination_definition: ConnectorRef
    destination_config: dict[str, Any]
    streams: tuple[StreamRequest, ...]
    namespace: str
    table_prefix: str
    # The state messages last committed (the console's mirror of the destination's).
    state: tuple[dict[str, Any], ...] = ()
    secret_values: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AttemptOutcome:
    """How an attempt ended."""

    status: str  # succeeded | failed | cancelled
    records_committed: int = 0
    bytes_committed: int = 0
    stream_stats: dict[str, Any] | None = None
    state_end: Any = None
    failure_type: str = ""
    failure_origin: str = ""
    failure_message: str = ""
    # What the attempt cost, by the names of SyncAttempt's fields (RESOURCE_FIELDS);
    # an engine leaves out what it cannot measure.
    resources: dict[str, float] | None = None


# The SyncAttempt fields an AttemptOutcome's ``resources`` may fill.
RESOURCE_FIELDS = (
    "engine_peak_rss_bytes",
    "engine_cpu_seconds",
    "connector_peak_rss_bytes",
    "connector_cpu_seconds",
)


# -- Data quality (issue #17) ----------------------------------------------------------


@dataclass(frozen=True)
class ProfileStream:
    """One stream whose destination table a quality check reads."""

    name: str
    namespace: str | None
    json_schema: dict[str, Any]
    # Top-level key fields (a nested path is reported as not checked).
    primary_key: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class TableProfile:
    """What a quality check found in one stream's destination table.

    Counts only, never a value from the table: ``nulls`` is NULL cells per data
    column in the sample, ``cast_failures`` counts the ``_airbyte_meta`` changes
    in the sample by ``(field, change, reason)``. ``columns`` are the data columns
    the table has now and ``expected_columns`` the ones the writer makes for the
    stream's JSON schema. ``duplicate_keys`` is None when it was not checked
    (``notes`` say why); ``notes`` also say what timed out.
    """

    name: str
    namespace: str | None
    location: str
    found: bool
    rows: int | None = None
    columns: tuple[str, ...] = ()
    expected_columns: tuple[str, ...] = ()
    sample_rows: int = 0
    sample_limit: int = 0
    nulls: dict[str, int] = field(default_factory=dict)
    cast_failures: tuple[tuple[str, str, str, int], ...] = ()
    duplicate_keys: int | None = None
    duplicate_rows: int | None = None
    notes: tuple[str, ...] = ()


class AttemptReporter(Protocol):
    """What a running attempt tells the console (see connections.execution)."""

    def progress(
        self,
        *,
        records_emitted: int,
        records_committed: int,
        bytes_committed: int,
        streams: dict[str, Any],
    ) -> None:
        """Latest counters; cheap, called often (the console throttles writes)."""

    def cancel_requested(self) -> bool:
        """True once a user asked to cancel (checked from the heartbeat)."""

    def log(self, line: str) -> None:
        """One log line, already masked."""

    def state_committed(self, states: list[dict[str, Any]]) -> None:
        """State messages the destination just committed, to mirror in the console."""

    def config_updated(self, config: dict[str, Any]) -> None:
        """A CONTROL message gave the source a new config (e.g. a refreshed token)."""

    def connector_started(self, process_group: int) -> None:
        """The connector runs in this process group (for the reaper, if we die)."""


class Engine(ABC):
    """Runs connectors for a workspace."""

    name: str = ""
    # True when syncs run somewhere the console neither installs nor starts (a
    # server); False when they run in the console's own workers on this host.
    remote: bool = False
    # False when the engine has no reset that keeps the tables: a reset there also
    # empties the chosen streams' destination tables, so the console refuses one
    # that only forgets state and says so in the reset form.
    can_forget_state_only: bool = True
    # True when a reset runs as a job the console follows like a sync (a ``SyncJob``
    # with trigger ``reset``, handed to ``start_job``); False when ``clear_tables``
    # does it on a worker.
    resets_as_jobs: bool = False

    def __init__(self, workspace: Any = None) -> None:
        self.workspace = workspace

    @abstractmethod
    def spec(self, definition: Any) -> ConnectorSpec:
        """The connector's configuration schema; raises EngineError."""

    @abstractmethod
    def check(
        self,
        definition: Any,
        config: dict[str, Any],
        *,
        actor: Any = None,
    ) -> CheckResult:
        """Test a configuration. Failures come back as ``CheckResult(ok=False)``.

        ``actor`` is the saved source or destination the config belongs to, if
        any (an engine that keeps a copy elsewhere tests that copy).
        """

    @abstractmethod
    def discover(
        self,
        definition: Any,
        config: dict[str, Any],
        *,
        actor: Any = None,
    ) -> DiscoveredCatalog:
        """The streams a source offers with this configuration; raises EngineError."""

    @abstractmethod
    def run_attempt(
        self, request: AttemptRequest, reporter: AttemptReporter
    ) -> AttemptOutcome:
        """Run one sync attempt to its end and say how it ended.

        Cancel is cooperative: the engine polls ``reporter.cancel_requested()`` and
        stops, keeping what was committed.
        """

    # -- the catalog's questions --------------------------------------------------
    def spec_for_config(
        self, definition: ConnectorRef | Any, config: dict[str, Any] | None
    ) -> ConnectorSpec:
        """The spec a form for this connector shows, given what it holds so far.

        Usually the connector's own; an engine that runs low-code manifests itself
        answers from the manifest inside the config.
        """
        return self.spec(definition)

    def connector_ready(self, definition: ConnectorRef) -> bool:
        """Can a form for this connector be built now, without installing anything."""
        return True

    @classmethod
    def runtime_available(cls, runtime: str) -> tuple[bool, str]:
        """Can this engine run connectors of ``runtime`` now, and if not, why.

        The catalog asks so it can say "needs Docker on the worker host" next to
        an entry instead of failing later in a form.
        """
        return True, ""

    def offered_definition_ids(self) -> list[str] | None:
        """The connector definitions this engine offers, or None for the catalog's."""
        return None

    @classmethod
    def runs_catalog_entry(
        cls,
        *,
        package: str,
        builtin: str,
        docker_repository: str,
        manifest_only: bool = False,
        kind: str = "",
    ) -> bool:
        """Can this engine run a catalog entry offered this way (a PyPI package,
        a destination the console writes, a manifest, a Docker image)?

        ``kind`` is "source" or "destination" ("" when unknown): an engine may
        run sources some way it cannot write destinations.
        """
        return False

    # -- the connector builder ------------------------------------------------------
    def validate_manifest(
        self, manifest: dict[str, Any], *, config: dict[str, Any] | None = None
    ) -> list[ManifestProblem]:
        """Every reason the CDK would refuse this declarative manifest ([] if none).

        Raises EngineError when the validation itself cannot run.
        """
        raise EngineError(f"The {self.name} engine cannot validate manifests.")

    def test_read(
        self,
        manifest: dict[str, Any],
        config: dict[str, Any],
        *,
        stream: str,
        limits: ReadLimits = ReadLimits(),
    ) -> StreamReadResult:
        """Read a few records of one stream of a manifest, page by page.

        What the connector builder's "Test" shows; raises EngineError with the
        reason a read failed.
        """
        raise EngineError(f"The {self.name} engine cannot test-read manifests.")

    def publish_declarative_source(
        self,
        *,
        name: str,
        manifest: dict[str, Any],
        spec: ConnectorSpec,
        number: int,
        definition_id: str = "",
    ) -> str:
        """Make a manifest published from the connector builder runnable here.

        ``number`` counts the connector's versions (1 for the first publish);
        ``definition_id`` is the one an earlier publish got here ("" the first
        time). Returns the connector's definition id where this engine runs it,
        or "" when the engine runs the console's catalog itself (nothing to do).
        Raises EngineError with a message for the user.
        """
        return ""

    # -- connector installs (engines that run connectors on this host) -----------
    def install(
        self, definition: ConnectorRef, *, on_output: Callable[[str], None]
    ) -> dict[str, Any] | None:
        """Install the connector here; returns its raw ``spec`` when the install ran it.

        Raises EngineError with a message for the user. Engines that run nothing
        on this host refuse.
        """
        raise EngineError(f"The {self.name} engine installs no connectors here.")

    def uninstall(self, definition: ConnectorRef) -> int:
        """Remove every installed version of the connector here; how many went."""
        raise EngineError(f"The {self.name} engine installs no connectors here.")

    def install_timeout(self) -> float:
        """Seconds an install may take before it counts as lost."""
        return 0.0

    def installed(self, definition: ConnectorRef) -> bool:
        """Is this connector version installed where this engine runs it?"""
        return True

    # -- operations: `airbyte status`, `test smoke`, `manage install|start|stop` ---
    @classmethod
    def health_targets(
        cls, workspaces: list[Any], *, watch: tuple[ConnectorRef, ...] = ()
    ) -> list[HealthTarget]:
        """What to check for these workspaces (read here, in the caller's thread).

        ``watch`` names connectors the self-test needs; an engine that installs
        connectors says whether they are there.
        """
        if not workspaces:
            return []
        names = tuple(w.name for w in workspaces)
        return [HealthTarget(engine=cls.name, name=cls.name, workspaces=names)]

    @classmethod
    def check_health(cls, target: HealthTarget) -> HealthCheck:
        """Check one target, touching no database; runs in a thread with a deadline."""
        return HealthCheck(
            engine=cls.name,
            name=target.name,
            ok=True,
            detail="nothing to check",
            latency_ms=0,
            workspaces=target.workspaces,
        )

    @classmethod
    def manage_install(
        cls, *, url: str = ""
    ) -> tuple[dict[str, Any], list[str], bool] | None:
        """For a remote engine, `airbyte manage install`'s part: (data, lines, ok).

        The console installs no server; a remote engine says how to get one and
        checks the saved ones (or ``url``) answer. None when there is nothing to
        say.
        """
        return None

    @classmethod
    def process_note(cls) -> str:
        """A reminder `manage start|stop` prints about processes not the console's."""
        return ""

    # -- data quality -----------------------------------------------------------------
    def profile_tables(
        self,
        *,
        destination_definition: Any,
        destination_config: dict[str, Any],
        namespace: str,
        table_prefix: str,
        streams: tuple[ProfileStream, ...],
        workspace_id: str,
        sample_rows: int,
        statement_seconds: float,
    ) -> list[TableProfile]:
        """Read what a quality check needs from the streams' destination tables.

        Row counts, NULLs per column over a bounded sample of the latest rows,
        ``_airbyte_meta`` changes in that sample, duplicate primary keys, the
        columns the tables have. Every statement stops after
        ``statement_seconds``. Raises EngineError with a message for the user
        (the destination cannot be reached, or this engine cannot read it).
        """
        raise EngineError(
            f"The {self.name} engine cannot sample destination tables: data "
            "quality needs a destination the console writes itself (PostgreSQL, "
            "DuckDB, MySQL / MariaDB or files, on the embedded engine)."
        )

    # -- jobs: the verbs the console's job lifecycle calls on every engine ----------
    def start_job(self, job_id: int, *, run_here: Callable[[], Any]) -> Any:
        """Start the next attempt of job ``job_id``; returns what ``run_here`` does.

        ``run_here`` is the console's own path (claim the job, ``run_attempt`` with
        a heartbeat, record the end). An engine whose syncs run elsewhere starts
        the job there instead and follows it on its own.
        """
        return run_here()

    def request_cancel(self, job_id: int) -> None:
        """A user asked to cancel ``job_id`` (the flag is on the job row already).

        Called after the commit. The embedded runner sees the flag on its next
        heartbeat; an engine that runs syncs elsewhere passes the cancel on.
        """
        return

    @classmethod
    def recover_lost_jobs(cls) -> None:
        """Every minute, from the reaper: pick up jobs whose follow-up work was lost.

        Stale attempts of ``run_attempt`` are the console's to reap; this is for
        engines that follow jobs elsewhere (a poll task that never ran).
        """
        return

    def stop_lost_attempt(self, *, worker: str, process_group: int | None) -> None:
        """The reaper failed an attempt whose worker is gone: stop what it left.

        ``worker`` is the ``host:pid`` that ran it, ``process_group`` the
        connector's, if it said. Engines that run nothing locally do nothing.
        """
        return

    @abstractmethod
    def clear_tables(
        self,
        *,
        destination_definition: Any,
        destination_config: dict[str, Any],
        namespace: str,
        table_prefix: str,
        streams: list[str],
        connection_id: str,
        empty_tables: bool,
        workspace_id: str,
    ) -> None:
        """Forget some streams' destination state; empty their tables if asked.

        ``workspace_id`` (the public id) says whose files a destination may open.
        """
