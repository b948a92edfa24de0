"""Keeping an Airbyte server's sources, destinations and connections like the console's.

The console's rows are the truth; the server holds a copy, and ``remote_id`` links
the two. Each push is idempotent, so a redelivered task changes nothing twice:

* an object with a ``remote_id`` is updated in place (PUT for sources and
  destinations, PATCH for connections); one the server no longer has is created
  again;
* an object without one first looks for its twin on the server (same name, same
  definition, or same source and destination for a connection) that no other row
  claims, and adopts it; only then is it created. A task that died between the
  server's answer and saving the id therefore finds its object on the next run
  instead of making a second one.

Secrets go to the server with the configuration and are never read back (the server
answers with masks). Imported objects carry Airbyte's mask where a secret is; sent
back, the mask tells the server to keep what it has. Schedules stay in the console:
every connection is ``manual`` on the server, so nothing runs twice.

The local row is locked while its push runs, so two pushes of one object queue up.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from apps.airbyte.client import AirbyteApiError, AirbyteClient
from apps.airbyte.mapping import public_sync_mode
from apps.airbyte.models import AirbyteServer
from apps.connections.models import Connection
from apps.connectors.models import ConnectorConfig, Destination, Source
from apps.engines.base import EngineError

logger = logging.getLogger(__name__)

KINDS = {"source": Source, "destination": Destination, "connection": Connection}


def server_for(workspace: Any) -> AirbyteServer:
    """The workspace's server, ready to use, or an EngineError saying what is wrong."""
    server = AirbyteServer.objects.filter(workspace=workspace).first()
    if server is None:
        raise EngineError(
            "This workspace runs on an Airbyte server, but none is set up: an admin "
            "can add it on the workspace's Engine page."
        )
    if not server.remote_workspace_id:
        raise EngineError(
            "Choose the Airbyte workspace to work in on the workspace's Engine page."
        )
    return server


def _airbyte_config(obj: ConnectorConfig) -> dict[str, Any]:
    from apps.connectors.selectors import connector_full_config

    return connector_full_config(obj)


def connector_push(obj: ConnectorConfig) -> str:
    """Create or update a source or destination on the server; its remote id."""
    kind = obj._meta.model_name  # source | destination
    model = type(obj)
    with transaction.atomic():
        obj = (
            model.objects.select_for_update()
            .select_related("definition", "workspace")
            .get(pk=obj.pk)
        )
        server = server_for(obj.workspace)
        body = {"name": obj.name, "configuration": _airbyte_config(obj)}
        with AirbyteClient.for_server(server) as client:
            remote_id = obj.remote_id
            if remote_id:
                try:
                    client.connector_update(kind, remote_id, **body)
                    return remote_id
                except AirbyteApiError as exc:
                    if not exc.not_found:
                        raise
                    remote_id = ""  # deleted on the server: make it again
            remote_id = _find_twin(client, server, obj) or ""
            if remote_id:
                client.connector_update(kind, remote_id, **body)
            else:
                created = client.connector_create(
                    kind,
                    workspace_id=server.remote_workspace_id,
                    definition_id=str(obj.definition.definition_id),
                    **body,
                )
                remote_id = created.id
        model.objects.filter(pk=obj.pk).update(remote_id=remote_id)
        return remote_id


def _claimed(model: type, workspace: Any, exclude_pk: int) -> set[str]:
    return set(
        model.objects.filter(workspace=workspace)
        .exclude(pk=exclude_pk)
        .exclude(remote_id="")
        .values_list("remote_id", flat=True)
    )


def _find_twin(
    client: AirbyteClient, server: AirbyteServer, obj: ConnectorConfig
) -> str | None:
    kind = obj._meta.model_name
    claimed = _claimed(type(obj), obj.workspace, obj.pk)
    for item in client.connector_list(kind, server.remote_workspace_id):
        if (
            item.id
            and item.name == obj.name
            and item.definition_id == str(obj.definition.definition_id)
            and item.id not in claimed
        ):
            return item.id
    return None


def connection_body(connection: Connection) -> dict[str, Any]:
    """The Public API's view of a connection (without source and destination ids)."""
    streams = []
    for stream in connection.streams.filter(selected=True).order_by("name"):
        item: dict[str, Any] = {
            "name": stream.name,
            "syncMode": public_sync_mode(
                stream.sync_mode, stream.destination_sync_mode
            ),
        }
        if stream.namespace:
            item["namespace"] = stream.namespace
        if stream.cursor_field:
            item["cursorField"] = list(stream.cursor_field)
        if stream.primary_key:
            item["primaryKey"] = [list(path) for path in stream.primary_key]
        streams.append(item)
    return {
        "name": connection.name,
        "schedule": {"scheduleType": "manual"},
        "namespaceDefinition": "custom_format",
        "namespaceFormat": connection.namespace,
        "prefix": connection.table_prefix,
        "nonBreakingSchemaUpdatesBehavior": connection.schema_change_policy,
        "status": "active"
        if connection.status == Connection.Status.ACTIVE
        else "inactive",
        "configurations": {"streams": streams},
    }


def connection_push(connection: Connection) -> str:
    """Create or update a connection (and its source and destination) on the server."""
    source_id = connector_push(connection.source)
    destination_id = connector_push(connection.destination)
    with transaction.atomic():
        connection = (
            Connection.objects.select_for_update()
            .select_related("workspace")
            .get(pk=connection.pk)
        )
        server = server_for(connection.workspace)
        body = connection_body(connection)
        with AirbyteClient.for_server(server) as client:
            remote_id = connection.remote_id
            if remote_id:
                try:
                    client.connection_update(remote_id, body)
                    return remote_id
                except AirbyteApiError as exc:
                    if not exc.not_found:
                        raise
                    remote_id = ""
            claimed = _claimed(Connection, connection.workspace, connection.pk)
            for item in client.connection_list(server.remote_workspace_id):
                if (
                    item.id
                    and item.name == connection.name
                    and item.source_id == source_id
                    and item.destination_id == destination_id
                    and item.id not in claimed
                ):
                    remote_id = item.id
                    client.connection_update(remote_id, body)
                    break
            else:
                created = client.connection_create(
                    body, source_id=source_id, destination_id=destination_id
                )
                remote_id = created.id
        Connection.objects.filter(pk=connection.pk).update(remote_id=remote_id)
        return remote_id


def remote_delete(*, server_id: int, kind: str, remote_id: str) -> None:
    """Delete an object on the server; one already gone is fine."""
    server = AirbyteServer.objects.get(pk=server_id)
    with AirbyteClient.for_server(server) as client:
        try:
            client.object_delete(kind, remote_id)
        except AirbyteApiError as exc:
            if not exc.not_found:
                raise
