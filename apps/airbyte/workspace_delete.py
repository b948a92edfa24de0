"""A deleted workspace's objects on its Airbyte server, deleted when asked.

The admin who deletes a workspace on the airbyte engine chooses whether its
sources, destinations and connections go on the server too. The console's rows,
the server's address and its secrets are gone once the delete commits, so the
receiver notes what the worker needs inside the deleting transaction (the
secrets encrypted with the console's keys, as they were in the database) and
queues the task after the commit. Nothing is sent when the delete rolls back.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from celery import shared_task
from django.db import transaction

from apps.airbyte.client import AirbyteApiError, AirbyteClient, AirbyteTransientError
from apps.airbyte.models import AirbyteServer
from apps.connections.models import Connection
from apps.connectors.models import Destination, Source
from apps.credentials.encryption import multi_fernet

logger = logging.getLogger(__name__)

# Connections first: a server refuses to delete a source a connection still uses.
_KINDS = (("connection", Connection), ("source", Source), ("destination", Destination))
_RETRY_WAITS = (10, 30, 90, 270, 810)


def remote_objects(workspace: Any) -> list[list[str]]:
    """``[kind, remote id]`` of the workspace's objects that exist on the server."""
    return [
        [kind, remote_id]
        for kind, model in _KINDS
        for remote_id in model.objects.filter(workspace=workspace)
        .exclude(remote_id="")
        .values_list("remote_id", flat=True)
    ]


def server_snapshot(server: AirbyteServer) -> dict[str, Any]:
    """How to reach the server without its row; the secrets stay encrypted."""
    secrets = json.dumps(
        {"client_secret": server.client_secret, "password": server.password}
    )
    return {
        "url": server.url,
        "auth": "none" if server.server_auth_mode == "none" else server.auth,
        "configured_auth": server.auth,
        "client_id": server.client_id,
        "username": server.username,
        "secrets": multi_fernet().encrypt(secrets.encode()).decode(),
    }


def workspace_deleting(
    sender: Any, workspace: Any, delete_on_server: bool = False, **kwargs: Any
) -> None:
    """Receiver of ``apps.workspaces.signals.workspace_deleting``."""
    if not delete_on_server or workspace.engine != "airbyte":
        return
    server = AirbyteServer.objects.filter(workspace=workspace).first()
    objects = remote_objects(workspace)
    if server is None or not objects:
        return
    args = [server_snapshot(server), objects]

    def send() -> None:
        try:
            airbyte_workspace_objects_delete_task.apply_async(args=args, retry=False)
        except Exception:
            logger.warning(
                "Could not queue the server-side delete of %d objects of a deleted "
                "workspace on %s",
                len(objects),
                server.url,
                exc_info=True,
            )

    transaction.on_commit(send)


def workspace_objects_delete(
    *, server: dict[str, Any], objects: list[list[str]]
) -> int:
    """Delete the objects on the server; one already gone is fine. How many went.

    A refusal is logged and the rest still go; a server that cannot be reached
    raises ``AirbyteTransientError`` so the task tries again (every object again:
    the ones already deleted answer 404).
    """
    secrets = json.loads(multi_fernet().decrypt(server["secrets"].encode()))
    deleted = 0
    with AirbyteClient(
        server["url"],
        auth=server["auth"],
        configured_auth=server["configured_auth"],
        client_id=server["client_id"],
        client_secret=secrets["client_secret"],
        username=server["username"],
        password=secrets["password"],
    ) as client:
        for kind, remote_id in objects:
            try:
                client.object_delete(kind, remote_id)
            except AirbyteApiError as exc:
                if not exc.not_found:
                    logger.warning(
                        "The server refused to delete %s %s: %s", kind, remote_id, exc
                    )
                continue
            deleted += 1
    return deleted


@shared_task(
    name="airbyte.workspace_objects_delete",
    bind=True,
    ignore_result=True,
    max_retries=len(_RETRY_WAITS),
    time_limit=1800,
    soft_time_limit=1770,
)
def airbyte_workspace_objects_delete_task(
    self: Any, server: dict[str, Any], objects: list[list[str]]
) -> None:
    """Delete a deleted workspace's objects on its server."""
    try:
        workspace_objects_delete(server=server, objects=objects)
    except AirbyteTransientError as exc:
        wait = _RETRY_WAITS[min(self.request.retries, len(_RETRY_WAITS) - 1)]
        raise self.retry(exc=exc, countdown=wait) from None
