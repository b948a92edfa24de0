"""Webhook pages: roles, the secret shown once, the delivery log, test and resend."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.webhooks import signing
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint
from apps.webhooks.services import dispatch, endpoints
from apps.workspaces.models import Membership

SECRET_RE = re.compile(r"whsec_[A-Za-z0-9+/=]{40,}")


def url(name: str, workspace, *args) -> str:
    return reverse(f"webhooks:{name}", args=[workspace.public_id, *args])


@pytest.fixture
def endpoint(endpoint_and_secret):
    return endpoint_and_secret[0]


def _form(receiver_url: str, **extra) -> dict:
    return {
        "name": "Ops alerts",
        "url": receiver_url,
        "events": ["sync.failed", "sync.succeeded"],
        "format": "console",
        **extra,
    }


def test_editor_creates_an_endpoint_and_sees_its_secret_once(
    workspace, editor, login, receiver
):
    client = login(editor)
    response = client.post(url("create", workspace), _form(receiver.url))
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get(name="Ops alerts")
    assert endpoint.events == ["sync.failed", "sync.succeeded"]
    assert endpoint.created_by == editor
    shown = SECRET_RE.findall(response.content.decode())
    assert shown == [endpoint.secret]
    assert "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.get(action="webhook.created")
    assert event.actor == editor
    assert endpoint.secret not in str(event.changes)
    # Never again: not on the list, the detail, or the edit form.
    for page in (
        url("list", workspace),
        url("detail", workspace, endpoint.public_id),
        url("edit", workspace, endpoint.public_id),
    ):
        body = client.get(page).content.decode()
        assert endpoint.secret not in body
        assert not SECRET_RE.search(body)


def test_secret_is_ciphertext_in_the_database(endpoint):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT secret FROM webhooks_webhookendpoint WHERE id = %s", [endpoint.pk]
        )
        [stored] = cursor.fetchone()
    assert stored.startswith("gAAAA")
    assert endpoint.secret.startswith("whsec_")


def test_invalid_form_rerenders_with_400_and_keeps_input(workspace, editor, login):
    response = login(editor).post(
        url("create", workspace),
        {"name": "Typed name", "url": "ftp://x", "format": "console"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "<html" not in body
    assert "Typed name" in body
    assert "Choose at least one event." in body
    assert WebhookEndpoint.objects.count() == 0


def test_duplicate_name_is_refused_on_the_field(
    workspace, editor, login, endpoint, receiver
):
    response = login(editor).post(
        url("create", workspace), _form(receiver.url, name="OPS")
    )
    assert response.status_code == 400
    assert "already exists" in response.content.decode()


def test_htmx_create_returns_the_secret_fragment(workspace, editor, login, receiver):
    response = login(editor).post(
        url("create", workspace), _form(receiver.url), HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert SECRET_RE.search(body)


@pytest.mark.parametrize("persona", ["viewer", "runner"])
def test_viewer_and_runner_cannot_see_webhooks(
    workspace, login, request, persona, endpoint
):
    client = login(request.getfixturevalue(persona))
    assert client.get(url("list", workspace)).status_code == 403
    assert client.get(url("detail", workspace, endpoint.public_id)).status_code == 403
    assert (
        client.post(url("create", workspace), _form("https://x.test/")).status_code
        == 403
    )
    assert client.post(url("rotate", workspace, endpoint.public_id)).status_code == 403
    assert client.post(url("test", workspace, endpoint.public_id)).status_code == 403
    assert WebhookEndpoint.objects.count() == 1


def test_outsider_gets_404_everywhere(workspace, outsider, login, endpoint):
    client = login(outsider)
    for method, page in [
        ("get", url("list", workspace)),
        ("get", url("detail", workspace, endpoint.public_id)),
        ("post", url("create", workspace)),
        ("post", url("edit", workspace, endpoint.public_id)),
        ("post", url("rotate", workspace, endpoint.public_id)),
        ("post", url("delete", workspace, endpoint.public_id)),
        ("post", url("test", workspace, endpoint.public_id)),
    ]:
        assert getattr(client, method)(page).status_code == 404, page


def test_endpoint_of_another_workspace_is_404(outsider, login, endpoint):
    # The outsider's own workspace in the URL does not reach another's endpoint.
    other = Membership.objects.get(user=outsider).workspace
    response = login(outsider).get(url("detail", other, endpoint.public_id))
    assert response.status_code == 404


def test_list_shows_why_an_endpoint_was_disabled(workspace, admin, login, endpoint):
    dispatch.webhook_endpoint_disable(
        endpoint=endpoint, reason="The receiver answered 410 Gone on 2026-11-25."
    )
    body = login(admin).get(url("list", workspace)).content.decode()
    assert "Disabled" in body and "410 Gone on 2026-11-25" in body
    detail = login(admin).get(url("detail", workspace, endpoint.public_id))
    assert "410 Gone on 2026-11-25" in detail.content.decode()


def test_list_partial_for_htmx(
    workspace, admin, login, endpoint, django_assert_max_num_queries
):
    client = login(admin)
    with django_assert_max_num_queries(8):
        response = client.get(url("list", workspace), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "<html" not in body and "ops" in body


def test_edit_changes_the_endpoint_and_audits(
    workspace, editor, login, endpoint, receiver
):
    response = login(editor).post(
        url("edit", workspace, endpoint.public_id),
        _form(receiver.url, name="ops-2", events=["sync.started"], enabled="on"),
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.name == "ops-2" and endpoint.events == ["sync.started"]
    event = AuditEvent.objects.get(action="webhook.updated")
    assert event.changes["name"] == ["ops", "ops-2"]


def test_enabling_again_clears_the_reason(workspace, editor, login, endpoint, receiver):
    dispatch.webhook_endpoint_disable(endpoint=endpoint, reason="410")
    login(editor).post(
        url("edit", workspace, endpoint.public_id),
        _form(receiver.url, name="ops", enabled="on"),
    )
    endpoint.refresh_from_db()
    assert endpoint.enabled and endpoint.disabled_reason == ""


def test_rotate_shows_a_new_secret_once(workspace, editor, login, endpoint):
    old = endpoint.secret
    response = login(editor).post(url("rotate", workspace, endpoint.public_id))
    endpoint.refresh_from_db()
    assert endpoint.secret != old
    assert SECRET_RE.findall(response.content.decode()) == [endpoint.secret]
    assert AuditEvent.objects.filter(action="webhook.secret_rotated").count() == 1


def test_delete_removes_the_endpoint(workspace, editor, login, endpoint):
    client = login(editor)
    assert client.get(url("delete", workspace, endpoint.public_id)).status_code == 200
    response = client.post(url("delete", workspace, endpoint.public_id))
    assert response.status_code == 302
    assert not WebhookEndpoint.objects.exists()
    assert AuditEvent.objects.filter(action="webhook.deleted").count() == 1


def test_send_test_event_and_log_shows_the_attempt(
    workspace,
    editor,
    login,
    endpoint_and_secret,
    receiver,
    enqueued,
    django_capture_on_commit_callbacks,
):
    endpoint, secret = endpoint_and_secret
    client = login(editor)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("test", workspace, endpoint.public_id), HTTP_HX_REQUEST="true"
        )
    assert response.status_code == 200 and "<html" not in response.content.decode()
    assert AuditEvent.objects.filter(action="webhook.test_sent").count() == 1
    dispatch.webhook_delivery_attempt(delivery_id=enqueued[-1])
    got = receiver.received[0]
    signing.verify(secret=secret, headers=got.headers, body=got.body)
    body = client.get(url("detail", workspace, endpoint.public_id)).content.decode()
    assert "webhook.test" in body and "HTTP 200" in body and "Succeeded" in body
    assert secret not in body


def test_resend_from_the_log_keeps_the_webhook_id(
    workspace, editor, login, endpoint, receiver
):
    first = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    dispatch.webhook_dispatch()
    response = login(editor).post(
        url("resend", workspace, endpoint.public_id, first.public_id),
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    again = WebhookDelivery.objects.exclude(pk=first.pk).get()
    assert again.webhook_id == first.webhook_id
    assert AuditEvent.objects.filter(action="webhook.resent").count() == 1


def test_delivery_log_paginates_without_n_plus_one(
    workspace, admin, login, endpoint, django_assert_max_num_queries
):
    for _ in range(30):
        endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    client = login(admin)
    with django_assert_max_num_queries(12):
        response = client.get(url("detail", workspace, endpoint.public_id))
    assert "Page 1 of 2" in response.content.decode()
    page2 = client.get(
        url("detail", workspace, endpoint.public_id) + "?page=2", HTTP_HX_REQUEST="true"
    )
    assert "<html" not in page2.content.decode()
    assert page2.content.decode().count('id="delivery-') == 5


def test_no_secret_in_any_page_or_fragment(workspace, admin, login, endpoint, receiver):
    receiver.plan = [(500, {}, b"error body")]
    first = endpoints.webhook_test_send(actor=None, endpoint=endpoint)
    dispatch.webhook_dispatch()
    dispatch.webhook_dispatch()
    client = login(admin)
    pages = [
        url("list", workspace),
        url("detail", workspace, endpoint.public_id),
        url("edit", workspace, endpoint.public_id),
        url("delete", workspace, endpoint.public_id),
    ]
    key = endpoint.secret.removeprefix("whsec_")
    for page in pages:
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            body = client.get(page, **headers).content.decode()
            assert key not in body, page
    for attempt in first.attempts.all():
        assert key not in attempt.error + attempt.response_excerpt
    for event in AuditEvent.objects.all():
        assert key not in str(event.changes)


def test_slack_url_path_is_not_shown(workspace, editor, login, enqueued):
    endpoints.webhook_endpoint_create(
        actor=editor,
        workspace=workspace,
        name="slack",
        url="https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX",
        events="sync_failed",
        format="slack",
    )
    body = login(editor).get(url("list", workspace)).content.decode()
    assert "hooks.slack.com" in body and "XXXXSECRETXXXX" not in body
    assert "XXXXSECRETXXXX" not in str(
        AuditEvent.objects.get(action="webhook.created").changes
    )
