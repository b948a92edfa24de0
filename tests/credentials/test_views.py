"""Credential pages: create per type, edit with the mask, delete, roles, fragments."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.core.masking import MASK
from apps.credentials.models import Credential


def url(name: str, workspace, credential=None) -> str:
    args = [workspace.public_id] + ([credential.public_id] if credential else [])
    return reverse(f"credentials:{name}", args=args)


def test_editor_creates_api_key_credential(editor, workspace, login, canary):
    response = login(editor).post(
        url("create", workspace),
        {"name": "Stripe", "type": "api_key", "api_key": f"sk_{canary}"},
    )
    credential = Credential.objects.get(workspace=workspace, name="Stripe")
    assert response.status_code == 302
    assert response["Location"] == url("detail", workspace, credential)
    assert credential.get_payload() == {"api_key": f"sk_{canary}"}
    assert credential.created_by == editor
    event = AuditEvent.objects.get(action="credential.created")
    assert event.actor == editor
    assert event.workspace == workspace


def test_create_over_htmx_redirects_with_hx_redirect(
    editor, workspace, login, htmx_headers
):
    response = login(editor).post(
        url("create", workspace),
        {"name": "Login", "type": "basic_auth", "username": "bob", "password": "pw"},
        headers=htmx_headers,
    )
    credential = Credential.objects.get(name="Login")
    assert response.status_code == 204
    assert response["HX-Redirect"] == url("detail", workspace, credential)


def test_invalid_create_keeps_what_was_typed_but_not_the_secret(
    editor, workspace, login, htmx_headers, canary
):
    response = login(editor).post(
        url("create", workspace),
        {
            "name": "Warehouse login",
            "type": "database",
            "host": "db.internal",
            "port": "99999",
            "database": "",
            "username": "loader",
            "password": canary,
        },
        headers=htmx_headers,
    )
    assert response.status_code == 400
    assert "<html" not in response.text
    assert 'value="Warehouse login"' in response.text
    assert 'value="db.internal"' in response.text
    assert 'value="loader"' in response.text
    assert "Database is required." in response.text
    assert "Port must be between 1 and 65535." in response.text
    assert canary not in response.text
    assert not Credential.objects.exists()


def test_generic_credential_is_created_from_key_value_rows(editor, workspace, login):
    response = login(editor).post(
        url("create", workspace),
        {
            "name": "Env",
            "type": "generic",
            "pair_key": ["TOKEN", "REGION", ""],
            "pair_value": ["t0k3n", "eu", ""],
        },
    )
    assert response.status_code == 302
    assert Credential.objects.get(name="Env").get_payload() == {
        "TOKEN": "t0k3n",
        "REGION": "eu",
    }


def test_generic_duplicate_keys_are_refused(editor, workspace, login):
    response = login(editor).post(
        url("create", workspace),
        {
            "name": "Env",
            "type": "generic",
            "pair_key": ["A", "A"],
            "pair_value": ["1", "2"],
        },
    )
    assert response.status_code == 400
    assert "The key A appears twice." in response.text
    assert 'value="A"' in response.text


def test_duplicate_name_is_refused(editor, workspace, login, api_key_credential):
    response = login(editor).post(
        url("create", workspace), {"name": "STRIPE", "type": "api_key", "api_key": "x"}
    )
    assert response.status_code == 400
    assert "already exists in this workspace" in response.text


def test_type_fields_fragment_follows_the_chosen_type(
    editor, workspace, login, htmx_headers
):
    client = login(editor)
    response = client.get(
        url("type_fields", workspace), {"type": "oauth2"}, headers=htmx_headers
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    for name in ("client_id", "client_secret", "refresh_token", "token_url"):
        assert f'name="{name}"' in response.text
    generic = client.get(
        url("type_fields", workspace), {"type": "generic"}, headers=htmx_headers
    )
    assert 'name="pair_key"' in generic.text
    assert "Add row" in generic.text


def test_pair_row_fragment_is_an_empty_row(editor, workspace, login, htmx_headers):
    response = login(editor).get(url("pair_row", workspace), headers=htmx_headers)
    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.count("<tr") == 1
    assert 'name="pair_key" value=""' in response.text


def test_create_page_without_htmx_picks_the_type_from_the_query(
    editor, workspace, login
):
    response = login(editor).get(url("create", workspace), {"type": "database"})
    assert response.status_code == 200
    assert "<html" in response.text
    assert 'name="host"' in response.text


def test_edit_page_shows_the_mask_never_the_secret(
    editor, workspace, login, api_key_credential, canary
):
    response = login(editor).get(url("edit", workspace, api_key_credential))
    assert response.status_code == 200
    assert f'type="password" name="api_key" value="{MASK}"' in response.text
    assert canary not in response.text


def test_edit_with_the_mask_keeps_the_secret(
    editor, workspace, login, api_key_credential, canary
):
    response = login(editor).post(
        url("edit", workspace, api_key_credential),
        {"name": "Stripe EU", "api_key": MASK},
    )
    assert response.status_code == 302
    api_key_credential.refresh_from_db()
    assert api_key_credential.name == "Stripe EU"
    assert api_key_credential.get_payload() == {"api_key": f"sk_live_{canary}"}
    assert api_key_credential.rotated_at is None
    assert AuditEvent.objects.get(action="credential.updated").changes == {
        "name": ["Stripe", "Stripe EU"]
    }


def test_edit_with_a_new_secret_replaces_it(
    editor, workspace, login, api_key_credential
):
    response = login(editor).post(
        url("edit", workspace, api_key_credential),
        {"name": "Stripe", "api_key": "sk_live_rotated_0001"},
    )
    assert response.status_code == 302
    api_key_credential.refresh_from_db()
    assert api_key_credential.get_payload() == {"api_key": "sk_live_rotated_0001"}
    assert api_key_credential.rotated_at is not None
    assert api_key_credential.hints == {"last4": "0001"}


def test_invalid_edit_shows_the_mask_only_where_a_value_is_stored(
    editor, workspace, admin, login, htmx_headers, canary
):
    client = login(editor)
    client.post(
        url("create", workspace),
        {"name": "App", "type": "oauth2", "client_id": "cid", "client_secret": canary},
    )
    credential = Credential.objects.get(name="App")
    response = client.post(
        url("edit", workspace, credential),
        {
            "name": "App",
            "client_id": "cid-2",
            "client_secret": f"{canary}-typed",
            "refresh_token": f"{canary}-refresh",
            "token_url": "not a url",
        },
        headers=htmx_headers,
    )
    assert response.status_code == 400
    assert "<html" not in response.text
    assert 'value="cid-2"' in response.text
    assert 'value="not a url"' in response.text
    assert f'name="client_secret" value="{MASK}"' in response.text
    # Nothing is stored for the refresh token: its input comes back empty.
    assert re.search(
        r'<input type="password" name="refresh_token" (?!value)', response.text
    )
    assert canary not in response.text
    credential.refresh_from_db()
    assert credential.get_payload()["client_id"] == "cid"


def test_detail_shows_fields_masked_and_who_uses_it(
    viewer, workspace, login, api_key_credential, make_source, canary
):
    make_source("Payments").credentials.add(api_key_credential)
    response = login(viewer).get(url("detail", workspace, api_key_credential))
    assert response.status_code == 200
    assert MASK in response.text
    assert "Payments" in response.text
    assert canary not in response.text


def test_delete_asks_first_then_deletes(editor, workspace, login, api_key_credential):
    client = login(editor)
    confirm = client.get(url("delete", workspace, api_key_credential))
    assert confirm.status_code == 200
    assert "Delete credential" in confirm.text
    response = client.post(url("delete", workspace, api_key_credential))
    assert response.status_code == 302
    assert response["Location"] == url("list", workspace)
    assert not Credential.objects.filter(pk=api_key_credential.pk).exists()
    assert AuditEvent.objects.filter(action="credential.deleted").count() == 1


def test_delete_is_refused_naming_the_sources_that_use_it(
    editor, workspace, login, htmx_headers, api_key_credential, make_source
):
    make_source("Payments").credentials.add(api_key_credential)
    response = login(editor).post(
        url("delete", workspace, api_key_credential), headers=htmx_headers
    )
    assert response.status_code == 400
    assert "<html" not in response.text
    assert "is used by source “Payments”" in response.text
    assert Credential.objects.filter(pk=api_key_credential.pk).exists()


def test_list_shows_hints_and_usage(
    viewer, workspace, login, api_key_credential, make_source
):
    make_source("Payments").credentials.add(api_key_credential)
    response = login(viewer).get(url("list", workspace))
    assert response.status_code == 200
    assert "Stripe" in response.text
    assert "1 source, 0 destinations" in response.text
    assert "New credential" not in response.text


def test_list_search_fragment(
    viewer, workspace, login, htmx_headers, api_key_credential
):
    response = login(viewer).get(
        url("list", workspace), {"q": "nomatch"}, headers=htmx_headers
    )
    assert response.status_code == 200
    assert "<html" not in response.text
    assert "No credential matches" in response.text


@pytest.mark.parametrize("role", ["viewer", "runner"])
def test_viewer_and_runner_cannot_create_edit_or_delete(
    role, request, workspace, login, api_key_credential
):
    client = login(request.getfixturevalue(role))
    assert client.get(url("create", workspace)).status_code == 403
    post = {"name": "X", "type": "api_key", "api_key": "k"}
    assert client.post(url("create", workspace), post).status_code == 403
    assert client.get(url("type_fields", workspace)).status_code == 403
    edit = url("edit", workspace, api_key_credential)
    assert client.post(edit, {"name": "Hijacked", "api_key": "k"}).status_code == 403
    assert client.post(url("delete", workspace, api_key_credential)).status_code == 403
    assert Credential.objects.get().name == "Stripe"
    assert not Credential.objects.filter(name="X").exists()


def test_outsider_gets_404_everywhere(outsider, workspace, login, api_key_credential):
    client = login(outsider)
    for name in ("list", "create", "type_fields", "pair_row"):
        assert client.get(url(name, workspace)).status_code == 404
    for name in ("detail", "edit", "delete"):
        assert client.get(url(name, workspace, api_key_credential)).status_code == 404
    assert client.post(url("delete", workspace, api_key_credential)).status_code == 404
    assert Credential.objects.filter(pk=api_key_credential.pk).exists()


def test_another_workspaces_credential_is_404(outsider, login, api_key_credential):
    own_workspace = outsider.memberships.get().workspace
    client = login(outsider)
    response = client.get(url("detail", own_workspace, api_key_credential))
    assert response.status_code == 404


def test_anonymous_is_sent_to_login(client, workspace):
    response = client.get(url("list", workspace))
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]
