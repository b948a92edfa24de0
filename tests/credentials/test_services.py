"""Credential services: encryption at rest, the mask round trip, audit, deletion."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from apps.audit.models import AuditEvent
from apps.core.masking import MASK
from apps.credentials import selectors, services
from apps.credentials.models import Credential


def raw_payload(credential: Credential) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT payload FROM credentials_credential WHERE id = %s", [credential.pk]
        )
        return cursor.fetchone()[0]


def all_audit_text() -> str:
    return json.dumps(list(AuditEvent.objects.values()), default=str)


def test_payload_column_holds_ciphertext(api_key_credential, canary):
    stored = raw_payload(api_key_credential)
    assert stored.startswith("gAAAA")
    assert canary not in stored
    fresh = Credential.objects.get(pk=api_key_credential.pk)
    assert fresh.get_payload() == {"api_key": f"sk_live_{canary}"}


def test_create_records_an_audit_event_without_the_secret(
    api_key_credential, admin, canary
):
    event = AuditEvent.objects.get(action="credential.created")
    assert event.actor == admin
    assert event.changes["name"] == [None, "Stripe"]
    # audit_record masks the whole entry of a secret-looking key.
    assert event.changes["payload.api_key"] == MASK
    assert canary not in all_audit_text()
    assert api_key_credential.hints == {"last4": canary[-4:]}


def test_names_are_unique_in_a_workspace_whatever_the_case(api_key_credential, admin):
    with pytest.raises(ValidationError) as caught:
        services.credential_create(
            actor=admin,
            workspace=api_key_credential.workspace,
            name="stripe",
            type="api_key",
            fields={"api_key": "k"},
        )
    assert "already exists" in caught.value.message_dict["name"][0]


def test_update_with_the_mask_keeps_the_stored_secret(
    api_key_credential, admin, canary
):
    updated = services.credential_update(
        actor=admin,
        credential=api_key_credential,
        name="Stripe live",
        fields={"api_key": MASK},
    )
    assert updated.get_payload() == {"api_key": f"sk_live_{canary}"}
    assert updated.rotated_at is None
    event = AuditEvent.objects.get(action="credential.updated")
    assert event.changes == {"name": ["Stripe", "Stripe live"]}


def test_new_secret_replaces_the_stored_one_and_sets_rotated_at(
    api_key_credential, admin, canary
):
    updated = services.credential_update(
        actor=admin,
        credential=api_key_credential,
        name="Stripe",
        fields={"api_key": f"rk_new_{canary}"},
    )
    assert Credential.objects.get(pk=updated.pk).get_payload() == {
        "api_key": f"rk_new_{canary}"
    }
    assert updated.rotated_at is not None
    event = AuditEvent.objects.get(action="credential.updated")
    assert event.changes["payload.api_key"] == MASK
    assert event.changes["rotated_at"][1] is not None
    assert canary not in all_audit_text()


def test_update_that_changes_nothing_writes_no_audit_row(api_key_credential, admin):
    services.credential_update(
        actor=admin,
        credential=api_key_credential,
        name="Stripe",
        fields={"api_key": MASK},
    )
    assert not AuditEvent.objects.filter(action="credential.updated").exists()


def test_mask_without_a_stored_value_is_refused(workspace, admin):
    with pytest.raises(ValidationError) as caught:
        services.credential_create(
            actor=admin,
            workspace=workspace,
            name="Blank",
            type="basic_auth",
            fields={"username": "bob", "password": MASK},
        )
    assert "nothing is stored" in caught.value.message_dict["password"][0]


def test_generic_pairs_keep_masked_values_and_take_new_ones(workspace, admin, canary):
    credential = services.credential_create(
        actor=admin,
        workspace=workspace,
        name="Env",
        type="generic",
        fields={"TOKEN": f"t-{canary}", "REGION": "eu-1"},
    )
    assert credential.hints == {"keys": ["REGION", "TOKEN"]}
    updated = services.credential_update(
        actor=admin,
        credential=credential,
        name="Env",
        fields={"TOKEN": MASK, "REGION": "us-2", "EXTRA": "x"},
    )
    assert updated.get_payload() == {
        "TOKEN": f"t-{canary}",
        "REGION": "us-2",
        "EXTRA": "x",
    }
    changes = AuditEvent.objects.get(action="credential.updated").changes
    assert changes["payload.REGION"] == [MASK, MASK]
    assert changes["payload.EXTRA"] == [None, MASK]
    assert "payload.TOKEN" not in changes
    assert "us-2" not in json.dumps(changes)


def test_delete_is_refused_while_a_source_or_destination_uses_it(
    api_key_credential, admin, make_source, make_destination
):
    make_source("Stripe payments").credentials.add(api_key_credential)
    make_destination("Warehouse").credentials.add(api_key_credential)
    with pytest.raises(ValidationError) as caught:
        services.credential_delete(actor=admin, credential=api_key_credential)
    message = caught.value.messages[0]
    assert "source “Stripe payments”" in message
    assert "destination “Warehouse”" in message
    assert Credential.objects.filter(pk=api_key_credential.pk).exists()
    assert not AuditEvent.objects.filter(action="credential.deleted").exists()


def test_delete_unused_credential_records_audit(api_key_credential, admin):
    services.credential_delete(actor=admin, credential=api_key_credential)
    assert not Credential.objects.filter(pk=api_key_credential.pk).exists()
    event = AuditEvent.objects.get(action="credential.deleted")
    assert event.changes == {"name": ["Stripe", None], "type": ["api_key", None]}


def test_mark_used_sets_last_used_and_leaves_the_payload(api_key_credential):
    before = raw_payload(api_key_credential)
    services.credential_mark_used(credential=api_key_credential)
    fresh = Credential.objects.get(pk=api_key_credential.pk)
    assert fresh.last_used_at is not None
    assert raw_payload(api_key_credential) == before


def test_usages_list_sources_and_destinations(
    api_key_credential, make_source, make_destination
):
    make_source("B source").credentials.add(api_key_credential)
    make_source("A source").credentials.add(api_key_credential)
    make_destination("Lake").credentials.add(api_key_credential)
    usages = selectors.credential_usages(credential=api_key_credential)
    assert [(u.kind, u.name) for u in usages] == [
        ("source", "A source"),
        ("source", "B source"),
        ("destination", "Lake"),
    ]


def test_list_counts_usage_without_a_query_per_row(
    workspace, admin, make_source, django_assert_max_num_queries
):
    for n in range(8):
        credential = services.credential_create(
            actor=admin,
            workspace=workspace,
            name=f"Key {n}",
            type="api_key",
            fields={"api_key": f"k{n}"},
        )
        make_source(f"Source {n}a").credentials.add(credential)
        make_source(f"Source {n}b").credentials.add(credential)
    with django_assert_max_num_queries(1):
        rows = list(selectors.credential_list(workspace=workspace))
        counts = [(c.source_count, c.destination_count, c.hint_text) for c in rows]
    assert counts[0] == (2, 0, "")
