"""The demo pipeline: a faker source into a DuckDB destination, ready to sync.

``console_bootstrap`` builds it in the Demo workspace on the first run, and
``airbyte test integration`` builds it in a scratch workspace to sync once; one
function builds it for both, so the first run and the self-test exercise the same
rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from apps.connections.catalog import default_choice
from apps.connections.models import Connection
from apps.connections.services import connection_create
from apps.connectors.models import ConnectorDefinition, Destination, Source
from apps.connectors.services import connector_create, source_discover_run
from apps.workspaces.models import Workspace

FAKER_PACKAGE = "airbyte-source-faker"


class DemoDiscoverFailed(Exception):
    """Discovering the faker source failed; the message is the source's own."""


@dataclass(frozen=True)
class DemoPipeline:
    """The rows one build made."""

    source: Source
    destination: Destination
    connection: Connection
    streams: list[dict[str, Any]]


def demo_definitions() -> tuple[ConnectorDefinition, ConnectorDefinition] | None:
    """Faker and DuckDB from the catalog; None before `airbyte manage install`."""
    faker = ConnectorDefinition.objects.filter(pypi_package=FAKER_PACKAGE).first()
    duckdb = ConnectorDefinition.objects.filter(builtin="duckdb").first()
    if faker is None or duckdb is None:
        return None
    return faker, duckdb


def demo_pipeline_create(
    *,
    actor: AbstractBaseUser,
    workspace: Workspace,
    faker: ConnectorDefinition,
    duckdb: ConnectorDefinition,
    label: str,
    count: int,
    destination_path: str,
    namespace: str,
    before_discover: Callable[[], None] = lambda: None,
) -> DemoPipeline:
    """Source, destination, discover, then a connection with every stream.

    Each step goes through its own service (with its audit event), so a failed
    discover leaves the source and destination for the user to inspect; it raises
    ``DemoDiscoverFailed`` before any connection exists.
    """
    source = connector_create(
        actor=actor,
        workspace=workspace,
        kind="source",
        name=f"Faker ({label})",
        definition=faker,
        config={
            "count": count,
            "seed": 42,
            "records_per_slice": count,
            "parallelism": 1,
            "always_updated": True,
        },
    )
    destination = connector_create(
        actor=actor,
        workspace=workspace,
        kind="destination",
        name=f"DuckDB ({label})",
        definition=duckdb,
        config={"destination_path": destination_path},
    )
    before_discover()
    catalog = source_discover_run(pk=source.pk)
    source.refresh_from_db()
    if catalog is None:
        raise DemoDiscoverFailed(source.discover_message)
    streams = [vars(default_choice(s.as_dict())) for s in catalog.streams]
    connection = connection_create(
        actor=actor,
        workspace=workspace,
        name=f"Faker to DuckDB ({label})",
        source=source,
        destination=destination,
        streams=streams,
        namespace=namespace,
    )
    return DemoPipeline(source, destination, connection, streams)
