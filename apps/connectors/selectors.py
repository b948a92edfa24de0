"""Reading sources and destinations, and rebuilding the config a connector needs."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from apps.connectors.builder.selectors import visible_definitions
from apps.connectors.models import (
    ConnectorConfig,
    ConnectorDefinition,
    Destination,
    Source,
)
from apps.connectors.spec.config import config_hosts, merge_config
from apps.connectors.spec.pointers import from_pointer
from apps.engines.base import ConnectorRef
from apps.engines.registry import engine_names, get_engine
from apps.workspaces.models import Workspace

MODELS: dict[str, type[Source] | type[Destination]] = {
    "source": Source,
    "destination": Destination,
}

# Which payload field of a credential fills a secret when the names do not match.
_PRIMARY_SECRET = {
    "api_key": "api_key",
    "basic_auth": "password",
    "database": "password",
    "oauth2": "client_secret",
}


def connector_list(
    *, workspace: Workspace, kind: str, search: str = ""
) -> QuerySet[Source] | QuerySet[Destination]:
    """A workspace's sources or destinations, with their definition and usage count."""
    rows = (
        MODELS[kind]
        .objects.for_workspace(workspace)
        .select_related("definition")
        .annotate(connection_count=Count("connections", distinct=True))
        .order_by("name")
    )
    if search:
        rows = rows.filter(
            Q(name__icontains=search) | Q(definition__name__icontains=search)
        )
    return rows


def connector_get(
    *, workspace: Workspace, kind: str, public_id: UUID
) -> ConnectorConfig:
    """One source or destination of the workspace; 404 otherwise."""
    found = (
        MODELS[kind]
        .objects.for_workspace(workspace)
        .select_related("definition", "workspace")
        .filter(public_id=public_id)
        .first()
    )
    if found is None:
        raise Http404(f"No such {kind}.")
    return found


def definition_choices(
    *, kind: str, workspace: Workspace | None = None
) -> QuerySet[ConnectorDefinition]:
    """Connectors of a kind the workspace's engine can run, for the "new" picker.

    On the airbyte engine these are the definitions its server offers (refreshed
    with each test of the server); on the embedded one, the console's catalog.
    """
    # Connectors another workspace built in its connector builder are its own.
    definitions = visible_definitions(
        ConnectorDefinition.objects.filter(kind=kind).order_by("name"),
        workspace=workspace,
    )
    engine = get_engine(workspace)
    offered = engine.offered_definition_ids()
    if offered is not None:
        return definitions.filter(definition_id__in=offered)
    # The console's catalog, less what only another engine runs.
    for other in engine_names():
        if other != engine.name:
            definitions = definitions.exclude(engines=[other])
    if kind == "destination":
        # A row's ``engines`` is as old as its last registry merge; the engine is
        # asked again so a destination it cannot write (a PyPI or Docker one on
        # the embedded engine, whose syncs write only its own destinations) is
        # never offered only to fail at the first sync.
        cannot = [
            d.pk
            for d in definitions.only(
                "pk", "pypi_package", "builtin", "docker_repository", "manifest_only"
            )
            if not engine.runs_catalog_entry(
                kind=kind,
                package=d.pypi_package,
                builtin=d.builtin,
                docker_repository=d.docker_repository,
                manifest_only=d.manifest_only,
            )
        ]
        definitions = definitions.exclude(pk__in=cannot)
    return definitions


def stored_secrets(obj: ConnectorConfig) -> dict[str, str]:
    """The decrypted ``{json_pointer: value}`` secrets of a source or destination."""
    if not obj.secrets:
        return {}
    try:
        data = json.loads(obj.secrets)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _credential_value(credential: Any, pointer: str) -> Any:
    from apps.credentials.selectors import credential_payload

    payload = credential_payload(credential=credential)
    name = from_pointer(pointer)[-1] if pointer else ""
    if name in payload:
        return payload[name]
    primary = _PRIMARY_SECRET.get(credential.type)
    if primary and primary in payload:
        return payload[primary]
    values = list(payload.values())
    return values[0] if len(values) == 1 else None


def connector_full_config(obj: ConnectorConfig) -> dict[str, Any]:
    """The whole config the connector runs with: settings, secrets and credentials.

    This is the only place secrets are put back together; callers hand the result
    to a connector through a 0600 temp file and never store or show it. A
    credential is put only into a config whose hosts it may be sent to (the save
    checks that too; this holds if its allowed hosts shrank since): otherwise an
    EngineError, which a check or sync reports as its failure.
    """
    secrets = connector_secrets(obj)
    _refuse_credentials_elsewhere(obj)
    return merge_config(obj.config or {}, secrets)


def _refuse_credentials_elsewhere(obj: ConnectorConfig) -> None:
    from apps.credentials.hosts import refusal
    from apps.credentials.models import Credential
    from apps.engines.base import EngineError

    refs = obj.credential_refs or {}
    if not refs:
        return
    try:
        schema = connector_spec_schema(
            obj.definition, obj.config, workspace=obj.workspace
        )
    except (EngineError, ValueError):
        schema = {}
    found = config_hosts(obj.config or {}, schema)
    for credential in Credential.objects.filter(
        workspace_id=obj.workspace_id, public_id__in=list(refs.values())
    ).only("name", "allowed_hosts"):
        problem = refusal(credential.name, credential.allowed_hosts or [], found)
        if problem:
            raise EngineError(problem)


def connector_secrets(obj: ConnectorConfig) -> dict[str, Any]:
    """``{json_pointer: value}`` of every secret: typed ones and credentials'."""
    secrets = dict(stored_secrets(obj))
    refs = obj.credential_refs or {}
    if refs:
        from apps.credentials.models import Credential

        credentials = {
            str(c.public_id): c
            for c in Credential.objects.filter(
                workspace_id=obj.workspace_id, public_id__in=list(refs.values())
            )
        }
        for pointer, credential_id in refs.items():
            credential = credentials.get(str(credential_id))
            if credential is not None:
                value = _credential_value(credential, pointer)
                if value is not None:
                    secrets[pointer] = value
    return secrets


def connections_using(obj: ConnectorConfig) -> list[Any]:
    """The connections that use a source or destination, by name."""
    return list(obj.connections.order_by("name"))


def connector_spec_schema(
    definition: ConnectorDefinition,
    config: dict[str, Any] | None = None,
    *,
    workspace: Workspace | None = None,
    ref: ConnectorRef | None = None,
) -> dict[str, Any]:
    """The JSON Schema a source's or destination's form is built from.

    A custom YAML manifest source takes its schema from the manifest in its config;
    every other connector from its spec (cached after the first run), at ``ref``'s
    version when given (a saved source's pinned one). Raises EngineError (or
    ManifestError) with a message for the user.
    """
    engine = get_engine(workspace)
    return engine.spec_for_config(
        ref or definition.ref, config
    ).connection_specification


def definition_ready(
    definition: ConnectorDefinition, *, workspace: Workspace | None = None
) -> bool:
    """Can the console build this connector's form now, without installing it here.

    Built-in destinations always can; a package can once it was installed on any
    machine (its spec is cached) or is installed on this one. Workers install a
    missing package themselves before they run it.
    """
    from apps.connectors.catalog.selectors import installed_version

    return get_engine(workspace).connector_ready(definition.ref) or bool(
        installed_version(definition=definition)
    )


def builtin_destination_configs(name: str) -> list[tuple[str, dict[str, Any]]]:
    """Every workspace's saved config of built-in destination ``name``.

    Console-wide on purpose: a destination that keeps files on this host asks it
    before it hands an older shared file to one workspace (registered with the
    engine registry, so engines never import this app).
    """
    rows = Destination.objects.filter(definition__builtin=name).values_list(
        "workspace__public_id", "config"
    )
    return [(str(workspace_id), config or {}) for workspace_id, config in rows]
