"""`airbyte content list|add|update|get|remove` for sources and destinations.

A config file for `content add` looks like::

    {"name": "Faker", "connector": "Sample Data (Faker)",
     "config": {"count": 1000, "seed": 1}}

``connector`` is a catalog name or definition id. Secrets go in ``config`` like any
other field; they are stored encrypted and never printed. A config that fails the
connector's spec gets one line per problem, each with its JSON path.

`content list` and `content add` also serve types that apps above this one own
(connections): they register their ``--type`` with :func:`content_type`, so this
module imports none of them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.http import Http404

from apps.connectors import selectors, services
from apps.connectors.builder.selectors import visible_definitions
from apps.connectors.models import ConnectorDefinition, Destination, Source
from apps.connectors.spec.config import mask_config
from apps.core.clikit import CliResult, arg, group, table
from apps.core.roles import Role
from apps.engines.base import EngineError
from apps.workspaces.cli import AS_USER, WORKSPACE, cli_membership
from apps.workspaces.models import Workspace

content = group("content", "Sources, destinations and connections from scripts.")

KINDS = {
    "source": "source",
    "sources": "source",
    "destination": "destination",
    "destinations": "destination",
}

Handler = Callable[[dict[str, Any]], CliResult]

# The --type choices of `content list` and `content add`. argparse keeps these very
# lists, so a type registered before the command builds its parser is offered too.
LIST_TYPES: list[str] = sorted(KINDS)
ADD_TYPES: list[str] = ["source", "destination"]
_OTHER_TYPES: dict[tuple[str, str], Handler] = {}


def content_type(action: str, name: str) -> Callable[[Handler], Handler]:
    """Serve ``content list|add --type <name>`` with another app's handler."""
    choices = {"list": LIST_TYPES, "add": ADD_TYPES}[action]

    def register(handler: Handler) -> Handler:
        if name not in choices:
            choices.append(name)
        _OTHER_TYPES[action, name] = handler
        return handler

    return register


def read_json_file(path: str) -> Any:
    """A JSON document from a file, or from stdin for ``-``."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{path} is not valid JSON: {exc}.") from None


def _row(obj: Source | Destination) -> dict[str, Any]:
    return {
        "id": str(obj.public_id),
        "type": obj._meta.model_name,
        "name": obj.name,
        "connector": obj.definition.name,
        "last_check": obj.last_check_status or "",
    }


def _definition(kind: str, wanted: str, workspace: Workspace) -> ConnectorDefinition:
    """The connector ``wanted`` names (id, name or package) that ``workspace`` sees.

    Connectors another workspace built in its connector builder are its own: a
    name shared with one of them must never pick it.
    """
    candidates = visible_definitions(
        ConnectorDefinition.objects.filter(kind=kind).order_by("name", "pk"),
        workspace=workspace,
    )
    try:
        found = candidates.filter(definition_id=UUID(wanted)).first()
    except ValueError:
        found = (
            candidates.filter(name__iexact=wanted).first()
            or candidates.filter(pypi_package__iexact=wanted).first()
        )
    if found is None:
        raise CommandError(
            f"No {kind} connector {wanted!r} in the catalog: "
            "`airbyte connectors list` shows them."
        )
    return found


@content.action(
    "list",
    "List sources or destinations (connections: `--type connections`).",
    arg("--type", required=True, choices=LIST_TYPES),
    WORKSPACE,
    AS_USER,
)
def content_list(options: dict[str, Any]) -> CliResult:
    other = _OTHER_TYPES.get(("list", options["type"]))
    if other is not None:
        return other(options)
    membership = cli_membership(options, Role.VIEWER)
    kind = KINDS[options["type"]]
    rows = [
        _row(o)
        for o in selectors.connector_list(workspace=membership.workspace, kind=kind)
    ]
    return CliResult(
        data=rows, text=table(rows, ["name", "connector", "last_check", "id"])
    )


@content.action(
    "add",
    "Add a source, destination or connection from a JSON config file.",
    arg("--type", required=True, choices=ADD_TYPES),
    arg("--config", required=True, metavar="FILE", help="JSON file, or - for stdin."),
    WORKSPACE,
    AS_USER,
)
def content_add(options: dict[str, Any]) -> CliResult:
    other = _OTHER_TYPES.get(("add", options["type"]))
    if other is not None:
        return other(options)
    membership = cli_membership(options, Role.EDITOR)
    kind = options["type"]
    document = read_json_file(options["config"])
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise CommandError(
            'The file needs {"name": ..., "connector": ..., "config": {...}}.'
        )
    definition = _definition(
        kind, str(document.get("connector") or ""), membership.workspace
    )
    try:
        config, secrets = services.validate_config(
            definition, document["config"], workspace=membership.workspace
        )
        obj = services.connector_create(
            actor=membership.user,
            workspace=membership.workspace,
            kind=kind,
            name=str(document.get("name") or definition.name),
            definition=definition,
            config=config,
            secrets=secrets,
        )
    except EngineError as exc:
        raise CommandError(exc.message) from None
    except ValidationError as exc:
        raise CommandError(
            "The config is not valid:\n" + "\n".join(exc.messages)
        ) from None
    return CliResult(
        data=_row(obj), text=f"Created {kind} {obj.name} ({obj.public_id})."
    )


def _find(membership, wanted: str) -> Source | Destination:
    for kind in ("source", "destination"):
        try:
            return selectors.connector_get(
                workspace=membership.workspace, kind=kind, public_id=UUID(wanted)
            )
        except (Http404, ValueError):
            continue
    raise CommandError(f"No source or destination with id {wanted} in this workspace.")


def _config_errors_text(exc: ValidationError) -> str:
    """One line per problem, each with the JSON path it is about."""
    if not hasattr(exc, "error_dict"):
        return "\n".join(exc.messages)
    return "\n".join(
        f"{key}: {message}" if str(key).startswith("/") else message
        for key, errors in exc.error_dict.items()
        for message in ValidationError(errors).messages
    )


@content.action(
    "update",
    "Change a source or destination from a JSON file like `content add` takes "
    '({"name": ..., "config": {...}}). A secret given as ********** keeps its '
    "stored value, but only while the host, port, URL and the like stay the same: "
    "give the secret again to send it somewhere new.",
    arg("--id", required=True, dest="id"),
    arg("--config", required=True, metavar="FILE", help="JSON file, or - for stdin."),
    WORKSPACE,
    AS_USER,
)
def content_update(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.EDITOR)
    obj = _find(membership, options["id"])
    document = read_json_file(options["config"])
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise CommandError('The file needs {"config": {...}}, and may give "name".')
    try:
        config, secrets = services.validate_config(
            obj.definition, document["config"], workspace=membership.workspace
        )
        obj = services.connector_update(
            actor=membership.user,
            obj=obj,
            name=str(document["name"]) if document.get("name") else None,
            config=config,
            secrets=secrets,
        )
    except EngineError as exc:
        raise CommandError(exc.message) from None
    except ValidationError as exc:
        raise CommandError(
            "The config was not saved:\n" + _config_errors_text(exc)
        ) from None
    kind = obj._meta.model_name
    return CliResult(
        data=_row(obj), text=f"Updated {kind} {obj.name} ({obj.public_id})."
    )


@content.action(
    "get",
    "Show a source or destination (secrets masked).",
    arg("--id", required=True, dest="id"),
    WORKSPACE,
    AS_USER,
)
def content_get(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.VIEWER)
    obj = _find(membership, options["id"])
    try:
        schema = selectors.connector_spec_schema(
            obj.definition, obj.config, workspace=obj.workspace
        )
        shown = mask_config(obj.config or {}, schema)
    except EngineError:
        shown = obj.config or {}
    secrets = sorted(selectors.stored_secrets(obj)) + sorted(obj.credential_refs or {})
    data = {**_row(obj), "config": shown, "secrets_set": secrets}
    lines = [
        f"{obj._meta.model_name} {obj.name} ({obj.public_id})",
        f"connector: {obj.definition.name}",
        "config: " + json.dumps(shown, sort_keys=True),
    ]
    if secrets:
        lines.append("secrets: " + ", ".join(secrets) + " (stored, not shown)")
    return CliResult(data=data, text="\n".join(lines))


@content.action(
    "remove",
    "Delete a source or destination (refused while a connection uses it).",
    arg("--id", required=True, dest="id"),
    WORKSPACE,
    AS_USER,
)
def content_remove(options: dict[str, Any]) -> CliResult:
    membership = cli_membership(options, Role.EDITOR)
    obj = _find(membership, options["id"])
    try:
        services.connector_delete(actor=membership.user, obj=obj)
    except ValidationError as exc:
        raise CommandError(" ".join(exc.messages)) from None
    return CliResult(
        data={"id": options["id"], "removed": True}, text=f"Removed {obj.name}."
    )
