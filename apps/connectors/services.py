"""Every write to sources and destinations, each with its audit event.

A source or destination keeps its non-secret settings in ``config`` and the fields
its spec marks ``airbyte_secret`` in ``secrets`` (``{json_pointer: value}``,
encrypted), or points a secret at a stored Credential (``credential_refs``). The
audit trail records which secrets changed, never their values.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from apps.audit.models import AuditEvent
from apps.audit.services import audit_record, field_changes
from apps.connectors import signals
from apps.connectors.catalog.selectors import installed_versions
from apps.connectors.models import (
    ConnectorConfig,
    ConnectorDefinition,
    ConnectorDraftCheck,
    Source,
)
from apps.connectors.selectors import MODELS, stored_secrets, visible_definitions
from apps.connectors.spec.config import (
    config_hosts,
    secret_retarget_errors,
    split_config,
)
from apps.connectors.spec.errors import config_errors
from apps.core.masking import MASK
from apps.engines.base import CheckResult, DiscoveredCatalog, EngineError
from apps.engines.declarative import ManifestError
from apps.engines.registry import get_engine
from apps.workspaces.models import Workspace

logger = logging.getLogger(__name__)


class CheckStatus:
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def _clean_name(name: str) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise ValidationError({"name": "Give it a name."})
    return cleaned


def _check_name_free(model, workspace: Workspace, name: str, exclude=None) -> None:
    taken = model.objects.for_workspace(workspace).filter(name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        kind = model._meta.verbose_name
        raise ValidationError({"name": f"A {kind} named “{name}” already exists."})


def _credentials_for(workspace: Workspace, refs: dict[str, str]) -> list[Any]:
    from apps.credentials.models import Credential

    if not refs:
        return []
    found = list(
        Credential.objects.for_workspace(workspace).filter(
            public_id__in=list(refs.values())
        )
    )
    if len(found) != len(set(refs.values())):
        raise ValidationError("A chosen credential does not exist in this workspace.")
    return found


def _secret_summary(secrets: dict[str, Any], refs: dict[str, str]) -> list[str]:
    # Only which secrets are set and where from: values never reach the audit trail.
    return sorted(
        [f"{p} (typed)" for p in secrets] + [f"{p} (credential)" for p in refs]
    )


def _schema_or_none(
    definition: ConnectorDefinition, config: dict[str, Any], workspace: Workspace
) -> dict[str, Any]:
    # The form was built from this schema a moment ago (cached); without it the
    # field names and the manifest still say where secrets go.
    from apps.connectors.selectors import connector_spec_schema

    try:
        return connector_spec_schema(definition, config, workspace=workspace)
    except (EngineError, ManifestError):
        return {}


def _check_secret_destinations(
    *,
    definition: ConnectorDefinition,
    workspace: Workspace,
    old_config: dict[str, Any] | None,
    new_config: dict[str, Any],
    kept: set[str],
    refs: dict[str, str],
    credentials: list[Any],
) -> None:
    """Refuse a save that would send a secret somewhere it was not entered for.

    A kept (masked) secret needs every destination field unchanged; a credential
    needs every host of the config in its ``allowed_hosts``. Errors are keyed by
    the JSON pointer of the secret they are about, so the form shows each beside
    its field.
    """
    from apps.credentials.hosts import refusal

    if not kept and not refs:
        return
    schema = _schema_or_none(definition, new_config, workspace)
    errors: dict[str, str] = {}
    if old_config is not None and kept:
        old_schema = (
            _schema_or_none(definition, old_config, workspace)
            if definition.is_declarative_manifest
            else schema
        )
        errors.update(
            secret_retarget_errors(
                old_config, new_config, schema, kept, old_schema=old_schema
            )
        )
    if refs:
        found = config_hosts(new_config, schema)
        by_id = {str(c.public_id): c for c in credentials}
        for pointer, credential_id in sorted(refs.items()):
            credential = by_id.get(str(credential_id))
            if credential is None:
                continue
            problem = refusal(credential.name, credential.allowed_hosts or [], found)
            if problem:
                errors.setdefault(pointer, problem)
    if errors:
        raise ValidationError(errors)


def _resolve_kept(
    secrets: dict[str, Any],
    old_secrets: dict[str, Any],
    kept_secrets: Iterable[str] | None,
) -> tuple[dict[str, Any], set[str]]:
    """(secrets with each MASK replaced by the stored value, pointers kept so).

    The spec form says which secrets it kept; a caller that does not say (a
    script) has kept every secret it sent back unchanged.
    """
    resolved: dict[str, Any] = {}
    kept = set(kept_secrets or ())
    for pointer, value in secrets.items():
        if value == MASK and pointer in old_secrets:
            resolved[pointer] = old_secrets[pointer]
            kept.add(pointer)
        else:
            resolved[pointer] = value
    if kept_secrets is None:
        kept |= {
            p for p, v in resolved.items() if p in old_secrets and v == old_secrets[p]
        }
    return resolved, kept


@transaction.atomic
def connector_create(
    *,
    actor: AbstractBaseUser | None,
    workspace: Workspace,
    kind: str,
    name: str,
    definition: ConnectorDefinition,
    config: dict[str, Any],
    secrets: dict[str, Any] | None = None,
    credential_refs: dict[str, str] | None = None,
    check: CheckResult | None = None,
) -> ConnectorConfig:
    """Create a source or destination from a validated config.

    ``check`` is the outcome of the test its form ran before the save (a draft
    check), stored as its last test; without it the caller asks for a test.
    """
    model = MODELS[kind]
    if definition.kind != kind:
        raise ValidationError({"definition": f"{definition.name} is not a {kind}."})
    if not visible_definitions(
        ConnectorDefinition.objects.filter(pk=definition.pk), workspace=workspace
    ).exists():
        # A connector another workspace built in its connector builder.
        raise ValidationError(
            {"definition": "That connector is not in this workspace's catalog."}
        )
    name = _clean_name(name)
    _check_name_free(model, workspace, name)
    secrets = secrets or {}
    refs = credential_refs or {}
    credentials = _credentials_for(workspace, refs)
    _check_secret_destinations(
        definition=definition,
        workspace=workspace,
        old_config=None,
        new_config=config,
        kept=set(),
        refs=refs,
        credentials=credentials,
    )
    obj = model(
        workspace=workspace,
        name=name,
        definition=definition,
        config=config,
        secrets=json.dumps(secrets) if secrets else "",
        credential_refs=refs,
        created_by=actor,
    )
    if kind == "source":
        # A new source runs the catalog's version of today; a later staff upgrade
        # moves only the default for sources made after it.
        obj.connector_version = definition.pypi_version
    if check is not None:
        _set_check(obj, check)
    obj.full_clean()
    obj.save()
    if credentials:
        obj.credentials.set(credentials)
    signals.connector_saved.send(sender=type(obj), obj=obj)
    changes = {
        "definition": [None, definition.name],
        "config": [None, config],
        "secrets": [None, _secret_summary(secrets, refs)],
    }
    if check is not None:
        changes["test"] = [None, obj.last_check_status]
    audit_record(
        actor=actor,
        action=f"{kind}.created",
        workspace=workspace,
        target=obj,
        changes=changes,
    )
    return obj


def _set_check(obj: ConnectorConfig, result: CheckResult) -> None:
    obj.last_check_status = CheckStatus.SUCCEEDED if result.ok else CheckStatus.FAILED
    obj.last_check_message = (
        result.message
        or (
            "Connection succeeded."
            if result.ok
            else "The connector said the configuration does not work."
        )
    )[:5000]
    obj.last_checked_at = timezone.now()


def _pin_version(source: Source, version: str) -> None:
    """Move a source to another installed version of its connector, or refuse."""
    version = (version or "").strip()
    if not version or version == source.pinned_version:
        return
    offered = installed_versions(
        definition=source.definition, workspace=source.workspace
    )
    if version not in offered:
        raise ValidationError(
            {
                "connector_version": (
                    f"{source.definition.name} {version} is not installed on this "
                    "console; pick one of the installed versions ("
                    f"{', '.join(offered) or 'none'}), or ask console staff to "
                    "install it."
                )
            }
        )
    source.connector_version = version


@transaction.atomic
def connector_update(
    *,
    actor: AbstractBaseUser | None,
    obj: ConnectorConfig,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    credential_refs: dict[str, str] | None = None,
    connector_version: str | None = None,
    kept_secrets: Iterable[str] | None = None,
    check: CheckResult | None = None,
) -> ConnectorConfig:
    """Change a source's or destination's name, settings or (a source's) version.

    ``check`` is the outcome of the test the form ran on the new settings before
    the save (see ``connector_create``).

    ``secrets`` and ``credential_refs`` are the complete new sets (the spec form
    has already kept values the user left masked, and says which in
    ``kept_secrets``; a secret given as the mask keeps its stored value too). A
    kept secret is refused when a field that says where it is sent changed, and a
    credential when the config names a host it may not be sent to.
    ``connector_version`` must be installed on this console
    (``catalog.selectors.installed_versions``).
    """
    kind = obj._meta.model_name
    obj = type(obj).objects.select_for_update().get(pk=obj.pk)
    before = {
        "name": obj.name,
        "config": obj.config,
        "secrets": _secret_summary(stored_secrets(obj), obj.credential_refs or {}),
    }
    if isinstance(obj, Source):
        before["connector_version"] = obj.pinned_version
    old_secrets = stored_secrets(obj)
    if secrets is not None:
        secrets, kept = _resolve_kept(secrets, old_secrets, kept_secrets)
    else:
        kept = set(old_secrets)
    new_refs = (
        (obj.credential_refs or {}) if credential_refs is None else credential_refs
    )
    _check_secret_destinations(
        definition=obj.definition,
        workspace=obj.workspace,
        old_config=dict(obj.config or {}),
        new_config=dict(obj.config or {}) if config is None else config,
        kept=kept,
        refs=new_refs,
        credentials=_credentials_for(obj.workspace, new_refs),
    )
    if name is not None:
        name = _clean_name(name)
        _check_name_free(type(obj), obj.workspace, name, exclude=obj)
        obj.name = name
    if config is not None:
        obj.config = config
    if connector_version is not None and isinstance(obj, Source):
        _pin_version(obj, connector_version)
    changed_secrets: list[str] = []
    if secrets is not None:
        changed_secrets = sorted(
            p
            for p in set(secrets) | set(old_secrets)
            if secrets.get(p) != old_secrets.get(p)
        )
        obj.secrets = json.dumps(secrets) if secrets else ""
    if credential_refs is not None:
        obj.credential_refs = credential_refs
        obj.credentials.set(_credentials_for(obj.workspace, credential_refs))
    before["test"] = obj.last_check_status
    if check is not None:
        _set_check(obj, check)
    obj.full_clean()
    obj.save()
    signals.connector_saved.send(sender=type(obj), obj=obj)
    after = {
        "name": obj.name,
        "config": obj.config,
        "secrets": _secret_summary(stored_secrets(obj), obj.credential_refs or {}),
    }
    if isinstance(obj, Source):
        after["connector_version"] = obj.pinned_version
    after["test"] = obj.last_check_status
    changes = field_changes(before, after)
    if changed_secrets:
        changes["secrets_replaced"] = [None, changed_secrets]
    audit_record(
        actor=actor,
        action=f"{kind}.updated",
        workspace=obj.workspace,
        target=obj,
        changes=changes,
    )
    return obj


@transaction.atomic
def connector_delete(*, actor: AbstractBaseUser | None, obj: ConnectorConfig) -> None:
    """Delete a source or destination; refused while a connection uses it."""
    kind = obj._meta.model_name
    used_by = list(obj.connections.order_by("name").values_list("name", flat=True))
    if used_by:
        raise ValidationError(
            f"This {kind} is used by {len(used_by)} connection"
            f"{'s' if len(used_by) != 1 else ''}: {', '.join(used_by)}. "
            "Delete or change those first."
        )
    audit_record(
        actor=actor,
        action=f"{kind}.deleted",
        workspace=obj.workspace,
        target=obj,
        changes={"definition": [obj.definition.name, None]},
    )
    signals.connector_deleted.send(sender=type(obj), obj=obj)
    obj.delete()


def validate_config(
    definition: ConnectorDefinition,
    config: dict[str, Any],
    *,
    workspace: Workspace | None = None,
) -> tuple[dict, dict]:
    """Split a full config (from the CLI or API) into settings and secrets, or raise.

    Each error names the JSON path of the field it is about.
    """
    spec = get_engine(workspace).spec(definition.ref)
    problems = config_errors(spec.connection_specification, config)
    if problems:
        raise ValidationError(
            [f"{pointer or '/'}: {message}" for pointer, message in problems]
        )
    return split_config(config, spec.connection_specification)


# -- Test connection and discover: requested here, run by a task, recorded here --------


@transaction.atomic
def connector_check_request(
    *, actor: AbstractBaseUser | None, obj: ConnectorConfig
) -> None:
    """Start "Test connection" in the background; the page polls for the result."""
    from apps.connectors.tasks import connector_check_task

    obj.last_check_status = CheckStatus.PENDING
    obj.last_check_message = ""
    obj.save(update_fields=["last_check_status", "last_check_message", "updated_at"])
    connector_check_task.delay_on_commit(obj._meta.model_name, obj.pk)


def connector_check_run(*, kind: str, pk: int) -> CheckResult:
    """Run the connector's check now (in a worker) and record what it said."""
    from apps.connectors.selectors import connector_full_config

    obj = MODELS[kind].objects.select_related("definition", "workspace").get(pk=pk)
    try:
        result = get_engine(obj.workspace).check(
            obj.connector_ref, connector_full_config(obj), actor=obj
        )
    except EngineError as exc:
        result = CheckResult(ok=False, message=exc.message)
    connector_check_record(obj=obj, result=result)
    return result


@transaction.atomic
def connector_check_record(*, obj: ConnectorConfig, result: CheckResult) -> None:
    """Store a check's outcome on the row, with an audit event."""
    _set_check(obj, result)
    obj.save(
        update_fields=[
            "last_check_status",
            "last_check_message",
            "last_checked_at",
            "updated_at",
        ]
    )
    audit_record(
        actor=None,
        actor_label="worker",
        action=f"{obj._meta.model_name}.checked",
        workspace=obj.workspace,
        target=obj,
        changes={"result": [None, obj.last_check_status]},
        outcome=AuditEvent.Outcome.SUCCESS if result.ok else AuditEvent.Outcome.FAILURE,
    )


# -- Test before save: a draft check of a form's config -------------------------------

DRAFT_CHECK_KEEP = timedelta(days=1)


def draft_digest(
    *,
    config: dict[str, Any],
    secrets: dict[str, Any],
    credential_refs: dict[str, str],
    version: str = "",
) -> str:
    """A keyed fingerprint of what a draft check tested (secrets included, so a
    save with another password is tested again; keyed, so it reveals nothing)."""
    text = json.dumps(
        [config, secrets, credential_refs, version], sort_keys=True, default=str
    )
    return salted_hmac(
        "apps.connectors.draft_check", text, algorithm="sha256"
    ).hexdigest()


@transaction.atomic
def connector_draft_check_request(
    *,
    actor: AbstractBaseUser,
    workspace: Workspace,
    kind: str,
    definition: ConnectorDefinition,
    config: dict[str, Any],
    secrets: dict[str, Any],
    credential_refs: dict[str, str],
    version: str = "",
    target: ConnectorConfig | None = None,
    kept_secrets: Iterable[str] = (),
) -> ConnectorDraftCheck:
    """Test a form's config before it is saved; a worker runs it, the form polls.

    The same rules as a save decide where secrets may go: a kept (stored) secret
    of ``target`` only to the hosts it was entered for, a credential only to its
    allowed hosts, so a test cannot send a secret where a save could not.
    """
    from apps.connectors.tasks import connector_draft_check_task

    if definition.kind != kind:
        raise ValidationError({"definition": f"{definition.name} is not a {kind}."})
    credentials = _credentials_for(workspace, credential_refs)
    _check_secret_destinations(
        definition=definition,
        workspace=workspace,
        old_config=dict(target.config or {}) if target is not None else None,
        new_config=config,
        kept=set(kept_secrets) if target is not None else set(),
        refs=credential_refs,
        credentials=credentials,
    )
    # Old drafts hold secrets: keep them no longer than a form stays open.
    ConnectorDraftCheck.objects.filter(
        created_at__lt=timezone.now() - DRAFT_CHECK_KEEP
    ).delete()
    draft = ConnectorDraftCheck.objects.create(
        workspace=workspace,
        kind=kind,
        definition=definition,
        version=version,
        target_id=target.public_id if target is not None else None,
        config=config,
        secrets=json.dumps(secrets) if secrets else "",
        credential_refs=credential_refs,
        digest=draft_digest(
            config=config,
            secrets=secrets,
            credential_refs=credential_refs,
            version=version,
        ),
        created_by=actor,
    )
    audit_record(
        actor=actor,
        action=f"{kind}.test_requested",
        workspace=workspace,
        target=target,
        target_label="" if target is not None else f"new {definition.name} {kind}",
        changes={"config": [None, config]},
    )
    connector_draft_check_task.delay_on_commit(draft.pk)
    return draft


def connector_draft_check_run(*, pk: int) -> CheckResult | None:
    """Run a draft's check now (in a worker) and record it; None if done already."""
    from apps.connectors.selectors import connector_full_config

    draft = (
        ConnectorDraftCheck.objects.select_related("definition", "workspace")
        .filter(pk=pk, status=ConnectorDraftCheck.Status.PENDING)
        .first()
    )
    if draft is None:
        return None
    target = None
    if draft.target_id:
        target = (
            MODELS[draft.kind]
            .objects.filter(workspace=draft.workspace, public_id=draft.target_id)
            .first()
        )
    try:
        # A draft carries config, secrets and credential refs like a saved row.
        config = connector_full_config(draft)  # type: ignore[arg-type]
        result = get_engine(draft.workspace).check(
            draft.connector_ref, config, actor=target
        )
    except EngineError as exc:
        result = CheckResult(ok=False, message=exc.message)
    connector_draft_check_record(draft=draft, result=result)
    return result


@transaction.atomic
def connector_draft_check_record(
    *, draft: ConnectorDraftCheck, result: CheckResult
) -> None:
    """Store a draft check's outcome (the form polling it shows it), audited."""
    updated = ConnectorDraftCheck.objects.filter(
        pk=draft.pk, status=ConnectorDraftCheck.Status.PENDING
    ).update(
        status=(
            ConnectorDraftCheck.Status.SUCCEEDED
            if result.ok
            else ConnectorDraftCheck.Status.FAILED
        ),
        message=(
            result.message
            or (
                "Connection succeeded."
                if result.ok
                else "The connector said the configuration does not work."
            )
        )[:5000],
        finished_at=timezone.now(),
        updated_at=timezone.now(),
    )
    if not updated:
        return
    audit_record(
        actor=None,
        actor_label="worker",
        action=f"{draft.kind}.tested",
        workspace=draft.workspace,
        target_label=f"{draft.definition.name} settings (not saved yet)",
        changes={"result": [None, "succeeded" if result.ok else "failed"]},
        outcome=AuditEvent.Outcome.SUCCESS if result.ok else AuditEvent.Outcome.FAILURE,
    )


def draft_check_result(draft: ConnectorDraftCheck) -> CheckResult:
    """A finished draft check as the CheckResult a save stores."""
    return CheckResult(
        ok=draft.status == ConnectorDraftCheck.Status.SUCCEEDED, message=draft.message
    )


@transaction.atomic
def source_discover_request(*, actor: AbstractBaseUser | None, source: Source) -> None:
    """Refresh the source's catalog in the background."""
    from apps.connectors.tasks import source_discover_task

    source.discover_status = CheckStatus.PENDING
    source.discover_message = ""
    source.save(update_fields=["discover_status", "discover_message", "updated_at"])
    source_discover_task.delay_on_commit(source.pk)


def source_discover_run(*, pk: int) -> DiscoveredCatalog | None:
    """Run discover now (in a worker) and cache the catalog on the source."""
    from apps.connectors.selectors import connector_full_config

    source = Source.objects.select_related("definition", "workspace").get(pk=pk)
    try:
        catalog = get_engine(source.workspace).discover(
            source.connector_ref, connector_full_config(source), actor=source
        )
    except EngineError as exc:
        source_discover_record(source=source, catalog=None, message=exc.message)
        return None
    source_discover_record(source=source, catalog=catalog)
    return catalog


@transaction.atomic
def source_discover_record(
    *, source: Source, catalog: DiscoveredCatalog | None, message: str = ""
) -> None:
    """Cache a discovered catalog (or the reason discover failed) on the source."""
    before = sorted(s["name"] for s in (source.catalog or {}).get("streams", []))
    if catalog is not None:
        source.catalog = catalog.as_dict()
        source.catalog_discovered_at = timezone.now()
        source.discover_status = CheckStatus.SUCCEEDED
        source.discover_message = f"{len(catalog.streams)} streams found."
    else:
        source.discover_status = CheckStatus.FAILED
        source.discover_message = message[:5000]
    source.save()
    after = sorted(s["name"] for s in (source.catalog or {}).get("streams", []))
    audit_record(
        actor=None,
        actor_label="worker",
        action="source.discovered",
        workspace=source.workspace,
        target=source,
        changes={"streams": [before, after]} if before != after else {},
        outcome=AuditEvent.Outcome.SUCCESS if catalog else AuditEvent.Outcome.FAILURE,
    )


@transaction.atomic
def source_config_replace_from_connector(
    *, source: Source, config: dict[str, Any]
) -> None:
    """Save a config the connector itself sent (a CONTROL message, e.g. new tokens)."""
    source = (
        Source.objects.select_for_update()
        .select_related("definition")
        .get(pk=source.pk)
    )
    try:
        spec = (
            get_engine(source.workspace)
            .spec(source.connector_ref)
            .connection_specification
        )
    except EngineError:
        logger.warning(
            "No spec for %s: the connector's new config was not saved", source
        )
        return
    plain, secrets = split_config(config, spec)
    changed = sorted(
        k
        for k in set(plain) | set(source.config)
        if plain.get(k) != source.config.get(k)
    )
    source.config = plain
    source.secrets = json.dumps(secrets) if secrets else ""
    source.save(update_fields=["config", "secrets", "updated_at"])
    audit_record(
        actor=None,
        actor_label="connector",
        action="source.config_updated_by_connector",
        workspace=source.workspace,
        target=source,
        changes={"fields": [None, changed], "secrets": [None, sorted(secrets)]},
    )
