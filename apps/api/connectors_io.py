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

from django.core.exceptions import ValidationError

from apps.api.problems import (
    ERRORS_URL,
    ApiProblem,
    bad_request,
    not_found,
    problem_from_validation,
    unprocessable,
)
from apps.connectors import selectors
from apps.connectors.models import ConnectorConfig, ConnectorDefinition
from apps.connectors.services import validate_config
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
        config, secrets = validate_config(definition, candidate, workspace=workspace)
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
