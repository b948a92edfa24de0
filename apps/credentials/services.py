"""Every write to credentials and to the encrypted columns, each audited."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone

from apps.audit.services import audit_record, field_changes
from apps.core.masking import MASK
from apps.credentials import encryption
from apps.credentials.hosts import clean_allowed_hosts
from apps.credentials.models import Credential, EncryptionCanary
from apps.credentials.signals import credential_rotated
from apps.credentials.types import TypeSpec, hints_for, type_spec, validate_payload
from apps.workspaces.models import Workspace

ROTATION_BATCH = 500


def _clean_name(name: str) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned:
        raise ValidationError({"name": "Give the credential a name."})
    if len(cleaned) > 100:
        raise ValidationError({"name": "Keep the name under 100 characters."})
    return cleaned


def _check_name_free(
    workspace: Workspace, name: str, *, exclude: Credential | None = None
) -> None:
    taken = Credential.objects.for_workspace(workspace).filter(name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise ValidationError(
            {"name": f"A credential named “{name}” already exists in this workspace."}
        )


def _clean_hosts(raw: str | Iterable[str]) -> list[str]:
    try:
        return clean_allowed_hosts(raw)
    except ValueError as exc:
        raise ValidationError({"allowed_hosts": str(exc)}) from None


def _unmask(
    spec: TypeSpec, submitted: dict[str, Any], stored: dict[str, Any]
) -> dict[str, Any]:
    """Replace each secret sent back as the mask by the value stored for it."""
    if not isinstance(submitted, dict):
        return submitted
    merged: dict[str, Any] = {}
    for key, value in submitted.items():
        if value == MASK and spec.is_secret(str(key)):
            if stored.get(key) in (None, ""):
                field_spec = spec.field(str(key))
                label = field_spec.label if field_spec else key
                raise ValidationError(
                    {
                        ("pairs" if spec.key_value else key): f"Type the {label}: "
                        "nothing is stored for it yet."
                    }
                )
            merged[key] = stored[key]
        else:
            merged[key] = value
    return merged


def _audit_payload(spec: TypeSpec, payload: dict[str, Any]) -> dict[str, Any]:
    # Prefixed keys keep a field called "name" or "type" apart from the columns.
    return {
        f"payload.{key}": (MASK if spec.is_secret(key) else value)
        for key, value in payload.items()
    }


def _changed_secrets(
    spec: TypeSpec, before: dict[str, Any], after: dict[str, Any]
) -> list[str]:
    return sorted(
        key
        for key in set(before) | set(after)
        if spec.is_secret(key) and before.get(key) != after.get(key)
    )


@transaction.atomic
def credential_create(
    *,
    actor: AbstractBaseUser | None,
    workspace: Workspace,
    name: str,
    type: str,
    fields: dict[str, Any],
    allowed_hosts: str | Iterable[str] = (),
) -> Credential:
    """Store a new credential, encrypted; the audit row shows no secret.

    ``allowed_hosts`` are where it may be sent; whoever stores the secret names
    them (they typed it, so they know where it belongs). Left empty, no source or
    destination that names a host can use it until a workspace admin adds hosts.
    """
    name = _clean_name(name)
    hosts = _clean_hosts(allowed_hosts)
    spec = type_spec(type)
    payload = validate_payload(spec, _unmask(spec, fields, {}))
    _check_name_free(workspace, name)
    credential = Credential(
        workspace=workspace,
        name=name,
        type=spec.value,
        hints=hints_for(spec, payload),
        allowed_hosts=hosts,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    credential.set_payload(payload)
    credential.full_clean()
    credential.save()
    audit_record(
        actor=actor,
        action="credential.created",
        workspace=workspace,
        target=credential,
        changes={
            "name": [None, name],
            "type": [None, spec.value],
            "allowed_hosts": [None, hosts],
            **field_changes({}, _audit_payload(spec, payload)),
        },
    )
    return credential


@transaction.atomic
def credential_update(
    *,
    actor: AbstractBaseUser | None,
    credential: Credential,
    name: str,
    fields: dict[str, Any],
    allowed_hosts: str | Iterable[str] | None = None,
) -> Credential:
    """Change a credential: a secret sent as the mask keeps its stored value.

    A newly typed secret replaces the stored one and sets ``rotated_at``. The type
    does not change: a credential of another type is a new credential.
    ``allowed_hosts`` (None leaves them) is for workspace admins: the views and
    the CLI pass it only for them, so an editor who never saw the secret cannot
    send it somewhere new.
    """
    credential = Credential.objects.select_for_update().get(pk=credential.pk)
    spec = type_spec(credential.type)
    name = _clean_name(name)
    stored = credential.get_payload()
    payload = validate_payload(spec, _unmask(spec, fields, stored))
    if name != credential.name:
        _check_name_free(credential.workspace, name, exclude=credential)
    hosts = (
        list(credential.allowed_hosts or [])
        if allowed_hosts is None
        else _clean_hosts(allowed_hosts)
    )

    changes = field_changes(
        {
            "name": credential.name,
            "allowed_hosts": list(credential.allowed_hosts or []),
            **_audit_payload(spec, stored),
        },
        {"name": name, "allowed_hosts": hosts, **_audit_payload(spec, payload)},
    )
    rotated = _changed_secrets(spec, stored, payload)
    for key in rotated:
        # Both sides are masked, so field_changes cannot see the new value; the
        # pair still records that this secret was replaced.
        changes[f"payload.{key}"] = [
            MASK if key in stored else None,
            MASK if key in payload else None,
        ]
    if not changes:
        return credential

    now = timezone.now()
    before_rotated = credential.rotated_at
    credential.name = name
    credential.allowed_hosts = hosts
    credential.set_payload(payload)
    credential.hints = hints_for(spec, payload)
    if rotated:
        credential.rotated_at = now
        changes["rotated_at"] = [
            before_rotated.isoformat() if before_rotated else None,
            now.isoformat(),
        ]
    credential.full_clean()
    credential.save()
    audit_record(
        actor=actor,
        action="credential.updated",
        workspace=credential.workspace,
        target=credential,
        changes=changes,
    )
    if rotated:
        credential_rotated.send(sender=Credential, credential=credential)
    return credential


@transaction.atomic
def credential_delete(
    *, actor: AbstractBaseUser | None, credential: Credential
) -> None:
    """Delete a credential that no source or destination uses."""
    credential = Credential.objects.select_for_update().get(pk=credential.pk)
    users = [
        f"source “{name}”" for name in credential.sources.values_list("name", flat=True)
    ]
    users += [
        f"destination “{name}”"
        for name in credential.destinations.values_list("name", flat=True)
    ]
    if users:
        raise ValidationError(
            f"“{credential.name}” is used by {', '.join(users)}. "
            "Remove it from them first."
        )
    audit_record(
        actor=actor,
        action="credential.deleted",
        workspace=credential.workspace,
        target=credential,
        changes={"name": [credential.name, None], "type": [credential.type, None]},
    )
    credential.delete()


def credential_mark_used(*, credential: Credential) -> None:
    """Record that a sync or check used the credential just now.

    No audit row: this is usage bookkeeping written on every run, not a change
    anyone made. A single UPDATE leaves the encrypted payload untouched.
    """
    now = timezone.now()
    Credential.objects.filter(pk=credential.pk).update(last_used_at=now)
    credential.last_used_at = now


def encryption_canary_ensure(*, using: str = "default") -> str | None:
    """Create the canary if it is missing; a message when the key is wrong.

    Before a canary is created for a database that already holds secrets (one
    upgraded from a version without it), one stored value per encrypted column is
    decrypted, so a wrong key is never blessed as the right one.
    """
    crypter = encryption.multi_fernet()
    for model, fields in encryption.encrypted_fields():
        if model is EncryptionCanary:
            continue
        for field in fields:
            alias = encryption.raw_alias(field)
            token = (
                model._base_manager.using(using)
                .annotate(**encryption.raw_columns([field]))
                .exclude(**{f"{field.attname}__isnull": True})
                .values_list(alias, flat=True)
                .first()
            )
            if token and not encryption.decrypts(token, crypter):
                return (
                    f"{model._meta.label}.{field.name} holds values that "
                    "FIELD_ENCRYPTION_KEY cannot decrypt."
                )
    # A fixed primary key: two processes starting at once create one row.
    EncryptionCanary.objects.using(using).get_or_create(
        pk=encryption.CANARY_PK, defaults={"value": encryption.CANARY_PLAINTEXT}
    )
    return None


def _write_tokens(model: type[models.Model], pk: Any, tokens: dict[str, str]) -> None:
    # Plain SQL: the ORM passes even expressions through the field's
    # get_db_prep_save, which would encrypt the new token a second time. The
    # identifiers come from model metadata, quoted; every value is a parameter.
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(column)} = %s" for column in tokens)
    table, pk_column = quote(model._meta.db_table), quote(model._meta.pk.column)
    sql = f"UPDATE {table} SET {assignments} WHERE {pk_column} = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [*tokens.values(), pk])


@transaction.atomic
def encryption_rotate_keys(*, actor: AbstractBaseUser | None) -> dict[str, int]:
    """Re-encrypt every encrypted value under the first key; counts rows per model.

    Tokens the first key already decrypts are left alone (MultiFernet.rotate would
    change them anyway), so a second run changes nothing. A token no configured key
    decrypts stops the run and rolls everything back.
    """
    keys = encryption.configured_keys()
    primary, crypter = keys[0], encryption.multi_fernet()
    counts: dict[str, int] = {}
    for model, fields in encryption.encrypted_fields():
        manager = model._base_manager
        aliases = [encryption.raw_alias(f) for f in fields]
        changed, last_pk = 0, None
        while True:
            rows = manager.annotate(**encryption.raw_columns(fields)).order_by("pk")
            if last_pk is not None:
                rows = rows.filter(pk__gt=last_pk)
            # Batches by primary key, materialised before any UPDATE: SQLite does
            # not isolate a cursor from writes to the table it is reading.
            batch = list(rows.values_list("pk", *aliases)[:ROTATION_BATCH])
            if not batch:
                break
            for pk, *tokens in batch:
                updates = {}
                for field, token in zip(fields, tokens, strict=True):
                    if token in (None, "") or encryption.decrypts(token, primary):
                        continue
                    if not encryption.decrypts(token, crypter):
                        raise ValidationError(
                            f"{model._meta.label} {pk}: {field.name} cannot be "
                            "decrypted with any key in FIELD_ENCRYPTION_KEY. Add the "
                            "key it was written with; nothing was changed."
                        )
                    new_token = crypter.rotate(token.encode()).decode()
                    updates[field.column] = new_token
                if updates:
                    _write_tokens(model, pk, updates)
                    changed += 1
            last_pk = batch[-1][0]
        counts[model._meta.label] = changed
    audit_record(
        actor=actor,
        action="encryption.keys_rotated",
        target_label="FIELD_ENCRYPTION_KEY",
        # Pairs, not a dict: audit_record masks dict keys that look secret, and
        # "credentials.Credential" does.
        changes={
            "rows_reencrypted": [[label, n] for label, n in counts.items()],
            "keys_configured": len(keys),
        },
    )
    return counts
