"""The embedded engine: the console runs connectors itself, one virtualenv each."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from django.conf import settings

from apps.engines import declarative, registry
from apps.engines.base import (
    RUNTIME_DOCKER,
    AttemptOutcome,
    AttemptReporter,
    AttemptRequest,
    CheckResult,
    ConnectorRef,
    ConnectorSpec,
    DiscoveredCatalog,
    Engine,
    EngineError,
    ManifestProblem,
    ProfileStream,
    ReadLimits,
    StreamReadResult,
    TableProfile,
    connector_ref,
)
from apps.engines.embedded import (
    builder,
    health,
    installer,
    launch,
    protocol,
    scratch,
)
from apps.engines.embedded.destinations import builtin_spec, check_builtin
from apps.engines.embedded.runner import RunResult, run_connector
from apps.engines.health import HealthCheck, HealthTarget
from apps.engines.masking import SecretMasker, secret_values

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUTS = {"spec": 120, "check": 300, "discover": 900}


def timeout_for(verb: str) -> float:
    """Seconds a connector gets for ``verb`` (settings.CONNECTOR_TIMEOUTS)."""
    configured = getattr(settings, "CONNECTOR_TIMEOUTS", {}) or {}
    return float(configured.get(verb, DEFAULT_TIMEOUTS[verb]))


class EmbeddedEngine(Engine):
    """Runs connectors from PyPI in virtualenvs, and writes to PostgreSQL or DuckDB."""

    name = "embedded"

    # -- spec -------------------------------------------------------------------
    def spec(self, definition: ConnectorRef | Any) -> ConnectorSpec:
        """The spec, from the store when this connector version ran it before."""
        definition = connector_ref(definition)
        if definition.builtin:
            return builtin_spec(definition.builtin)
        self._version(definition)
        store = registry.spec_store()
        cached = store.get(definition) if store is not None else None
        if cached is not None:
            return protocol.spec_from_dict(cached)
        ready = self._launch(definition)
        raw = ready.spec
        if raw is None:
            result = self._run(ready, "spec", None, SecretMasker())
            message = result.first(protocol.SPEC)
            if message is None:
                raise EngineError(
                    result.failure_message("spec", timeout_for("spec")),
                    logs=tuple(result.logs),
                )
            raw = message.get("spec") or {}
        spec = protocol.spec_from_dict(raw)
        if store is not None:
            store.put(definition, raw)
        return spec

    # -- check ------------------------------------------------------------------
    def check(
        self,
        definition: ConnectorRef | Any,
        config: dict[str, Any],
        *,
        actor: Any = None,
    ) -> CheckResult:
        """Test a configuration; every failure comes back as a CheckResult."""
        definition = connector_ref(definition)
        if definition.builtin:
            return check_builtin(
                definition.builtin, config, workspace_id=self._workspace_id()
            )
        masker = self._masker(definition, config)
        try:
            ready = self._launch(definition)
        except EngineError as exc:
            return CheckResult(ok=False, message=exc.message, logs=exc.logs)
        result = self._run(
            ready, "check", config, masker, workspace_id=self._workspace_id()
        )
        message = result.first(protocol.CONNECTION_STATUS)
        if message is not None:
            found = protocol.check_from_message(message)
            return CheckResult(
                ok=found.ok,
                message=masker.mask(found.message),
                logs=tuple(result.logs),
            )
        return CheckResult(
            ok=False,
            message=result.failure_message("check", timeout_for("check")),
            logs=tuple(result.logs),
        )

    # -- discover ---------------------------------------------------------------
    def discover(
        self,
        definition: ConnectorRef | Any,
        config: dict[str, Any],
        *,
        actor: Any = None,
    ) -> DiscoveredCatalog:
        """The source's streams; raises EngineError with the connector's reason."""
        definition = connector_ref(definition)
        if definition.builtin or definition.kind != "source":
            raise EngineError(f"{definition.name} is a destination: it has no streams.")
        masker = self._masker(definition, config)
        ready = self._launch(definition)
        result = self._run(
            ready, "discover", config, masker, workspace_id=self._workspace_id()
        )
        message = result.first(protocol.CATALOG)
        if message is None:
            raise EngineError(
                result.failure_message("discover", timeout_for("discover")),
                logs=tuple(result.logs),
            )
        return protocol.catalog_from_message(message)

    # -- the connector builder ------------------------------------------------------
    def validate_manifest(
        self, manifest: dict[str, Any], *, config: dict[str, Any] | None = None
    ) -> list[ManifestProblem]:
        """The CDK's verdict on a manifest, run in its virtualenv (builder.py)."""
        return builder.validate(
            manifest, config=config, workspace_id=self._workspace_id()
        )

    def test_read(
        self,
        manifest: dict[str, Any],
        config: dict[str, Any],
        *,
        stream: str,
        limits: ReadLimits | None = None,
    ) -> StreamReadResult:
        """The CDK's connector builder test read of one stream (builder.py)."""
        return builder.test_read(
            manifest,
            config,
            stream=stream,
            limits=limits,
            workspace_id=self._workspace_id(),
        )

    # -- the catalog's questions ------------------------------------------------
    def spec_for_config(
        self, definition: ConnectorRef | Any, config: dict[str, Any] | None
    ) -> ConnectorSpec:
        """A custom YAML source's form comes from the manifest in its config."""
        definition = connector_ref(definition)
        if definition.manifest:
            manifest = (config or {}).get(declarative.MANIFEST_KEY)
            if not manifest:
                return ConnectorSpec(
                    connection_specification={"type": "object", "properties": {}}
                )
            return declarative.manifest_spec(manifest)
        return self.spec(definition)

    def connector_ready(self, definition: ConnectorRef) -> bool:
        """Built-ins always are; others once their spec is stored or they are here."""
        if definition.builtin:
            return True
        store = registry.spec_store()
        return bool(
            (store is not None and store.get(definition) is not None)
            or _installed_here(connector_ref(definition))
        )

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
        """A source from PyPI, a manifest or an image for a Docker daemon on the
        worker host; a destination only if the console writes it itself.

        A sync here writes through the console's own writers (``make_writer``),
        never through a destination connector, so a PyPI or Docker destination
        would be offered only to fail at its first sync.
        """
        if kind == "destination":
            return bool(builtin)
        image = bool(docker_repository) and docker_repository != "None"
        return bool(package or builtin or manifest_only or image)

    @classmethod
    def runtime_available(cls, runtime: str) -> tuple[bool, str]:
        """Docker connectors need a Docker daemon on the worker hosts; the rest run
        anywhere.

        The web asks this, so it never asks the daemon (a process, and the web host
        may have no Docker): it reads what the workers last recorded
        (``runtime_status``), with when and where. ``CONNECTOR_DOCKER=off`` is a
        setting, answered without asking anyone.
        """
        if runtime != RUNTIME_DOCKER:
            return True, ""
        from apps.engines.embedded import docker

        if getattr(settings, "CONNECTOR_DOCKER", "auto") == "off":
            return docker.available()  # The setting's answer; no process.
        from apps.engines import runtime_status

        return runtime_status.runtime_answer(runtime=RUNTIME_DOCKER)

    @classmethod
    def record_runtime_status(cls) -> None:
        """On a worker: ask this host's Docker daemon and record the answer for the
        web to read (see ``runtime_available``)."""
        from apps.engines import runtime_status
        from apps.engines.embedded import docker

        ok, reason = docker.available()
        runtime_status.runtime_status_record(
            runtime=RUNTIME_DOCKER, available=ok, reason=reason
        )

    # -- installs -----------------------------------------------------------------
    def install(
        self, definition: ConnectorRef, *, on_output: Callable[[str], None]
    ) -> dict[str, Any] | None:
        """Install the connector here (atomic, locked): see ``launch.py``."""
        return launch.install(connector_ref(definition), on_output=on_output)

    def uninstall(self, definition: ConnectorRef) -> int:
        return launch.uninstall(connector_ref(definition))

    def install_timeout(self) -> float:
        return installer.install_timeout()

    def installed(self, definition: ConnectorRef) -> bool:
        return _installed_here(connector_ref(definition))

    # -- after a worker died ----------------------------------------------------
    def stop_lost_attempt(self, *, worker: str, process_group: int | None) -> None:
        """Kill the connector a dead worker on this host left running.

        A Docker connector's container outlives its ``docker run`` process group:
        it is removed by the worker's label.
        """
        if not scratch.on_this_host(worker):
            return
        if process_group:
            scratch.stop_group(process_group)
        from apps.engines.embedded import docker

        docker.stop_worker_containers(worker)

    @classmethod
    def recover_lost_jobs(cls) -> None:
        """Remove the private files (plaintext configs) and containers dead workers
        left here; record whether Docker answers here.

        The reaper runs this on a worker every minute, which is what keeps the
        catalog's "Needs Docker on the worker host" current; the sweep has just
        asked the daemon (cached), so the record costs one small write.
        """
        from apps.engines.embedded import docker

        scratch.sweep()
        docker.sweep()
        cls.record_runtime_status()

    # -- operations -------------------------------------------------------------
    @classmethod
    def health_targets(
        cls, workspaces: list[Any], *, watch: tuple[ConnectorRef, ...] = ()
    ) -> list[HealthTarget]:
        return health.targets(workspaces, watch)

    @classmethod
    def check_health(cls, target: HealthTarget) -> HealthCheck:
        return health.check(target)

    # -- syncs ------------------------------------------------------------------
    def run_attempt(
        self, request: AttemptRequest, reporter: AttemptReporter
    ) -> AttemptOutcome:
        """Read the source into the console's own writer (see ``sync.py``)."""
        from apps.engines.embedded.sync import run_sync

        # The secrets the console stored, plus anything that looks like one.
        values = (
            set(request.secret_values)
            | secret_values(request.source_config)
            | secret_values(request.destination_config)
        )
        return run_sync(replace(request, secret_values=frozenset(values)), reporter)

    def clear_tables(
        self,
        *,
        destination_definition: ConnectorRef | Any,
        destination_config: dict[str, Any],
        namespace: str,
        table_prefix: str,
        streams: list[str],
        connection_id: str,
        empty_tables: bool,
        workspace_id: str,
    ) -> None:
        """Forget reset streams' destination state, and empty their tables if asked."""
        from apps.engines.embedded.sync import make_writer
        from apps.engines.embedded.writers import StreamConfig

        writer = make_writer(
            connector_ref(destination_definition),
            destination_config,
            schema=namespace,
            table_prefix=table_prefix,
            streams=[
                StreamConfig(
                    name=name,
                    namespace=None,
                    json_schema={},
                    destination_sync_mode="append",
                    primary_key=[],
                    cursor_field=[],
                    generation_id=0,
                )
                for name in streams
            ],
            connection_id=connection_id,
            log=lambda level, text: logger.info("%s %s", level, text),
            workspace_id=workspace_id,
        )
        try:
            if empty_tables:
                writer.truncate(streams)
            else:
                writer.forget_state(streams)
        finally:
            writer.close()

    def profile_tables(
        self,
        *,
        destination_definition: ConnectorRef | Any,
        destination_config: dict[str, Any],
        namespace: str,
        table_prefix: str,
        streams: tuple[ProfileStream, ...],
        workspace_id: str,
        sample_rows: int,
        statement_seconds: float,
    ) -> list[TableProfile]:
        """Sample the tables the console's own writer made (``quality.py``)."""
        from apps.engines.embedded import quality

        return quality.profile_tables(
            connector_ref(destination_definition),
            destination_config,
            namespace=namespace,
            table_prefix=table_prefix,
            streams=streams,
            # Only staging tables are named after the connection; none is read.
            connection_id="quality",
            workspace_id=workspace_id,
            sample_rows=sample_rows,
            statement_seconds=statement_seconds,
        )

    # -- helpers ----------------------------------------------------------------
    def _workspace_id(self) -> str:
        """The public id of the workspace this engine runs for ("" for none)."""
        public_id = getattr(self.workspace, "public_id", None)
        return str(public_id) if public_id else ""

    @staticmethod
    def _version(definition: ConnectorRef) -> str:
        if not definition.installable or not definition.version:
            raise EngineError(
                f"{definition.name} has no PyPI package, manifest or image pinned, "
                "so the embedded engine cannot run it."
            )
        return definition.version

    def _launch(self, definition: ConnectorRef) -> launch.Launch:
        self._version(definition)
        return launch.launch(definition)

    def _masker(self, definition: ConnectorRef, config: dict[str, Any]) -> SecretMasker:
        """A masker for everything this config's secrets could leak into."""
        spec: ConnectorSpec | None = None
        if definition.manifest:
            manifest, config = declarative.split_config(config)
            if manifest is not None:
                try:
                    spec = declarative.manifest_spec(manifest)
                except declarative.ManifestError:
                    spec = None
        else:
            try:
                spec = self.spec(definition)
            except EngineError:
                # Without a spec the key-name heuristics still apply.
                spec = None
        return SecretMasker(secret_values(config, spec))

    @staticmethod
    def _run(
        ready: launch.Launch,
        verb: str,
        config: dict[str, Any] | None,
        masker: SecretMasker,
        *,
        workspace_id: str = "",
    ) -> RunResult:
        # The workspace's /local is mounted for check and discover; spec (one
        # answer for every workspace) runs without one.
        result = run_connector(
            ready.command,
            verb,
            masker=masker,
            config=ready.prepare_config(config) if config is not None else None,
            timeout=timeout_for(verb),
            bin_dir=ready.bin_dir,
            workspace_id=workspace_id or None,
            sandboxed=ready.sandboxed,
            extra_env=ready.env,
            cleanup=ready.cleanup,
        )
        if result.returncode not in (0, None) or result.timed_out:
            logger.info(
                "%s %s exited with %s%s",
                ready.label,
                verb,
                result.returncode,
                " (timed out)" if result.timed_out else "",
            )
        return result


def _installed_here(ref: ConnectorRef) -> bool:
    """Is this connector version ready here, as far as a web request may ask.

    A Docker image lives on the worker hosts' daemons: the web cannot see it
    without starting a process (on a host that may have no Docker), so for an
    image the answer is no, and the callers go by the console's install rows
    (``ConnectorInstall``), which they read anyway. A launch on a worker asks the
    daemon itself and pulls what is missing.
    """
    if ref.runtime == RUNTIME_DOCKER:
        return False
    return launch.installed(ref)
