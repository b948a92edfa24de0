"""What the console's services call so an Airbyte server follows their changes.

Each hook is a no-op for a workspace on the embedded engine. Pushes run after the
change commits, in a task (the server can be slow, and down); a push that fails
for good says why where the user looks: on the connection's status line, or as
the source's or destination's last check.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from apps.airbyte.client import AirbyteApiError, AirbyteTransientError
from apps.engines.base import EngineError

logger = logging.getLogger(__name__)

AIRBYTE = "airbyte"


def _on_airbyte(obj: Any) -> bool:
    return obj.workspace.engine == AIRBYTE


def push_after_commit(obj: Any) -> None:
    """Create or update ``obj`` (source, destination, connection) on the server."""
    if not _on_airbyte(obj):
        return
    kind, pk = obj._meta.model_name, obj.pk

    def send() -> None:
        from apps.airbyte.tasks import airbyte_push_task

        try:
            airbyte_push_task.apply_async(args=[kind, pk], retry=False)
        except Exception:  # broker down: the next sync pushes it before it starts
            logger.warning("Could not queue the push of %s %s", kind, pk, exc_info=True)

    transaction.on_commit(send)


def delete_after_commit(obj: Any) -> None:
    """Delete ``obj``'s twin on the server once the console's row is gone."""
    if not _on_airbyte(obj) or not obj.remote_id:
        return
    from apps.airbyte.models import AirbyteServer

    server = AirbyteServer.objects.filter(workspace=obj.workspace).first()
    if server is None:
        return
    args = [server.pk, obj._meta.model_name, obj.remote_id]

    def send() -> None:
        from apps.airbyte.tasks import airbyte_delete_task

        try:
            airbyte_delete_task.apply_async(args=args, retry=False)
        except Exception:
            logger.warning("Could not queue the remote delete %s", args, exc_info=True)

    transaction.on_commit(send)


def push_now(*, kind: str, pk: int) -> str | None:
    """Push one object now (the task's body); records a permanent failure."""
    from apps.airbyte.mirror import (
        KINDS,
        RemoteDeleted,
        connection_push,
        connector_push,
    )

    obj = KINDS[kind].objects.select_related("workspace").filter(pk=pk).first()
    if obj is None or not _on_airbyte(obj):
        return None
    try:
        if kind == "connection":
            return connection_push(obj)
        return connector_push(obj)
    except AirbyteTransientError:
        raise
    except RemoteDeleted:
        return None  # deleted in Airbyte: the object's page says so (RemoteMark)
    except AirbyteApiError as exc:
        push_failed_record(obj=obj, message=exc.message)
        return None
    except EngineError as exc:  # the console refused before sending anything
        push_failed_record(obj=obj, message=exc.message, sent=False)
        return None


@transaction.atomic
def push_failed_record(*, obj: Any, message: str, sent: bool = True) -> None:
    """Show the user why a change did not reach the server (and audit it).

    ``sent`` says whether the server refused it or the console never sent it (a
    mask still in the config, no selected stream, a mode the server lacks).
    """
    from apps.audit.services import audit_record

    lead = (
        "The Airbyte server refused this change"
        if sent
        else "This change was not sent to the Airbyte server"
    )
    text = f"{lead}: {message}"[:5000]
    model = type(obj)
    if obj._meta.model_name == "connection":
        model.objects.filter(pk=obj.pk).update(status_reason=text[:500])
    else:
        model.objects.filter(pk=obj.pk).update(
            last_check_status="failed", last_check_message=text
        )
    audit_record(
        actor=None,
        actor_label="worker",
        action=f"{obj._meta.model_name}.airbyte_push_failed",
        workspace=obj.workspace,
        target=obj,
        changes={"message": [None, message]},
        outcome="failure",
    )
