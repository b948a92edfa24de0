"""Sources' and destinations' configurations as the API shows and takes them.

Airbyte's APIs carry a connector's whole configuration in one JSON object, secrets
included; the console keeps settings, typed secrets and credential-backed secrets
apart (``apps.connectors``). This module is the one translation between the two:

- out: :func:`masked_configuration` puts every secret back as the mask
  ``**********``, so no answer ever holds a secret;
- in: :func:`split_configuration` checks a posted configuration against the
  connector's spec (one problem entry per JSON path) and splits it for the
  services; a mask sent back keeps the stored secret, as Airbyte's ``copySecrets``;
- :func:`definition_for` finds the connector a create names, by ``definitionId``
  or by ``configuration.sourceType`` / ``destinationType``.

Every failure is an ``ApiProblem``; routers raise nothing else.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, NamedTuple
from uuid import UUID

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from apps.api.problems import (
    ERRORS_URL,
    ApiProblem,
    bad_request,
    conflict,
    not_found,
    problem_from_validation,
    unprocessable,
)
from apps.connectors import selectors, services
from apps.connectors.models import ConnectorConfig, ConnectorDefinition
from apps.connectors.spec.config import merge_config
from apps.connectors.spec.pointers import from_pointer, get_path, to_pointer
from apps.core.masking import MASK
from apps.engines.base import EngineError
from apps.engines.declarative import ManifestError
from apps.workspaces.models import Workspace

_PREFIXES = {"source": "source-", "destination": "destination-"}


class SplitConfiguration(NamedTuple):
    """A posted configuration ready for ``connector_create`` / ``connector_update``."""

    config: dict[str, Any]
    secrets: dict[str, Any]
    kept_secrets: set[str]


def type_key(kind: str) -> str:
    """``sourceType`` or ``destinationType``: the field that names the connector."""
    return f"{kind}Type"


def connector_type(definition: ConnectorDefinition) -> str:
    """The connector's short name, as Airbyte's ``sourceType``: ``faker``, ``postgres``.

    Taken from the Docker repository (``airbyte/source-faker``), else the PyPI
    package (``airbyte-source-faker``), else the built-in writer's name.
    """
    prefix = _PREFIXES[definition.kind]
    for raw in (
        definition.docker_repository.rsplit("/", 1)[-1],
        definition.pypi_package.removeprefix("airbyte-"),
    ):
        if raw.startswith(prefix):
            return raw.removeprefix(prefix)
    return definition.builtin or definition.name.lower().replace(" ", "-")


def _secret_pointers(obj: ConnectorConfig) -> set[str]:
    # Which secrets the row holds is known without the spec: the typed ones are
    # stored by pointer, and so are the credential-backed ones.
    return set(selectors.stored_secrets(obj)) | set(obj.credential_refs or {})


def masked_configuration(obj: ConnectorConfig) -> dict[str, Any]:
    """The full configuration as the API shows it: every secret is ``**********``."""
    return merge_config(obj.config or {}, dict.fromkeys(_secret_pointers(obj), MASK))


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """PATCH's merge, as Airbyte's: objects merge key by key, other values replace."""
    merged = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _masked_paths(configuration: Any, path: tuple[str, ...] = ()) -> list[str]:
    """Pointers of every value that is the mask."""
    if configuration == MASK:
        return [to_pointer(path)]
    if isinstance(configuration, Mapping):
        return [
            pointer
            for key, value in configuration.items()
            for pointer in _masked_paths(value, (*path, str(key)))
        ]
    return []


def _put_value(configuration: dict[str, Any], pointer: str, value: Any) -> None:
    path = from_pointer(pointer)
    parent = get_path(configuration, path[:-1])
    if isinstance(parent, dict):
        parent[path[-1]] = value


def kept_credential_refs(
    obj: ConnectorConfig | None, configuration: Mapping[str, Any]
) -> dict[str, str]:
    """The credential-backed secrets of ``obj`` that ``configuration`` keeps (masked).

    A credential is dropped where the configuration gives a new value instead
    (it becomes a typed secret) or leaves the field out.
    """
    if obj is None:
        return {}
    return {
        pointer: credential_id
        for pointer, credential_id in (obj.credential_refs or {}).items()
        if get_path(configuration, from_pointer(pointer)) == MASK
    }


def _engine_problem(definition: ConnectorDefinition, exc: Exception) -> ApiProblem:
    message = getattr(exc, "message", "") or str(exc)
    return bad_request(
        f"The console cannot read the spec of {definition.name}: {message}",
        {"errors": [{"path": "configuration", "message": message}]},
    )


def split_configuration(
    *,
    workspace: Workspace,
    definition: ConnectorDefinition,
    configuration: Mapping[str, Any],
    obj: ConnectorConfig | None = None,
) -> SplitConfiguration:
    """Check a full configuration against the connector's spec and split it.

    ``sourceType``/``destinationType`` is dropped (it names the connector, it is
    not one of its settings). Where ``configuration`` holds the mask at a secret
    ``obj`` has stored, the stored secret is kept: a typed one comes back in
    ``secrets`` and in ``kept_secrets`` (the services then refuse to send it to a
    new host); a credential-backed one is left out of ``secrets`` (see
    :func:`kept_credential_refs`). A mask anywhere else is refused, so the mask's
    text is never saved as a value. Raises a 400 problem with one entry per
    JSON path the spec check found.
    """
    if not isinstance(configuration, Mapping):
        raise bad_request(
            "configuration must be an object.",
            {"errors": [{"path": "configuration", "message": "must be an object"}]},
        )
    candidate = copy.deepcopy(dict(configuration))
    candidate.pop(type_key(definition.kind), None)
    typed = selectors.stored_secrets(obj) if obj is not None else {}
    refs = (obj.credential_refs or {}) if obj is not None else {}
    stored = selectors.connector_secrets(obj) if obj is not None else {}
    kept: set[str] = set()
    kept_refs: set[str] = set()
    unknown: list[str] = []
    for pointer in _masked_paths(candidate):
        if pointer in refs and pointer in stored:
            kept_refs.add(pointer)
        elif pointer in typed:
            kept.add(pointer)
        else:
            unknown.append(pointer)
            continue
        # Checked with the stored value, so a secret's own rules (a pattern, a
        # length) judge the secret, not the mask.
        _put_value(candidate, pointer, stored[pointer])
    if unknown:
        raise bad_request(
            f"{MASK} stands for a stored secret, and there is none at "
            f"{', '.join(sorted(unknown))}: give the value itself.",
            {
                "errors": [
                    {"path": p, "message": "No stored secret to keep here."}
                    for p in sorted(unknown)
                ]
            },
        )
    try:
        config, secrets = services.validate_config(
            definition, candidate, workspace=workspace
        )
    except ValidationError as exc:
        raise problem_from_validation(exc) from None
    except (EngineError, ManifestError) as exc:
        raise _engine_problem(definition, exc) from None
    for pointer in kept_refs:
        secrets.pop(pointer, None)
        # A credential-backed secret that is not ``airbyte_secret`` in the spec
        # would otherwise be stored in the plain settings.
        parent = get_path(config, from_pointer(pointer)[:-1])
        if isinstance(parent, dict):
            parent.pop(from_pointer(pointer)[-1], None)
    return SplitConfiguration(config=config, secrets=secrets, kept_secrets=kept)


def _value_not_found(value: str, detail: str) -> ApiProblem:
    # Airbyte's ``UnknownValueProblemResponse``: 400, ``data`` names the value.
    return ApiProblem(400, "value-not-found", ERRORS_URL, detail, {"value": value})


def definition_for(
    *,
    kind: str,
    workspace: Workspace,
    definition_id: Any = None,
    source_type: str | None = None,
) -> ConnectorDefinition:
    """The connector a create names: ``definitionId``, else the type's short name.

    Only connectors the workspace's engine runs are found. An unknown
    ``definitionId`` is a 404 (as the spec lists for creates), an unknown type
    name Airbyte's 400 ``value-not-found``, neither given a 422.
    """
    offered = selectors.definition_choices(kind=kind, workspace=workspace)
    if definition_id:
        try:
            wanted = UUID(str(definition_id))
        except ValueError:
            wanted = None
        found = offered.filter(definition_id=wanted).first() if wanted else None
        if found is None:
            raise not_found(
                f"No {kind} connector with definitionId {definition_id} on this "
                "console for this workspace.",
                resource_type=f"{kind}_definition",
                resource_id=str(definition_id),
            )
        return found
    if source_type:
        name = str(source_type).strip().lower()
        for definition in offered:
            if connector_type(definition) == name:
                return definition
        raise _value_not_found(
            str(source_type),
            f"The value {source_type} was not found: no {kind} connector of that "
            "type on this console for this workspace.",
        )
    raise unprocessable(
        f"One of definitionId or configuration.{type_key(kind)} must be provided.",
        {
            "errors": [
                {
                    "path": "definitionId",
                    "message": f"Give definitionId or configuration.{type_key(kind)}.",
                }
            ]
        },
    )


def definition_not_ready(
    definition: ConnectorDefinition, workspace: Workspace
) -> ApiProblem | None:
    """A problem when the connector's spec cannot be read without installing it."""
    if selectors.definition_ready(definition, workspace=workspace):
        return None
    return bad_request(
        f"{definition.name} is not installed on this console yet: console staff "
        "install it from the Catalog page, then try again.",
        {
            "errors": [
                {"path": "definitionId", "message": f"{definition.name} not installed"}
            ]
        },
    )


# -- What the Public API's source and destination calls share ---------------------
#
# Keyword-only and free of requests, so the Config API's calls (``sources/create``
# and the rest) can use them with the membership they resolved themselves.


def connector_response(obj: ConnectorConfig) -> dict[str, Any]:
    """A ``SourceResponse`` / ``DestinationResponse``: configuration masked.

    ``configuration`` carries ``sourceType``/``destinationType`` too, as the
    configurations Airbyte's SDK sends do, so a client reads back the typed
    configuration it wrote; the field is dropped again when it is sent back.
    ``createdAt`` is in epoch seconds. Needs ``definition`` and ``workspace``
    loaded (``select_related``) to cost no query.
    """
    kind = obj._meta.model_name
    short = connector_type(obj.definition)
    return {
        f"{kind}Id": str(obj.public_id),
        "name": obj.name,
        type_key(kind): short,
        "definitionId": str(obj.definition.definition_id),
        "workspaceId": str(obj.workspace.public_id),
        "configuration": {**masked_configuration(obj), type_key(kind): short},
        "createdAt": int(obj.created_at.timestamp()),
    }


def connector_create_from_api(
    *,
    actor: AbstractBaseUser,
    workspace: Workspace,
    kind: str,
    name: str,
    configuration: Mapping[str, Any],
    definition_id: Any = None,
) -> ConnectorConfig:
    """Create a source or destination from an API body through the services."""
    if not isinstance(configuration, Mapping):
        raise bad_request(
            "configuration must be an object.",
            {"errors": [{"path": "configuration", "message": "must be an object"}]},
        )
    definition = definition_for(
        kind=kind,
        workspace=workspace,
        definition_id=definition_id,
        source_type=None if definition_id else configuration.get(type_key(kind)),
    )
    _refuse_not_ready(definition, workspace)
    split = split_configuration(
        workspace=workspace, definition=definition, configuration=configuration
    )
    try:
        return services.connector_create(
            actor=actor,
            workspace=workspace,
            kind=kind,
            name=name,
            definition=definition,
            config=split.config,
            secrets=split.secrets,
        )
    except ValidationError as exc:
        raise problem_from_validation(exc) from None


def connector_update_from_api(
    *,
    actor: AbstractBaseUser,
    obj: ConnectorConfig,
    name: str | None = None,
    configuration: Mapping[str, Any] | None = None,
    merge: bool = False,
) -> ConnectorConfig:
    """Change a source or destination from a PUT (``merge=False``) or PATCH body.

    PUT's ``configuration`` replaces the stored one; PATCH's is deep-merged into
    it (Airbyte's behaviour), so a PATCH of one field keeps the rest, secrets
    included. Either way a mask keeps the stored secret.
    """
    if name is None and configuration is None:
        return obj  # nothing asked for: no save, no audit event
    kwargs: dict[str, Any] = {}
    if configuration is not None:
        if not isinstance(configuration, Mapping):
            raise bad_request(
                "configuration must be an object.",
                {"errors": [{"path": "configuration", "message": "must be an object"}]},
            )
        if merge:
            configuration = deep_merge(masked_configuration(obj), configuration)
        _refuse_not_ready(obj.definition, obj.workspace)
        split = split_configuration(
            workspace=obj.workspace,
            definition=obj.definition,
            configuration=configuration,
            obj=obj,
        )
        kwargs = {
            "config": split.config,
            "secrets": split.secrets,
            "kept_secrets": split.kept_secrets,
            "credential_refs": kept_credential_refs(obj, configuration),
        }
    try:
        updated = services.connector_update(actor=actor, obj=obj, name=name, **kwargs)
    except ValidationError as exc:
        raise problem_from_validation(exc) from None
    # The service reloads the row for update; the answer needs its relations.
    return (
        type(obj).objects.select_related("definition", "workspace").get(pk=updated.pk)
    )


def connector_delete_from_api(*, actor: AbstractBaseUser, obj: ConnectorConfig) -> None:
    """Delete a source or destination; 409 with the reason while connections use it.

    Airbyte deletes the connections too; the console refuses instead, as its
    pages do, so no connection disappears as a side effect of an API call.
    """
    try:
        services.connector_delete(actor=actor, obj=obj)
    except ValidationError as exc:
        raise conflict(" ".join(exc.messages)) from None


def _refuse_not_ready(definition: ConnectorDefinition, workspace: Workspace) -> None:
    problem = definition_not_ready(definition, workspace)
    if problem is not None:
        raise problem


def requested_workspaces(
    members_of: QuerySet[Workspace], workspace_ids: list[str]
) -> QuerySet[Workspace]:
    """The workspaces a list call asks for (``workspaceIds``), among the caller's.

    No ids means all the caller's workspaces. An id that is not a workspace of
    the caller's is a 404 naming it, as a get of it would be: a list never says
    whether a workspace the caller cannot see exists.
    """
    if not workspace_ids:
        return members_of
    wanted: dict[str, UUID | None] = {}
    for raw in workspace_ids:
        try:
            wanted[raw] = UUID(raw)
        except ValueError:
            wanted[raw] = None
    found = set(
        members_of.filter(
            public_id__in=[u for u in wanted.values() if u is not None]
        ).values_list("public_id", flat=True)
    )
    for raw, uuid in wanted.items():
        if uuid is None or uuid not in found:
            raise not_found(
                f"Workspace {raw} not found.",
                resource_type="workspace",
                resource_id=raw,
            )
    return members_of.filter(public_id__in=found)
