"""A source's or destination's page lists its settings by the spec's titles."""

from __future__ import annotations

import re

from django.urls import reverse

from apps.connectors import services as connector_services
from apps.connectors.spec.display import settings_rows
from tests.engines.fixtures import POSTGRES_ID, definition

SPEC = {
    "connectionSpecification": {
        "type": "object",
        "properties": {
            "ssl_mode": {"type": "string", "title": "SSL mode", "order": 2},
            "host": {"type": "string", "title": "Host", "order": 0},
            "api_key": {"type": "string", "title": "API key", "airbyte_secret": True},
            "provider": {
                "type": "object",
                "title": "Storage provider",
                "oneOf": [
                    {
                        "title": "Local file",
                        "properties": {
                            "storage": {"type": "string", "const": "local"},
                            "path": {"type": "string", "title": "File path"},
                        },
                    },
                    {
                        "title": "S3 bucket",
                        "properties": {
                            "storage": {"type": "string", "const": "s3"},
                            "bucket": {"type": "string", "title": "Bucket"},
                        },
                    },
                ],
            },
            "tags": {"type": "array", "title": "Tags"},
        },
    }
}


def test_rows_use_titles_options_and_hide_secrets():
    rows = settings_rows(
        {
            "host": "db.example.test",
            "ssl_mode": "require",
            "provider": {"storage": "local", "path": "/data/x.csv"},
            "tags": ["a", "b"],
        },
        SPEC,
        secret_pointers={"/api_key"},
    )
    shown = [(r.label, r.text) for r in rows]
    assert ("Host", "db.example.test") in shown
    assert ("SSL mode", "require") in shown
    assert ("Storage provider", "Local file") in shown
    assert ("Storage provider / File path", "/data/x.csv") in shown
    assert ("Tags", "a, b") in shown
    assert ("API key", "set (hidden)") in shown
    # The spec's order comes first; the discriminator is the option's title row.
    assert shown[0][0] == "Host"
    assert not any(label.lower() == "storage" for label, _ in shown)


def test_destination_page_shows_titles_not_keys_or_pointers(admin, workspace, login):
    destination = connector_services.connector_create(
        actor=admin,
        workspace=workspace,
        kind="destination",
        name="Warehouse",
        definition=definition(POSTGRES_ID),
        config={
            "host": "db.example.test",
            "port": 5432,
            "database": "analytics",
            "username": "loader",
            "ssl_mode": "require",
        },
        secrets={"/password": "pw-canary-123"},
    )
    response = login(admin).get(
        reverse(
            "connectors:destination_detail",
            args=[workspace.public_id, destination.public_id],
        )
    )
    html = response.content.decode()
    settings = re.search(r"<h2>Settings</h2>(.*?)</section>", html, flags=re.S)[1]
    assert "<dt>SSL mode</dt><dd>require</dd>" in settings
    assert "<dt>Password</dt>" in settings and "set (hidden)" in settings
    assert "ssl_mode" not in settings and "/password" not in settings
    assert "pw-canary-123" not in html
