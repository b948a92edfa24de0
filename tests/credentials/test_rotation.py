"""Key rotation: every value ends under the first key; a second run is a no-op."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.db import connection

from apps.audit.models import AuditEvent
from apps.connectors.models import Source
from apps.credentials import checks, services
from apps.credentials.models import Credential, EncryptionCanary


def raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def readable_by(key: str, token: str) -> bool:
    try:
        Fernet(key).decrypt(token.encode())
    except Exception:
        return False
    return True


@pytest.fixture
def old_rows(workspace, admin, make_source, use_keys, new_key, canary):
    """A credential, a source's secrets and the canary, all written under OLD."""
    old = new_key()
    use_keys([old])
    EncryptionCanary.objects.all().delete()
    assert services.encryption_canary_ensure() is None
    credential = services.credential_create(
        actor=admin,
        workspace=workspace,
        name="Warehouse",
        type="basic_auth",
        fields={"username": "loader", "password": f"pw-{canary}"},
    )
    source = make_source("Stripe", secrets=json.dumps({"/api_key": f"sk-{canary}"}))
    return old, credential, source


def test_rotation_reencrypts_old_rows_and_the_second_run_changes_nothing(
    old_rows, admin, use_keys, new_key, canary
):
    old, credential, source = old_rows
    new = new_key()
    use_keys([new, old])
    before = raw("credentials_credential", "payload", credential.pk)
    assert readable_by(old, before) and not readable_by(new, before)

    counts = services.encryption_rotate_keys(actor=admin)
    assert counts["credentials.Credential"] == 1
    assert counts["connectors.Source"] == 1
    assert counts["credentials.EncryptionCanary"] == 1

    for table, column, pk in (
        ("credentials_credential", "payload", credential.pk),
        ("connectors_source", "secrets", source.pk),
        ("credentials_encryptioncanary", "value", 1),
    ):
        token = raw(table, column, pk)
        assert token.startswith("gAAAA")
        assert readable_by(new, token), table
        assert not readable_by(old, token), table

    again = services.encryption_rotate_keys(actor=admin)
    assert set(again.values()) == {0}

    # The old key can go: the new one alone reads everything and passes the check.
    use_keys([new])
    assert Credential.objects.get(pk=credential.pk).get_payload()["password"] == (
        f"pw-{canary}"
    )
    assert json.loads(Source.objects.get(pk=source.pk).secrets) == {
        "/api_key": f"sk-{canary}"
    }
    assert checks.key_problem() is None

    events = AuditEvent.objects.filter(action="encryption.keys_rotated")
    assert events.count() == 2
    first = events.order_by("id").first()
    assert ["credentials.Credential", 1] in first.changes["rows_reencrypted"]
    assert first.changes["keys_configured"] == 2
    assert canary not in json.dumps(list(AuditEvent.objects.values()), default=str)


def test_second_run_leaves_tokens_byte_for_byte(old_rows, admin, use_keys, new_key):
    old, credential, _source = old_rows
    use_keys([new_key(), old])
    services.encryption_rotate_keys(actor=admin)
    after_first = raw("credentials_credential", "payload", credential.pk)
    services.encryption_rotate_keys(actor=admin)
    assert raw("credentials_credential", "payload", credential.pk) == after_first


def test_without_the_old_key_the_check_refuses_to_start(old_rows, use_keys, new_key):
    use_keys([new_key()])
    problem = checks.key_problem()
    assert problem is not None
    assert "Restore the old key" in problem


def test_a_value_no_key_decrypts_stops_rotation_and_changes_nothing(
    old_rows, admin, use_keys, new_key
):
    _old, credential, _source = old_rows
    use_keys([new_key()])  # the old key is missing
    before = raw("credentials_credential", "payload", credential.pk)
    with pytest.raises(ValidationError, match="cannot be decrypted with any key"):
        services.encryption_rotate_keys(actor=admin)
    assert raw("credentials_credential", "payload", credential.pk) == before
    assert not AuditEvent.objects.filter(action="encryption.keys_rotated").exists()
