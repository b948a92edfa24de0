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

What the server decided on its own is read before each write and respected (#12
points 5 and 6), never overwritten:

* deleted in Airbyte: the server answers 200, not 404 (a source or destination
  with its configuration emptied, a connection with ``status: deprecated``). The
  push stops with ``RemoteDeleted`` and a ``RemoteMark`` the object's page shows,
  instead of writing into the tombstone or reviving the connection;
  ``remote_recreate`` forgets the old id and pushes again when the user asks;
* disabled by Airbyte (``inactive`` while the console says active: a breaking
  schema change, repeated failures): the push leaves the status alone, marks the
  connection, and a push for a sync raises ``RemoteDisabled``;
* an imported connection's ``namespaceDefinition``/``namespaceFormat`` are sent
  back as the server had them (``RemoteNamespace``), until the namespace is changed
  in the console.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.airbyte.client import AirbyteApiError, AirbyteClient, AirbyteTransientError
from apps.airbyte.mapping import push_sync_mode
from apps.airbyte.models import AirbyteServer, RemoteMark, RemoteNamespace
from apps.airbyte.shapes import REMOTE_CONNECTORS, RemoteConnection, RemoteConnector
from apps.connections.models import Connection
from apps.connectors.models import ConnectorConfig, Destination, Source
from apps.core.masking import MASK
from apps.engines.base import EngineError

logger = logging.getLogger(__name__)

# How many times a create is sent in all, each after looking for what the last
# one may have stored (see ``_create_once``).
CREATE_TRIES = 3
KINDS = {"source": Source, "destination": Destination, "connection": Connection}
LABELS = {"source": "source", "destination": "destination", "connection": "connection"}


class RemoteDeleted(EngineError):
    """The object was deleted in Airbyte; the console does not write to it.

    Raised inside the push's transaction, recorded (``record``) after it rolled
    back, so the mark the page shows survives the failed push."""

    def __init__(
        self, message: str, *, obj: Any = None, kind: str = "", remote_id: str = ""
    ) -> None:
        super().__init__(message)
        self.obj, self.kind, self.remote_id = obj, kind, remote_id

    def record(self) -> None:
        if self.obj is not None:
            mark_record(
                obj=self.obj,
                kind=self.kind,
                state=RemoteMark.State.DELETED,
                reason=self.message,
                remote_id=self.remote_id,
            )


class RemoteDisabled(EngineError):
    """Airbyte turned the connection off; the console does not sync it."""


def deleted_message(kind: str, name: str) -> str:
    return (
        f"The {LABELS.get(kind, kind)} “{name}” was deleted in Airbyte. The console "
        "does not change or revive it there; re-create it from its page to use it "
        "again."
    )


def disabled_reason(reason: str) -> str:
    """Why a connection is off on the server, for the note under its state label."""
    why = reason or (
        "Airbyte gave no reason (it turns a connection off after a breaking change "
        "in the source's schema or repeated failed syncs, or someone did in its UI)"
    )
    return (
        f"{why}. Review it in Airbyte and enable it there; the console does not "
        "re-enable it."
    )


def disabled_message(reason: str) -> str:
    """The same, as a sentence of its own (a refused sync's failure message)."""
    return (
        f"The connection is disabled on the Airbyte server: {disabled_reason(reason)}"
    )


def mark_for(obj: Any) -> RemoteMark | None:
    """``obj``'s mark; one left by a deleted row whose id was reused (SQLite)
    names another remote id and does not count."""
    return RemoteMark.objects.filter(
        kind=obj._meta.model_name, object_id=obj.pk, remote_id=obj.remote_id
    ).first()


@transaction.atomic
def mark_record(
    *,
    obj: Any,
    kind: str,
    state: str,
    reason: str = "",
    remote_id: str = "",
    object_id: int | None = None,
) -> RemoteMark:
    """Record what the server decided about ``obj`` (audited once, when it changes);
    ``object_id`` names a row that is not ``obj`` (a job, audited on its
    connection)."""
    from apps.audit.services import audit_record

    mark, created = RemoteMark.objects.get_or_create(
        kind=kind,
        object_id=obj.pk if object_id is None else object_id,
        defaults={
            "workspace": obj.workspace,
            "remote_id": remote_id,
            "state": state,
            "reason": reason[:500],
            "noticed_at": timezone.now(),
        },
    )
    if created or mark.state != state or mark.reason != reason[:500]:
        old_state = "" if created else mark.state
        mark.state, mark.reason, mark.remote_id = state, reason[:500], remote_id
        mark.noticed_at = timezone.now()
        mark.save()
        audit_record(
            actor=None,
            actor_label="worker",
            action=f"{kind}.airbyte_{state}",
            workspace=obj.workspace,
            target=obj,
            changes={"remote_state": [old_state or None, state], "reason": reason},
            outcome="failure",
        )
    return mark


def mark_clear(*, kind: str, pk: int, state: str | None = None) -> None:
    marks = RemoteMark.objects.filter(kind=kind, object_id=pk)
    if state:
        marks = marks.filter(state=state)
    marks.delete()


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
    try:
        return _connector_push(obj)
    except RemoteDeleted as exc:
        exc.record()
        raise


def _connector_push(obj: ConnectorConfig) -> str:
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
                    current = _connector_read(client, kind, remote_id)
                    if _tombstone(current, body["configuration"]):
                        raise _deleted(obj, kind, remote_id)
                    answer = client.connector_update(kind, remote_id, **body)
                    if _tombstone(answer, body["configuration"]):
                        raise _deleted(obj, kind, remote_id)
                    mark_clear(kind=kind, pk=obj.pk)
                    return remote_id
                except AirbyteApiError as exc:
                    if not exc.not_found:
                        raise
                    remote_id = ""  # purged on the server: make it again
            remote_id = _find_twin(client, server, obj) or ""
            if remote_id:
                client.connector_update(kind, remote_id, **body)
            else:
                _refuse_masks(obj, kind, body["configuration"])
                remote_id = _create_once(
                    lambda: _find_twin(client, server, obj),
                    lambda: (
                        client.connector_create(
                            kind,
                            workspace_id=server.remote_workspace_id,
                            definition_id=str(obj.definition.definition_id),
                            **body,
                        ).id
                    ),
                )
        model.objects.filter(pk=obj.pk).update(remote_id=remote_id)
        return remote_id


def _connector_read(
    client: AirbyteClient, kind: str, remote_id: str
) -> RemoteConnector:
    return REMOTE_CONNECTORS[kind].from_api(
        client.public("GET", f"/{kind}s/{remote_id}")
    )


def _tombstone(remote: RemoteConnector, sent: dict[str, Any]) -> bool:
    """A deleted source or destination still answers 200, its configuration (and
    secrets) emptied: empty where the console holds settings means deleted."""
    return bool(sent) and not remote.configuration


def _deleted(obj: Any, kind: str, remote_id: str) -> RemoteDeleted:
    return RemoteDeleted(
        deleted_message(kind, obj.name), obj=obj, kind=kind, remote_id=remote_id
    )


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


def connection_body(connection: Connection, server_version: str = "") -> dict[str, Any]:
    """The Public API's view of a connection (without source and destination ids);
    its sync modes are those ``server_version`` has (``mapping.push_sync_mode``)."""
    streams = []
    for stream in connection.streams.filter(selected=True).order_by("name"):
        item: dict[str, Any] = {
            "name": stream.name,
            "syncMode": push_sync_mode(
                stream_label=str(stream),
                sync_mode=stream.sync_mode,
                destination_sync_mode=stream.destination_sync_mode,
                remote_sync_mode=stream.remote_sync_mode,
                server_version=server_version,
            ),
        }
        if stream.namespace:
            item["namespace"] = stream.namespace
        if stream.cursor_field:
            item["cursorField"] = list(stream.cursor_field)
        if stream.primary_key:
            item["primaryKey"] = [list(path) for path in stream.primary_key]
        if stream.selected_fields:
            # Field selection (top-level fields; the key and cursor are among them).
            item["selectedFields"] = [
                {"fieldPath": [name]} for name in stream.selected_fields
            ]
        streams.append(item)
    return {
        "name": connection.name,
        "schedule": {"scheduleType": "manual"},
        **_namespace(connection),
        "prefix": connection.table_prefix,
        "nonBreakingSchemaUpdatesBehavior": connection.schema_change_policy,
        "status": "active"
        if connection.status == Connection.Status.ACTIVE
        else "inactive",
        "configurations": {"streams": streams},
    }


def _namespace(connection: Connection) -> dict[str, Any]:
    """Where the tables go: the server's own setting from the import, unless the
    namespace was changed in the console since (then the console's schema)."""
    kept = RemoteNamespace.objects.filter(connection_id=connection.pk).first()
    if kept is not None and kept.console_namespace == connection.namespace:
        body: dict[str, Any] = {"namespaceDefinition": kept.namespace_definition}
        if kept.namespace_format:
            body["namespaceFormat"] = kept.namespace_format
        return body
    return {
        "namespaceDefinition": "custom_format",
        "namespaceFormat": connection.namespace,
    }


def _connection_read(
    client: AirbyteClient, remote_id: str
) -> tuple[RemoteConnection, str]:
    """The server's connection and its ``statusReason`` (sent from 2.1 on)."""
    data = client.public("GET", f"/connections/{remote_id}")
    reason = str((data or {}).get("statusReason") or "")
    return RemoteConnection.from_api(data), reason


def _respect_server(
    connection: Connection,
    remote_id: str,
    remote: RemoteConnection,
    reason: str,
    body: dict[str, Any],
) -> str:
    """Keep what the server decided: refuse a deleted connection, leave one Airbyte
    turned off as it is. Answers the mark's state ("" when none)."""
    if remote.status == "deprecated":
        # A PATCH with status active would revive what someone deleted.
        raise _deleted(connection, "connection", remote_id)
    if remote.status == "inactive" and body.get("status") == "active":
        # Airbyte (or someone in its UI) turned it off: do not switch it back on.
        del body["status"]
        mark_record(
            obj=connection,
            kind="connection",
            state=RemoteMark.State.DISABLED,
            # Shown under the label "Disabled on the Airbyte server": not said twice.
            reason=disabled_reason(reason),
            remote_id=remote_id,
        )
        return RemoteMark.State.DISABLED
    mark_clear(kind="connection", pk=connection.pk)
    return ""


def connection_push(connection: Connection, *, for_sync: bool = False) -> str:
    """Create or update a connection (and its source and destination) on the server.

    ``for_sync``: the push before a sync, which refuses (``RemoteDisabled``) a
    connection Airbyte turned off instead of re-enabling it."""
    source_id = connector_push(connection.source)
    destination_id = connector_push(connection.destination)
    try:
        remote_id, disabled = _connection_push(connection, source_id, destination_id)
    except RemoteDeleted as exc:
        exc.record()
        raise
    if for_sync and disabled is not None:
        raise RemoteDisabled(disabled)
    return remote_id


def _connection_push(
    connection: Connection, source_id: str, destination_id: str
) -> tuple[str, str | None]:
    """The push; its remote id, and why Airbyte disabled it (None if it did not)."""
    with transaction.atomic():
        connection = (
            Connection.objects.select_for_update()
            .select_related("workspace")
            .get(pk=connection.pk)
        )
        server = server_for(connection.workspace)
        body = connection_body(connection, server.server_version)
        with AirbyteClient.for_server(server) as client:
            remote_id = connection.remote_id
            if remote_id:
                try:
                    remote, reason = _connection_read(client, remote_id)
                    state = _respect_server(connection, remote_id, remote, reason, body)
                    client.connection_update(remote_id, body)
                except AirbyteApiError as exc:
                    if not exc.not_found:
                        raise
                    remote_id = ""
                else:
                    if state == RemoteMark.State.DISABLED:
                        return remote_id, disabled_message(reason)
                    return remote_id, None

            def twin() -> str | None:
                claimed = _claimed(Connection, connection.workspace, connection.pk)
                for item in client.connection_list(server.remote_workspace_id):
                    if (
                        item.id
                        and item.name == connection.name
                        and item.source_id == source_id
                        and item.destination_id == destination_id
                        and item.id not in claimed
                    ):
                        return item.id
                return None

            remote_id = twin() or ""
            if remote_id:
                client.connection_update(remote_id, body)
            else:
                if not body["configurations"]["streams"]:
                    raise EngineError(
                        f"The connection “{connection.name}” has no selected stream: "
                        "choose at least one on its Streams page before it is "
                        "created on the Airbyte server."
                    )
                remote_id = _create_once(
                    twin,
                    lambda: (
                        client.connection_create(
                            body, source_id=source_id, destination_id=destination_id
                        ).id
                    ),
                )
        Connection.objects.filter(pk=connection.pk).update(remote_id=remote_id)
        return remote_id, None


def _create_once(find: Callable[[], str | None], create: Callable[[], str]) -> str:
    """Create an object on the server without ever making a twin (#12 point 7).

    A create that timed out or got a 5xx (``maybe_done``) may have been stored all
    the same: look for it again (``find``, the same twin search that runs before
    a create) and adopt it; only when it is not there is the create sent again,
    up to ``CREATE_TRIES`` times in all.
    """
    for attempt in range(1, CREATE_TRIES + 1):
        try:
            return create()
        except AirbyteTransientError as exc:
            if not exc.maybe_done:
                raise
            found = find()
            if found:
                return found
            if attempt == CREATE_TRIES:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _refuse_masks(obj: Any, kind: str, configuration: Any) -> None:
    """A configuration that still holds Airbyte's secret mask cannot be created on
    a server: the mask would be stored as the secret (an imported object's mask
    means "keep yours" only to the server that has one)."""
    if _holds_mask(configuration):
        raise EngineError(
            f"The {kind} “{obj.name}” still holds a hidden secret ({MASK}) where "
            "a value is needed: enter its secrets again on its edit page before it "
            "is created on the Airbyte server."
        )


def _holds_mask(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_holds_mask(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_mask(item) for item in value)
    return value == MASK


def remote_delete(*, server_id: int, kind: str, remote_id: str) -> None:
    """Delete an object on the server; one already gone is fine."""
    server = AirbyteServer.objects.get(pk=server_id)
    with AirbyteClient.for_server(server) as client:
        try:
            client.object_delete(kind, remote_id)
        except AirbyteApiError as exc:
            if not exc.not_found:
                raise


@transaction.atomic
def remote_recreate(*, actor: Any, obj: Any) -> Any:
    """Forget the deleted copy on the server and push the object again, as new.

    The user asked for it on the object's page after the server deleted it. For a
    connection, a deleted source or destination is re-created with it; the push
    itself runs after the commit, like every push."""
    from apps.airbyte.hooks import push_after_commit
    from apps.audit.services import audit_record

    kind = obj._meta.model_name
    related = [
        item
        for item in (
            [obj, obj.source, obj.destination] if kind == "connection" else [obj]
        )
        if _deleted_in_airbyte(item)
    ]
    if not related:
        raise EngineError(
            f"This {kind} was not deleted in Airbyte: there is nothing to re-create."
        )
    if kind == "connection" and obj not in related:
        # Airbyte deleted the connection with its source or destination.
        related.insert(0, obj)
    remote_id = obj.remote_id
    for item in related:
        item_kind = item._meta.model_name
        type(item).objects.filter(pk=item.pk).update(remote_id="")
        mark_clear(kind=item_kind, pk=item.pk)
        if item_kind == "connection":
            RemoteNamespace.objects.filter(connection_id=item.pk).delete()
    audit_record(
        actor=actor,
        action=f"{kind}.airbyte_recreated",
        workspace=obj.workspace,
        target=obj,
        changes={"remote_id": [remote_id or None, None]},
    )
    obj.refresh_from_db()
    push_after_commit(obj)
    return obj


def _deleted_in_airbyte(obj: Any) -> bool:
    mark = mark_for(obj)
    return mark is not None and mark.state == RemoteMark.State.DELETED
