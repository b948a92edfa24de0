"""Public API: a source's streams (``GET /api/public/v1/streams``).

The answer is the source's discovered catalog as ``StreamPropertiesResponse`` (a
bare array). The catalog cached by the last discover is used when there is one;
with none, or with ``ignoreCache=true``, a worker discovers it while the call
waits (``apps.api.waiting``), which needs the editor role, as "Refresh schema"
does on the pages. A failed discover is a 400 carrying the connector's message.

``syncModes`` is given only with ``destinationId``, as in Airbyte: the modes the
stream and that destination both support, among the ones the console's
connections can run, in the Public API's words.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from apps.api.access import principal, scoped_get
from apps.api.problems import bad_request, forbidden
from apps.api.public.connections import SYNC_MODES
from apps.api.public.schemas_connectors import StreamProperties
from apps.api.waiting import wait_for_discover
from apps.connections.catalog import ALLOWED_MODES
from apps.connectors.models import Destination, Source
from apps.core.roles import Role
from apps.engines.base import EngineError
from apps.engines.registry import get_engine

router = Router(tags=["Streams"])

# (source sync mode, destination sync mode) -> the Public API's one word, for the
# pairs the console's connections run.
PUBLIC_SYNC_MODES: dict[tuple[str, str], str] = {
    pair: word for word, pair in SYNC_MODES.items()
}


def _destination_modes(destination: Destination) -> set[str] | None:
    """The destination modes its connector supports; None when it does not say."""
    try:
        spec = get_engine(destination.workspace).spec(destination.connector_ref)
    except EngineError as exc:
        raise bad_request(
            f"The console cannot read the spec of {destination.definition.name}: "
            f"{exc.message}"
        ) from None
    return set(spec.supported_destination_sync_modes) or None


def sync_modes(stream: dict[str, Any], destination_modes: set[str] | None) -> list[str]:
    """The Public API sync modes a stream offers toward a destination."""
    offered = set(stream.get("supported_sync_modes") or ["full_refresh"])
    return [
        word
        for (source_mode, destination_mode), word in PUBLIC_SYNC_MODES.items()
        if source_mode in offered
        and destination_mode in ALLOWED_MODES.get(source_mode, ())
        and (destination_modes is None or destination_mode in destination_modes)
    ]


def stream_properties(
    stream: dict[str, Any], destination_modes: set[str] | None, with_modes: bool
) -> dict[str, Any]:
    """One catalog stream (the Airbyte protocol's shape) as ``StreamProperties``."""
    properties = (stream.get("json_schema") or {}).get("properties") or {}
    item: dict[str, Any] = {
        "streamName": stream["name"],
        "defaultCursorField": list(stream.get("default_cursor_field") or []),
        "sourceDefinedCursorField": bool(stream.get("source_defined_cursor")),
        "sourceDefinedPrimaryKey": [
            list(key) for key in stream.get("source_defined_primary_key") or []
        ],
        "propertyFields": [[name] for name in properties],
    }
    if stream.get("namespace"):
        item["streamnamespace"] = stream["namespace"]
    if with_modes:
        item["syncModes"] = sync_modes(stream, destination_modes)
    return item


@router.get(
    "streams",
    response=list[StreamProperties],
    operation_id="getStreamProperties",
    summary="Get stream properties",
    exclude_unset=True,
)
def get_stream_properties(
    request: HttpRequest,
    sourceId: str,
    destinationId: str | None = None,
    ignoreCache: bool = False,
) -> list[dict[str, Any]]:
    """The source's streams, discovered now when asked or when none are cached."""
    source, membership = scoped_get(
        request,
        Source.objects.select_related("definition", "workspace"),
        sourceId,
        resource_type="source",
    )
    destination_modes: set[str] | None = None
    if destinationId:
        destination, _ = scoped_get(
            request,
            Destination.objects.select_related("definition", "workspace"),
            destinationId,
            resource_type="destination",
        )
        destination_modes = _destination_modes(destination)
    if ignoreCache or source.catalog is None:
        if not membership.allows(Role.EDITOR):
            raise forbidden(
                f"Discovering the streams of {source.name} needs the editor role"
                + (
                    "; ask without ignoreCache for the streams found last time."
                    if source.catalog is not None
                    else ", and they have not been discovered yet."
                )
            )
        source = wait_for_discover(actor=principal(request).user, source=source)
    streams = (source.catalog or {}).get("streams") or []
    return [
        stream_properties(s, destination_modes, with_modes=bool(destinationId))
        for s in streams
    ]
