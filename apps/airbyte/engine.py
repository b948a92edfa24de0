"""The airbyte engine: the Engine interface answered by a real Airbyte server.

Specs, checks and discovery go through the Config API (the Public API has no
connector specs and no check); syncs do not run here at all: ``jobs.py`` starts
them on the server and follows them with short poll tasks, so no worker waits on a
sync for hours.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.cache import cache

from apps.airbyte import declarative_sources, health, jobs
from apps.airbyte.client import AirbyteClient, AirbyteError
from apps.airbyte.mirror import connector_push, server_for
from apps.airbyte.shapes import ConnectorSpecification, RemoteStream
from apps.engines.base import (
    AttemptOutcome,
    AttemptReporter,
    AttemptRequest,
    CheckResult,
    ConnectorRef,
    ConnectorSpec,
    DiscoveredCatalog,
    DiscoveredStream,
    Engine,
    EngineError,
)
from apps.engines.health import HealthCheck, HealthTarget

if TYPE_CHECKING:
    from apps.connectors.models import ConnectorConfig, ConnectorDefinition
    from apps.workspaces.models import Workspace

SPEC_CACHE_SECONDS = 600


class AirbyteEngine(Engine):
    name = "airbyte"
    remote = True
    # Airbyte has no job that forgets state and keeps the data; its clear empties
    # the streams' tables too. A reset is a console job (``jobs.job_start`` posts
    # ``connections/clear/stream`` for the chosen streams, polls follow it).
    can_forget_state_only = False
    resets_as_jobs = True

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def _client(self) -> tuple[AirbyteClient, str]:
        server = server_for(self.workspace)
        return AirbyteClient.for_server(server), server.remote_workspace_id

    # -- spec -------------------------------------------------------------------------
    def spec(self, definition: ConnectorDefinition) -> ConnectorSpec:
        client, remote_workspace = self._client()
        # The dataclass is cached, not the raw answer (hence "v2" in the key).
        key = f"airbyte-spec-v2:{client.url}:{definition.definition_id}"
        cached: ConnectorSpecification | None = cache.get(key)
        if cached is None:
            with client:
                try:
                    cached = client.definition_spec(
                        definition.kind, str(definition.definition_id), remote_workspace
                    )
                except AirbyteError as exc:
                    raise EngineError(
                        f"Could not get {definition.name}'s settings from the "
                        f"Airbyte server. {exc.message}"
                    ) from None
            cache.set(key, cached, SPEC_CACHE_SECONDS)
        return ConnectorSpec(
            connection_specification=cached.connection_specification,
            documentation_url=cached.documentation_url,
            supported_destination_sync_modes=cached.supported_destination_sync_modes,
            advanced_auth=cached.advanced_auth,
        )

    # -- check ------------------------------------------------------------------------
    def check(
        self,
        definition: ConnectorDefinition,
        config: dict[str, Any],
        *,
        actor: ConnectorConfig | None = None,
    ) -> CheckResult:
        client, remote_workspace = self._client()
        kind = definition.kind
        with client:
            try:
                if actor is not None and actor.remote_id:
                    # The server merges its stored secrets where the config has masks.
                    outcome = client.connector_check_for_update(
                        kind, actor.remote_id, name=actor.name, configuration=config
                    )
                else:
                    outcome = client.connector_check(
                        kind,
                        definition_id=str(definition.definition_id),
                        workspace_id=remote_workspace,
                        configuration=config,
                    )
            except AirbyteError as exc:
                return CheckResult(ok=False, message=exc.message)
        message = outcome.message
        if not outcome.ok and not message:
            message = outcome.failure_message
        return CheckResult(ok=outcome.ok, message=message)

    # -- discover ---------------------------------------------------------------------
    def discover(
        self,
        definition: ConnectorDefinition,
        config: dict[str, Any],
        *,
        actor: ConnectorConfig | None = None,
    ) -> DiscoveredCatalog:
        if actor is None:
            raise EngineError(
                "The Airbyte server discovers streams of a saved source only."
            )
        try:
            remote_id = connector_push(actor)
            client, _ = self._client()
            with client:
                outcome = client.source_discover(remote_id)
        except AirbyteError as exc:
            raise EngineError(
                f"The Airbyte server could not discover the streams. {exc.message}"
            ) from None
        if not outcome.ok:
            raise EngineError(
                "Discover failed on the Airbyte server: "
                + (outcome.failure_message or "no catalog was returned.")
            )
        return DiscoveredCatalog(streams=tuple(_stream(s) for s in outcome.streams))

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
        """Anything with a Docker image, of either kind: the server runs
        connectors as containers (a manifest-only connector's image is the
        manifest on Airbyte's runner)."""
        return bool(docker_repository) and docker_repository != "None"

    # -- operations -------------------------------------------------------------------
    @classmethod
    def health_targets(
        cls, workspaces: list[Any], *, watch: tuple[ConnectorRef, ...] = ()
    ) -> list[HealthTarget]:
        return health.targets(workspaces)

    @classmethod
    def check_health(cls, target: HealthTarget) -> HealthCheck:
        return health.check(target)

    @classmethod
    def manage_install(
        cls, *, url: str = ""
    ) -> tuple[dict[str, Any], list[str], bool] | None:
        return health.manage_install(url=url)

    @classmethod
    def process_note(cls) -> str:
        return health.process_note()

    # -- the catalog's questions ------------------------------------------------------
    def publish_declarative_source(
        self,
        *,
        name: str,
        manifest: dict[str, Any],
        spec: ConnectorSpec,
        number: int,
        definition_id: str = "",
    ) -> str:
        """Create the connector on the server as a custom declarative source (or
        a new active version of it), and offer it in this workspace's pickers."""
        from apps.airbyte.models import AirbyteServer

        client, remote_workspace = self._client()
        with client:
            try:
                found = declarative_sources.publish(
                    client,
                    workspace_id=remote_workspace,
                    name=name,
                    manifest=manifest,
                    spec=spec,
                    number=number,
                    definition_id=definition_id,
                )
            except AirbyteError as exc:
                raise EngineError(
                    f"The Airbyte server refused {name}: {exc.message}"
                ) from None
        # The server offers it from now on; the next test of the server would
        # find it too (a cache of the server's list, not a change to audit).
        server = AirbyteServer.objects.filter(workspace=self.workspace).first()
        if server is not None and found not in server.definition_ids:
            server.definition_ids = [*server.definition_ids, found]
            server.save(update_fields=["definition_ids", "updated_at"])
        return found

    def offered_definition_ids(self) -> list[str] | None:
        """The definitions the server offers (refreshed with each test of it)."""
        from apps.airbyte.models import AirbyteServer

        server = AirbyteServer.objects.filter(workspace=self.workspace).first()
        return list(server.definition_ids) if server else []

    # -- syncs run on the server ------------------------------------------------------
    def start_job(self, job_id: int, *, run_here: Any) -> Any:
        """Start the job on the server and follow it with short polls (``jobs.py``)."""
        return jobs.job_start(job_id=job_id)

    def request_cancel(self, job_id: int) -> None:
        """The next poll sends the cancel to the server; ask for one now."""
        jobs.schedule_poll(job_id, countdown=0)

    @classmethod
    def recover_lost_jobs(cls) -> None:
        """Follow again the jobs nobody polled for a while (a lost poll or start)."""
        from apps.airbyte.tasks import airbyte_job_start_task
        from apps.connections.tasks import sync_queue

        to_poll, to_start = jobs.lost_jobs()
        for job_id in to_poll:
            jobs.schedule_poll(job_id, countdown=0)
        for job_id in to_start:
            airbyte_job_start_task.apply_async(args=[job_id], queue=sync_queue(job_id))

    def run_attempt(
        self, request: AttemptRequest, reporter: AttemptReporter
    ) -> AttemptOutcome:
        raise EngineError(
            "Syncs of the airbyte engine run on the Airbyte server (see jobs.py)."
        )

    def clear_tables(
        self,
        *,
        destination_definition: ConnectorDefinition,
        destination_config: dict[str, Any],
        namespace: str,
        table_prefix: str,
        streams: list[str],
        connection_id: str,
        empty_tables: bool,
        workspace_id: str,
    ) -> None:
        """Refused: resets on this engine are console jobs (``resets_as_jobs``).

        ``POST /jobs {jobType: clear}`` would clear every stream of the connection
        (deleting the destination data the user kept) and cancel a running sync,
        so nothing here posts it; ``jobs.job_start`` clears the chosen streams.
        """
        raise EngineError(
            "On an Airbyte server a reset runs as a job of the connection: start "
            "it from the connection's Reset page."
        )


def _stream(stream: RemoteStream) -> DiscoveredStream:
    return DiscoveredStream(
        name=stream.name,
        json_schema=stream.json_schema,
        supported_sync_modes=stream.supported_sync_modes,
        namespace=stream.namespace,
        source_defined_cursor=stream.source_defined_cursor,
        default_cursor_field=stream.default_cursor_field,
        source_defined_primary_key=stream.source_defined_primary_key,
    )
