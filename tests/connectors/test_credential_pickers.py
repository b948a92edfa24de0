"""Credential pickers on a connector form: labelled, only the types that fit the
field, and a database login brings its host, port, database and user."""

from __future__ import annotations

import html
import json
import re

from django.urls import reverse

from apps.connectors.spec.credential_pick import types_for_secret
from apps.credentials.services import credential_create
from tests.engines.fixtures import POSTGRES_ID, definition


def _credentials(workspace, admin):
    login = credential_create(
        actor=admin,
        workspace=workspace,
        name="Warehouse login",
        type="database",
        fields={
            "host": "db.example.test",
            "port": 6432,
            "database": "analytics",
            "username": "loader",
            "password": "pw-1",
        },
        allowed_hosts="db.example.test",
    )
    key = credential_create(
        actor=admin,
        workspace=workspace,
        name="Stripe key",
        type="api_key",
        fields={"api_key": "sk_live_0123456789abcdef"},
    )
    oauth = credential_create(
        actor=admin,
        workspace=workspace,
        name="Google app",
        type="oauth2",
        fields={"client_id": "cid", "client_secret": "cs"},
    )
    return login, key, oauth


def test_password_picker_is_labelled_filtered_and_fills_the_login(
    editor, admin, workspace, login
):
    db_login, key, oauth = _credentials(workspace, admin)
    page = login(editor).get(
        reverse("connectors:destination_create", args=[workspace.public_id]),
        {"definition": definition(POSTGRES_ID).public_id},
    )
    assert page.status_code == 200
    text = page.text
    select = re.search(
        r'<select name="cfg__password__credential"[^>]*>(.*?)</select>', text, re.S
    )
    assert select is not None
    label = re.search(
        r'<label for="id_cfg__password__credential">([^<]*)</label>', text
    )
    # A visible label (not only for screen readers).
    assert label is not None and "stored credential" in label.group(1)
    assert 'data-credential-for="/password"' in select.group(0)
    options = {
        value: (attrs, html.unescape(body))
        for value, attrs, body in re.findall(
            r'<option value="([^"]*)"([^>]*)>([^<]*)</option>', select.group(1)
        )
    }
    # Only logins fit a password: the API key and the OAuth client are left out.
    assert str(db_login.public_id) in options
    assert str(key.public_id) not in options and str(oauth.public_id) not in options
    attrs, body = options[str(db_login.public_id)]
    assert "loader@db.example.test:6432/analytics" in body
    fill = re.search(r'data-fill="([^"]*)"', attrs).group(1)
    assert json.loads(html.unescape(fill)) == {
        "database": "analytics",
        "host": "db.example.test",
        "port": 6432,
        "username": "loader",
    }
    # The password itself never reaches the page.
    assert "pw-1" not in text


def test_each_secret_field_takes_the_credential_types_that_fit_it():
    assert types_for_secret("api_key") == ("api_key", "oauth2", "generic")
    assert types_for_secret("client_secret") == ("oauth2", "generic")
    assert types_for_secret("tunnel_user_password") == (
        "database",
        "basic_auth",
        "generic",
    )
    assert types_for_secret("private_thing") is None
