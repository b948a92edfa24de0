"""A workspace as a document: what ``airbyte workspace export`` writes.

:func:`workspace_state` reads everything a workspace file describes and returns
its canonical document together with what the plan needs and the file must not
hold: the secret values behind each reference (to tell whether an import
changes one) and the rows themselves. Only :func:`workspace_export` leaves this
module with text, and that text has references where secrets are.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Model, Prefetch
from django.utils.crypto import salted_hmac

from apps.api.workspace_code.document import (
    Ref,
    dump,
    env_name,
    normalise,
)
from apps.connections.models import Connection, ConnectionStream
from apps.connectors.models import Destination, Source
from apps.connectors.selectors import stored_secrets
from apps.connectors.spec.config import merge_config
from apps.connectors.spec.pointers import from_pointer, to_pointer
from apps.credentials.models import Credential
from apps.credentials.types import type_spec
from apps.transforms.models import DbtProject, TransformTrigger
from apps.webhooks.models import WebhookEndpoint
from apps.workspaces.models import Membership, Workspace

# How a secret compares, never shown: ("typed", value) or ("credential", name).
SecretToken = tuple[str, str]


@dataclass
class WorkspaceState:
    """A workspace as the file sees it, plus what the file must not hold."""

    document: dict[str, Any]
    # (kind, key) -> {JSON pointer: token} for credentials, sources, destinations.
    secrets: dict[tuple[str, str], dict[str, SecretToken]] = field(default_factory=dict)
    # key -> the endpoint's real URL (the file may hold a reference instead).
    webhook_urls: dict[str, str] = field(default_factory=dict)
    # (kind, key) -> the row.
    objects: dict[tuple[str, str], Model] = field(default_factory=dict)
    # Variable names handed out so far: "PG-warehouse" and "PG warehouse" would
    # both make SOURCE_PG_WAREHOUSE_PASSWORD; the second gets a _2.
    env_names: set[str] = field(default_factory=set)

    def env_ref(self, *parts: str) -> str:
        """A fresh ``${env:NAME}`` for the secret at ``parts``."""
        base = env_name(*parts)
        name, number = base, 2
        while name in self.env_names:
            name, number = f"{base}_{number}", number + 1
        self.env_names.add(name)
        return str(Ref("env", name))

    @property
    def digest(self) -> str:
        """A keyed fingerprint of the whole state, secrets included.

        A page shows a plan, and applies it only while the workspace still has
        this digest; keyed, so it tells nothing about the secrets in it.
        """
        text = json.dumps(
            [
                self.document,
                sorted((list(k), sorted(v.items())) for k, v in self.secrets.items()),
                sorted(self.webhook_urls.items()),
            ],
            sort_keys=True,
            default=str,
        )
        digest = hashlib.sha256(text.encode()).hexdigest()
        return salted_hmac("apps.api.workspace_code", digest).hexdigest()


def _url_is_secret(url: str) -> bool:
    # Like WebhookEndpoint.url_display: a path, a query or a login in the URL may
    # carry a token (Slack's do), so only a bare scheme://host/ is written out.
    rest = url.partition("://")[2]
    host, _, path = rest.partition("/")
    return bool(path) or "@" in host or "?" in rest


def _connector_item(
    state: WorkspaceState,
    kind: str,
    obj: Source | Destination,
    credentials: dict[str, str],
    tokens: dict[str, SecretToken],
) -> dict[str, Any]:
    singular = kind[:-1]
    placeholders: dict[str, str] = {}
    for pointer, value in sorted(stored_secrets(obj).items()):
        path = from_pointer(pointer)
        placeholders[pointer] = state.env_ref(singular, obj.name, *path)
        tokens[pointer] = ("typed", json.dumps(value, sort_keys=True))
    for pointer, credential_id in (obj.credential_refs or {}).items():
        name = credentials.get(str(credential_id), str(credential_id))
        placeholders[pointer] = str(Ref("credential", name))
        tokens[pointer] = ("credential", name.casefold())
    item: dict[str, Any] = {
        "name": obj.name,
        "connector": {
            "name": obj.definition.name,
            "definition_id": str(obj.definition.definition_id),
        },
        "config": merge_config(obj.config or {}, placeholders),
    }
    if isinstance(obj, Source) and obj.catalog:
        item["catalog"] = obj.catalog
    return item


def _credential_item(
    state: WorkspaceState, credential: Credential, tokens: dict[str, SecretToken]
) -> dict[str, Any]:
    spec = type_spec(credential.type)
    fields: dict[str, Any] = {}
    for name, value in sorted(credential.get_payload().items()):
        if spec.is_secret(name):
            fields[name] = state.env_ref("credential", credential.name, name)
            tokens[to_pointer((name,))] = ("typed", json.dumps(value, sort_keys=True))
        else:
            fields[name] = value
    return {
        "name": credential.name,
        "type": credential.type,
        "allowed_hosts": list(credential.allowed_hosts or []),
        "fields": fields,
    }


def _stream_item(stream: ConnectionStream) -> dict[str, Any]:
    return {
        "name": stream.name,
        "namespace": stream.namespace,
        "selected": stream.selected,
        "sync_mode": stream.sync_mode,
        "destination_sync_mode": stream.destination_sync_mode,
        "cursor_field": list(stream.cursor_field or []),
        "primary_key": [list(p) for p in stream.primary_key or []],
        "selected_fields": list(stream.selected_fields or []),
    }


def _schedule_item(connection: Connection) -> dict[str, Any] | None:
    schedule = getattr(connection, "schedule", None)
    if schedule is None:
        return None
    return {
        "name": schedule.name,
        "kind": schedule.kind,
        "interval_minutes": schedule.interval_minutes,
        "cron_expression": schedule.cron_expression,
        "timezone": schedule.timezone,
        "paused": schedule.paused,
    }


def _connection_item(connection: Connection) -> dict[str, Any]:
    return {
        "name": connection.name,
        "source": connection.source.name,
        "destination": connection.destination.name,
        "status": connection.status,
        "namespace": connection.namespace,
        "table_prefix": connection.table_prefix,
        "schema_change_policy": connection.schema_change_policy,
        "streams": [_stream_item(s) for s in connection.streams.all()],
        "schedule": _schedule_item(connection),
    }


def _transform_item(project: DbtProject) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": project.name,
        "kind": project.kind,
        "destination": project.destination.name if project.destination else None,
    }
    if project.kind == DbtProject.Kind.GENERATED:
        item["connection"] = project.connection.name if project.connection else None
    if project.kind == DbtProject.Kind.GIT:
        item["git_url"] = project.git_url
        item["git_branch"] = project.git_branch
        item["git_credential"] = (
            project.git_credential.name if project.git_credential else None
        )
    if project.cron_expression:
        item["schedule"] = {
            "cron_expression": project.cron_expression,
            "timezone": project.schedule_timezone,
            "selector": project.schedule_selector,
        }
    item["triggers"] = [
        {
            "connection": t.connection.name,
            "command": t.command,
            "selector": t.selector,
            "enabled": t.enabled,
        }
        for t in project.triggers.all()
    ]
    return item


def workspace_state(workspace: Workspace) -> WorkspaceState:
    """Everything a workspace file describes, read in a fixed number of queries."""
    state = WorkspaceState(document={})
    raw: dict[str, Any] = {"version": 1}
    raw["credentials"] = []
    credentials: dict[str, str] = {}
    for credential in Credential.objects.for_workspace(workspace):
        key = credential.name.casefold()
        credentials[str(credential.public_id)] = credential.name
        tokens: dict[str, SecretToken] = {}
        raw["credentials"].append(_credential_item(state, credential, tokens))
        state.secrets["credentials", key] = tokens
        state.objects["credentials", key] = credential
    for kind, model in (("sources", Source), ("destinations", Destination)):
        items = []
        for obj in model.objects.for_workspace(workspace).select_related("definition"):
            tokens: dict[str, SecretToken] = {}
            items.append(_connector_item(state, kind, obj, credentials, tokens))
            key = obj.name.casefold()
            state.secrets[kind, key] = tokens
            state.objects[kind, key] = obj
        raw[kind] = items
    connections = (
        Connection.objects.for_workspace(workspace)
        .select_related("source", "destination", "schedule")
        .prefetch_related(
            Prefetch("streams", queryset=ConnectionStream.objects.order_by("pk"))
        )
    )
    raw["connections"] = []
    for connection in connections:
        raw["connections"].append(_connection_item(connection))
        state.objects["connections", connection.name.casefold()] = connection
    raw["webhooks"] = []
    for endpoint in WebhookEndpoint.objects.for_workspace(workspace):
        key = endpoint.name.casefold()
        url = endpoint.url
        if _url_is_secret(url):
            url = state.env_ref("webhook", endpoint.name, "url")
        raw["webhooks"].append(
            {
                "name": endpoint.name,
                "url": url,
                "events": list(endpoint.events),
                "format": endpoint.format,
                "enabled": endpoint.enabled,
            }
        )
        state.webhook_urls[key] = endpoint.url
        state.objects["webhooks", key] = endpoint
    projects = (
        DbtProject.objects.for_workspace(workspace)
        .select_related("destination", "connection", "git_credential")
        .prefetch_related(
            Prefetch(
                "triggers",
                queryset=TransformTrigger.objects.select_related("connection"),
            )
        )
    )
    raw["transforms"] = []
    for project in projects:
        raw["transforms"].append(_transform_item(project))
        state.objects["transforms", project.name.casefold()] = project
    raw["members"] = []
    for membership in Membership.objects.filter(workspace=workspace).select_related(
        "user"
    ):
        raw["members"].append({"email": membership.user.email, "role": membership.role})
        state.objects["members", membership.user.email.casefold()] = membership
    state.document = normalise(raw)
    return state


def workspace_export(workspace: Workspace, *, format: str = "yaml") -> str:
    """The workspace file: YAML (or JSON), references where secrets are."""
    document = workspace_state(workspace).document
    if format == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return dump(document)
