"""Creating, revoking and using API applications and personal access tokens.

A secret is returned once, to the caller that created it, and only its hash is
stored. Each change is audited; so is the first use of a credential from each
new address, which is how an owner notices a token used from somewhere else.
"""

from __future__ import annotations

import ipaddress
import secrets
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.api.models import (
    SEEN_ADDRESSES,
    ApiApplication,
    ApiCredential,
    PersonalAccessToken,
    secret_hash,
)
from apps.audit.services import audit_record

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

# What a personal access token starts with, so people and secret scanners can
# recognise one (and the API can tell it from a signed application bearer).
PAT_PREFIX = "abc_pat_"
# How many characters of a token lists show: the prefix and 8 random ones.
PAT_SHOWN_CHARS = len(PAT_PREFIX) + 8
# Last use is written at most this often per credential: a busy script would
# otherwise write a row on every request. A new address is written at once.
USE_RESOLUTION = timedelta(minutes=1)


def _clean_name(
    *, model: type[ApiCredential], owner: AbstractBaseUser, name: str
) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "Give it a name."})
    live = model.objects.filter(owner=owner, name__iexact=name, revoked_at__isnull=True)
    if live.exists():
        raise ValidationError(
            {"name": f"You already have one named “{name}”; choose another name."}
        )
    return name


def _clean_expiry(expires_at: datetime | None) -> datetime | None:
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "Choose a time in the future."})
    return expires_at


def _expiry_label(expires_at: datetime | None) -> str | None:
    return expires_at.isoformat() if expires_at else None


@transaction.atomic
def application_create(
    *, actor: AbstractBaseUser, name: str, expires_at: datetime | None = None
) -> tuple[ApiApplication, str]:
    """A new application of ``actor``'s; returns it and its secret (shown once)."""
    # Hex, not URL-safe base64: a secret that began with "-" was taken for an
    # option by `airbyte ... --client-secret SECRET` (1 in 64 did), and a "-" or
    # "_" stops a double-click from selecting the whole secret to copy it.
    secret = secrets.token_hex(32)
    application = ApiApplication(
        owner=actor,
        name=_clean_name(model=ApiApplication, owner=actor, name=name),
        client_id=str(uuid.uuid4()),
        secret_hash=secret_hash(secret),
        expires_at=_clean_expiry(expires_at),
    )
    application.full_clean()
    application.save()
    audit_record(
        actor=actor,
        action="api.application_created",
        target=application,
        changes={
            "name": [None, application.name],
            "client_id": [None, application.client_id],
            "expires_at": [None, _expiry_label(application.expires_at)],
        },
    )
    return application, secret


@transaction.atomic
def token_create(
    *, actor: AbstractBaseUser, name: str, expires_at: datetime | None = None
) -> tuple[PersonalAccessToken, str]:
    """A new personal access token of ``actor``'s; returns it and the token (once)."""
    raw = PAT_PREFIX + secrets.token_urlsafe(32)
    token = PersonalAccessToken(
        owner=actor,
        name=_clean_name(model=PersonalAccessToken, owner=actor, name=name),
        prefix=raw[:PAT_SHOWN_CHARS],
        token_hash=secret_hash(raw),
        expires_at=_clean_expiry(expires_at),
    )
    token.full_clean()
    token.save()
    audit_record(
        actor=actor,
        action="api.token_created",
        target=token,
        changes={
            "name": [None, token.name],
            "prefix": [None, token.prefix],
            "expires_at": [None, _expiry_label(token.expires_at)],
        },
    )
    return token, raw


def _revoke(*, actor: AbstractBaseUser, credential: ApiCredential, action: str) -> None:
    now = timezone.now()
    # Conditional, so two revokes at once write one audit row between them.
    revoked = (
        type(credential)
        .objects.filter(pk=credential.pk, revoked_at__isnull=True)
        .update(revoked_at=now, updated_at=now)
    )
    if not revoked:
        return
    credential.revoked_at = now
    audit_record(
        actor=actor,
        action=action,
        target=credential,
        changes={"revoked_at": [None, now.isoformat()]},
    )


@transaction.atomic
def application_revoke(*, actor: AbstractBaseUser, application: ApiApplication) -> None:
    """Revoke an application: its secret and every bearer it got stop working now.

    Revoking one already revoked changes nothing and records nothing.
    """
    _revoke(actor=actor, credential=application, action="api.application_revoked")


@transaction.atomic
def token_revoke(*, actor: AbstractBaseUser, token: PersonalAccessToken) -> None:
    """Revoke a personal access token: it stops working now."""
    _revoke(actor=actor, credential=token, action="api.token_revoked")


def credential_record_use(*, credential: ApiCredential, ip: str) -> None:
    """Note that a credential was just used from ``ip``.

    The first use from each address is audited (and written at once); otherwise
    the last use (time and address) moves at most once a minute, with no audit
    row: that is usage bookkeeping, not a change anyone made. The usual call
    writes nothing, so it opens no transaction (on SQLite a write transaction
    would queue every API read behind the workers' writes).
    """
    now = timezone.now()
    address = _valid_ip(ip)
    if address and address not in (credential.seen_ips or []):
        _record_new_address(credential=credential, address=address, now=now)
    elif credential.last_used_at is None or now - credential.last_used_at >= (
        USE_RESOLUTION
    ):
        type(credential).objects.filter(pk=credential.pk).update(
            last_used_at=now, last_used_ip=address or credential.last_used_ip
        )
        credential.last_used_at = now
        credential.last_used_ip = address or credential.last_used_ip


@transaction.atomic
def _record_new_address(
    *, credential: ApiCredential, address: str, now: datetime
) -> None:
    # Locked, so concurrent first requests from one address audit once.
    row = type(credential).objects.select_for_update().get(pk=credential.pk)
    seen = list(row.seen_ips or [])
    if address not in seen:
        seen = [*seen, address][-SEEN_ADDRESSES:]
        audit_record(
            actor=credential.owner,
            action="api.token_used_from_new_address",
            target=credential,
            target_label=_label(credential),
            changes={"last_used_ip": [row.last_used_ip, address]},
        )
    type(credential).objects.filter(pk=credential.pk).update(
        last_used_at=now, last_used_ip=address, seen_ips=seen
    )
    credential.last_used_at, credential.last_used_ip = now, address
    credential.seen_ips = seen


def _label(credential: ApiCredential) -> str:
    if isinstance(credential, ApiApplication):
        return f"application “{credential.name}”"
    return f"token “{credential.name}” ({credential.prefix}…)"


def _valid_ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None
