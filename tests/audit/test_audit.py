"""The audit trail is append-only, masks secrets and has its admin page."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.urls import reverse

from apps.audit.models import AuditEvent, AuditEventImmutable
from apps.audit.services import audit_record
from apps.workspaces.services import workspace_create


def test_one_event_per_mutation(admin, workspace):
    before = AuditEvent.objects.count()
    workspace_create(actor=admin, name="Another")
    assert AuditEvent.objects.count() == before + 1


def test_events_cannot_be_changed_or_deleted_through_the_orm(admin, workspace):
    event = audit_record(actor=admin, action="test.done", workspace=workspace)
    event.action = "test.changed"
    with pytest.raises(AuditEventImmutable):
        event.save()
    with pytest.raises(AuditEventImmutable):
        event.delete()
    with pytest.raises(AuditEventImmutable):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AuditEventImmutable):
        AuditEvent.objects.filter(pk=event.pk).delete()


def test_postgres_trigger_refuses_raw_update_and_delete(
    admin, workspace, require_postgres
):
    event = audit_record(actor=admin, action="test.done", workspace=workspace)
    for sql in (
        "UPDATE audit_auditevent SET action = 'x' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ):
        with (
            pytest.raises(Exception, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "test.done"


def test_secrets_in_changes_are_masked(admin, workspace):
    event = audit_record(
        actor=admin,
        action="thing.updated",
        workspace=workspace,
        changes={"password": ["old-canary", "new-canary"], "host": ["a", "b"]},
    )
    assert event.changes["password"] == "**********"
    assert event.changes["host"] == ["a", "b"]


def test_actor_label_survives_user_deletion(admin, workspace):
    event = audit_record(actor=admin, action="test.done", workspace=workspace)
    admin.delete()
    event = AuditEvent.objects.get(pk=event.pk)
    assert event.actor_label == "admin@acme.test"


def test_audit_page_filters_by_action_over_htmx(admin, workspace, login, htmx_headers):
    audit_record(
        actor=admin,
        action="workspace.renamed",
        workspace=workspace,
        target_label="Acme",
    )
    audit_record(
        actor=admin,
        action="membership.added",
        workspace=workspace,
        target_label="bob@acme.test",
    )
    url = reverse("audit:list", args=[workspace.public_id])
    response = login(admin).get(
        url, {"action": "membership.added"}, headers=htmx_headers
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "bob@acme.test" in response.text
    assert "workspace.renamed</code>" not in response.text


def test_audit_page_paginates_with_bounded_queries(
    admin, workspace, login, django_assert_max_num_queries
):
    for n in range(120):
        audit_record(
            actor=admin,
            action="test.event",
            workspace=workspace,
            target_label=f"item {n}",
        )
    client = login(admin)
    url = reverse("audit:list", args=[workspace.public_id])
    with django_assert_max_num_queries(10):
        response = client.get(url)
    assert "Page 1 of 3" in response.text
    second = client.get(url, {"page": 2}, headers={"HX-Request": "true"})
    assert "Page 2 of 3" in second.text


def test_audit_page_shows_only_this_workspace(admin, workspace, outsider, login):
    other = outsider.memberships.get().workspace
    audit_record(
        actor=outsider,
        action="secret.thing",
        workspace=other,
        target_label="elsewhere-only",
    )
    response = login(admin).get(reverse("audit:list", args=[workspace.public_id]))
    assert "elsewhere-only" not in response.text


def test_django_admin_shows_events_read_only(admin, workspace, login):
    admin.is_staff = admin.is_superuser = True
    admin.save()
    event = audit_record(actor=admin, action="test.done", workspace=workspace)
    client = login(admin)
    listing = client.get(reverse("admin:audit_auditevent_changelist"))
    assert listing.status_code == 200
    assert "test.done" in listing.text
    change = client.post(
        reverse("admin:audit_auditevent_change", args=[event.pk]), {"action": "x"}
    )
    assert change.status_code == 403
    delete = client.post(
        reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).action == "test.done"
