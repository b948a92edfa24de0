""" "Import from Airbyte": the server's sources, destinations and connections, here.

Each remote object becomes (or updates) the console row with its ``remote_id``, so
running the import again updates instead of duplicating. A console row without a
remote id but with the same name and connector is adopted rather than doubled.

Secrets stay on the server: Airbyte answers with ``**********`` where a secret is,
and that mask is what the console keeps. Sent back on a change, the mask tells the
server to keep its stored value; the source's page says the secrets live there.
Connections keep their streams and modes; their schedules are not imported as
schedules here (the console runs schedules itself) and are set to manual on the
server by the next change the console pushes. Their ``namespaceDefinition`` and
``namespaceFormat`` are kept as the server has them (``RemoteNamespace``) and
pushed back unchanged, so the data stays in the schema it was written to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.airbyte.client import AirbyteClient
from apps.airbyte.mapping import console_sync_modes, imported_remote_mode
from apps.airbyte.mirror import server_for
from apps.airbyte.services import definitions_refresh
from apps.airbyte.shapes import RemoteConnection, RemoteConnector
from apps.audit.services import audit_record
from apps.connections.models import Connection, ConnectionStream
from apps.connectors.models import (
    ConnectorConfig,
    ConnectorDefinition,
    Destination,
    Source,
)
from apps.workspaces.models import Workspace


@dataclass
class ImportResult:
    sources_created: int = 0
    sources_updated: int = 0
    destinations_created: int = 0
    destinations_updated: int = 0
    connections_created: int = 0
    connections_updated: int = 0
    messages: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return (
            f"Sources: {self.sources_created} new, {self.sources_updated} updated. "
            f"Destinations: {self.destinations_created} new, "
            f"{self.destinations_updated} updated. Connections: "
            f"{self.connections_created} new, {self.connections_updated} updated."
        )


def airbyte_import(
    *, actor: AbstractBaseUser | None, workspace: Workspace
) -> ImportResult:
    """Bring what the workspace's Airbyte workspace holds into the console."""
    if workspace.engine != Workspace.Engine.AIRBYTE:
        raise ValidationError(
            "Switch this workspace to the Airbyte server engine before importing."
        )
    server = server_for(workspace)
    definitions_refresh(server_id=server.pk)
    remote_workspace = server.remote_workspace_id
    with AirbyteClient.for_server(server) as client:
        sources = list(client.connector_list("source", remote_workspace))
        destinations = list(client.connector_list("destination", remote_workspace))
        connections = list(client.connection_list(remote_workspace))
    return _store(actor, workspace, sources, destinations, connections)


@transaction.atomic
def _store(
    actor: AbstractBaseUser | None,
    workspace: Workspace,
    sources: list[RemoteConnector],
    destinations: list[RemoteConnector],
    connections: list[RemoteConnection],
) -> ImportResult:
    result = ImportResult()
    by_remote: dict[str, ConnectorConfig] = {}
    for model, items in ((Source, sources), (Destination, destinations)):
        for item in items:
            obj, created = _upsert_connector(workspace, actor, model, item, result)
            if obj is None:
                continue
            by_remote[obj.remote_id] = obj
            key = f"{item.kind}s_{'created' if created else 'updated'}"
            setattr(result, key, getattr(result, key) + 1)
    for item in connections:
        created = _upsert_connection(workspace, actor, item, by_remote, result)
        if created is None:
            continue
        key = f"connections_{'created' if created else 'updated'}"
        setattr(result, key, getattr(result, key) + 1)
    from apps.airbyte.models import AirbyteServer

    AirbyteServer.objects.filter(workspace=workspace).update(
        last_import_at=timezone.now(),
        last_import_summary={
            "summary": result.summary,
            "messages": result.messages[:50],
        },
    )
    audit_record(
        actor=actor,
        action="airbyte.imported",
        workspace=workspace,
        changes={"summary": [None, result.summary], "skipped": [None, result.messages]},
    )
    return result


def _free_name(
    model: type, workspace: Workspace, name: str, exclude: int | None
) -> str:
    taken = model.objects.filter(workspace=workspace)
    if exclude:
        taken = taken.exclude(pk=exclude)
    candidate, n = name[:200], 1
    while taken.filter(name__iexact=candidate).exists():
        n += 1
        candidate = f"{name[:190]} ({n})"
    return candidate


def _upsert_connector(
    workspace: Workspace,
    actor: AbstractBaseUser | None,
    model: type[ConnectorConfig],
    item: RemoteConnector,
    result: ImportResult,
) -> tuple[ConnectorConfig | None, bool]:
    remote_id = item.id
    name = item.name or remote_id
    definition = ConnectorDefinition.objects.filter(
        definition_id=item.definition_id or None
    ).first()
    if not remote_id or definition is None:
        result.messages.append(
            f"Skipped {item.kind} “{name}”: the server did not say which connector "
            "it uses."
        )
        return None, False
    obj = model.objects.filter(workspace=workspace, remote_id=remote_id).first()
    if obj is None:
        obj = model.objects.filter(
            workspace=workspace, remote_id="", name=name, definition=definition
        ).first()
    created = obj is None
    if created:
        obj = model(workspace=workspace, definition=definition, created_by=actor)
    obj.name = _free_name(model, workspace, name, obj.pk)
    obj.remote_id = remote_id
    # Secrets come back masked: the mask is kept, the server keeps the values.
    obj.config = item.configuration
    obj.save()
    return obj, created


def _upsert_connection(
    workspace: Workspace,
    actor: AbstractBaseUser | None,
    item: RemoteConnection,
    by_remote: dict[str, ConnectorConfig],
    result: ImportResult,
) -> bool | None:
    remote_id = item.id
    name = item.name or remote_id
    source = by_remote.get(item.source_id)
    destination = by_remote.get(item.destination_id)
    if not isinstance(source, Source) or not isinstance(destination, Destination):
        result.messages.append(
            f"Skipped connection “{name}”: its source or destination was not imported."
        )
        return None
    connection = Connection.objects.filter(
        workspace=workspace, remote_id=remote_id
    ).first()
    created = connection is None
    if created:
        connection = Connection(workspace=workspace, created_by=actor)
    connection.name = _free_name(Connection, workspace, name, connection.pk)
    connection.source = source
    connection.destination = destination
    connection.remote_id = remote_id
    if item.namespace_definition == "custom_format" and item.namespace_format:
        connection.namespace = item.namespace_format[:63]
    connection.table_prefix = item.prefix[:40]
    policy = item.non_breaking_schema_updates_behavior
    if policy in Connection.SchemaChangePolicy.values:
        connection.schema_change_policy = policy
    connection.status = (
        Connection.Status.ACTIVE
        if item.status == "active"
        else Connection.Status.PAUSED
    )
    connection.save()
    _keep_namespace(connection, item)
    keep = []
    for stream in item.streams:
        sync_mode, destination_sync_mode = console_sync_modes(stream.sync_mode)
        row, _ = ConnectionStream.objects.update_or_create(
            connection=connection,
            name=stream.name,
            namespace=stream.namespace,
            defaults={
                "selected": True,
                "sync_mode": sync_mode,
                "destination_sync_mode": destination_sync_mode,
                # A mode the console cannot express is kept and sent back as is.
                "remote_sync_mode": imported_remote_mode(stream.sync_mode),
                "cursor_field": list(stream.cursor_field),
                "primary_key": [list(p) for p in stream.primary_key],
            },
        )
        keep.append(row.pk)
    connection.streams.exclude(pk__in=keep).delete()
    return created


def _keep_namespace(connection: Connection, item: RemoteConnection) -> None:
    """Remember where the server writes this connection's tables, so the next push
    sends that back instead of moving the data to the console's default schema."""
    from apps.airbyte.models import RemoteNamespace

    if not item.namespace_definition:
        return
    RemoteNamespace.objects.update_or_create(
        connection=connection,
        defaults={
            "namespace_definition": item.namespace_definition,
            "namespace_format": item.namespace_format,
            "console_namespace": connection.namespace,
        },
    )


def import_summary(result: ImportResult) -> str:
    """One sentence: what the import created and updated, per kind."""
    parts = []
    for kind, label in (
        ("sources", "source"),
        ("destinations", "destination"),
        ("connections", "connection"),
    ):
        created = getattr(result, f"{kind}_created")
        updated = getattr(result, f"{kind}_updated")
        parts.append(
            f"{created} new and {updated} updated {label}"
            f"{'' if created + updated == 1 else 's'}"
        )
    return "Imported from Airbyte: " + ", ".join(parts) + "."
