"""Low-level helpers over the configured Fernet keys and the encrypted columns.

Reads here bypass the fields' ``from_db_value``: the library hides a failed
decryption by returning the ciphertext, and both the start-up check and key rotation
need to see the stored token itself.
"""

from __future__ import annotations

from collections.abc import Iterator

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models.functions import Cast
from encrypted_model_fields.fields import EncryptedMixin

CANARY_PLAINTEXT = "airbyte-console encryption canary v1"
CANARY_PK = 1


def configured_keys() -> list[Fernet]:
    """The keys from FIELD_ENCRYPTION_KEY, newest (the one that encrypts) first."""
    raw = settings.FIELD_ENCRYPTION_KEY
    keys = [raw] if isinstance(raw, str | bytes) else list(raw)
    return [Fernet(key) for key in keys]


def multi_fernet() -> MultiFernet:
    return MultiFernet(configured_keys())


def decrypts(token: str, crypter: Fernet | MultiFernet) -> bool:
    try:
        crypter.decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def encrypted_fields() -> Iterator[tuple[type[models.Model], list[models.Field]]]:
    """Every concrete model with its encrypted columns, found through the registry.

    ``local_concrete_fields`` counts a column once even under multi-table
    inheritance; proxy and unmanaged models store nothing of their own.
    """
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed:
            continue
        fields = [
            f for f in meta.local_concrete_fields if isinstance(f, EncryptedMixin)
        ]
        if fields:
            yield model, fields


def raw_alias(field: models.Field) -> str:
    return f"_raw_{field.attname}"


def raw_columns(fields: list[models.Field]) -> dict[str, Cast]:
    """Annotations that select the stored tokens: a Cast to text skips decryption."""
    return {
        raw_alias(f): Cast(f.attname, output_field=models.TextField()) for f in fields
    }
