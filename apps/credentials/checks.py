"""The start-up key check: decrypt the canary, refuse to run with a wrong key.

django-encrypted-model-fields returns the ciphertext itself when a valid but wrong
key is configured, so the console would show garbage and a later save would encrypt
it twice. One stored canary, decrypted at start-up with one query, catches that. A
malformed key never gets this far: ``airbyte_console.env.fernet_keys`` refuses it.
"""

from __future__ import annotations

import warnings
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from apps.credentials import encryption

CHECK_ID = "credentials.E001"


def wrong_key_message(detail: str = "") -> str:
    key_file = settings.DATA_DIR / "field_encryption_key"
    return (
        "FIELD_ENCRYPTION_KEY does not decrypt this database: it was encrypted with "
        "another key. "
        + (f"({detail}) " if detail else "")
        + "Restore the old key (or list it after the new one, comma-separated: "
        "FIELD_ENCRYPTION_KEY=<new key>,<old key>), start again, then run "
        "`manage.py airbyte credentials rotate-key` to re-encrypt everything under "
        f"the new key. Without the variable the key is read from {key_file}."
    )


def _read_canary(using: str) -> str | None:
    from apps.credentials.models import EncryptionCanary

    return (
        EncryptionCanary.objects.using(using)
        .filter(pk=encryption.CANARY_PK)
        .annotate(**encryption.raw_columns([EncryptionCanary._meta.get_field("value")]))
        .values_list("_raw_value", flat=True)
        .first()
    )


def key_problem(using: str = DEFAULT_DB_ALIAS, *, create: bool = True) -> str | None:
    """Why the configured key cannot be used with this database, or None.

    No table yet (before ``migrate``) or no database answering: nothing to check,
    the health check reports the database. A missing canary is created.
    """
    try:
        token = _read_canary(using)
    except DatabaseError:
        return None
    if token is None:
        if not create:
            return None
        from apps.credentials.services import encryption_canary_ensure

        try:
            detail = encryption_canary_ensure(using=using)
        except DatabaseError:
            return None
        return wrong_key_message(detail) if detail else None
    try:
        plaintext = encryption.multi_fernet().decrypt(token.encode()).decode()
    except Exception:  # InvalidToken, or a token mangled beyond base64
        return wrong_key_message()
    if plaintext != encryption.CANARY_PLAINTEXT:
        return wrong_key_message("the canary holds an unexpected value")
    return None


def check_encryption_key(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """System check credentials.E001, run by check, migrate and runserver."""
    problem = key_problem(create=False)
    if problem is None:
        return []
    return [
        Error(
            problem,
            hint="Set FIELD_ENCRYPTION_KEY to the key this database was written with.",
            id=CHECK_ID,
        )
    ]


def startup_key_check() -> None:
    """Raise ImproperlyConfigured for a wrong key; called from ``ready()``.

    Gunicorn and Celery run no system checks, so every process that loads Django
    runs this one. It is one query; the connection is closed afterwards so a
    forking server or worker never shares it with its children.
    """
    with warnings.catch_warnings():
        # Django warns about queries before the app registry is ready; this one is
        # deliberate, it is what makes a wrong key stop every process.
        warnings.filterwarnings(
            "ignore", message="Accessing the database during app initialization"
        )
        try:
            problem = key_problem()
        finally:
            connections[DEFAULT_DB_ALIAS].close()
    if problem is not None:
        raise ImproperlyConfigured(problem)
