"""Walk every credentials page and fragment as admin: the canary secret never shows.

Credentials of every type are stored with the canary in each secret field, then every
page, fragment, error re-render, audit row and CLI output is searched for it.
"""

from __future__ import annotations

import json

from django.core.management import call_command
from django.urls import reverse

from apps.audit.models import AuditEvent
from apps.core.masking import MASK
from apps.credentials.models import Credential
from apps.credentials.types import CREDENTIAL_TYPES

SECRET_FIELDS = {
    "api_key": {"api_key": "sk_{c}"},
    "basic_auth": {"username": "bob", "password": "pw_{c}"},
    "oauth2": {
        "client_id": "cid",
        "client_secret": "cs_{c}",
        "refresh_token": "rt_{c}",
        "token_url": "https://auth.example.com/token",
    },
    "database": {
        "host": "db.example.com",
        "port": "5432",
        "database": "app",
        "username": "loader",
        "password": "db_{c}",
    },
}


def test_no_page_fragment_audit_row_or_cli_output_shows_a_secret(
    admin, workspace, login, make_source, canary, capsys
):
    client = login(admin)
    hx = {"HX-Request": "true"}
    ws = workspace.public_id

    for type_value, fields in SECRET_FIELDS.items():
        data = {k: v.format(c=canary) for k, v in fields.items()}
        response = client.post(
            reverse("credentials:create", args=[ws]),
            {"name": f"My {type_value}", "type": type_value, **data},
        )
        assert response.status_code == 302, response.text
    client.post(
        reverse("credentials:create", args=[ws]),
        {
            "name": "My generic",
            "type": "generic",
            "pair_key": ["TOKEN", "SECOND"],
            "pair_value": [f"g_{canary}", f"g2_{canary}"],
        },
    )
    credentials = list(Credential.objects.filter(workspace=workspace))
    assert len(credentials) == len(CREDENTIAL_TYPES)
    make_source("Uses it").credentials.add(credentials[0])

    responses = []
    get = [(reverse("credentials:list", args=[ws]), {})]
    get += [
        (reverse("credentials:create", args=[ws]), {"type": t})
        for t in CREDENTIAL_TYPES
    ]
    get += [
        (reverse("credentials:type_fields", args=[ws]), {"type": t})
        for t in CREDENTIAL_TYPES
    ]
    get.append((reverse("credentials:pair_row", args=[ws]), {}))
    for credential in credentials:
        for name in ("detail", "edit", "delete"):
            get.append(
                (reverse(f"credentials:{name}", args=[ws, credential.public_id]), {})
            )
    get.append((reverse("audit:list", args=[ws]), {}))
    for path, params in get:
        for headers in ({}, hx):
            response = client.get(path, params, headers=headers)
            assert response.status_code in (200, 302), path
            responses.append(response)

    for credential in credentials:
        edit = reverse("credentials:edit", args=[ws, credential.public_id])
        spec = CREDENTIAL_TYPES[credential.type]
        # An invalid post (empty name) re-renders the form with the stored values.
        if spec.key_value:
            body = {"name": "", "pair_key": ["TOKEN"], "pair_value": [MASK]}
        else:
            body = {"name": ""} | {
                f.name: (MASK if f.secret else "x")
                for f in spec.fields
                if f.kind != "port"
            }
        responses.append(client.post(edit, body, headers=hx))
        # A valid post with every secret as the mask keeps them all.
        body["name"] = credential.name + " renamed"
        if credential.type == "oauth2":
            body["token_url"] = "https://auth.example.com/t2"
        responses.append(client.post(edit, body, headers=hx))
        delete = reverse("credentials:delete", args=[ws, credential.public_id])
        responses.append(client.post(delete, headers=hx))

    for response in responses:
        assert canary not in response.content.decode(), response.request["PATH_INFO"]
        assert canary not in json.dumps(dict(response.headers))

    # The mask round trip above kept every stored secret.
    remaining = Credential.objects.get(pk=credentials[0].pk)
    assert canary in json.dumps(remaining.get_payload())

    assert AuditEvent.objects.filter(action__startswith="credential.").count() >= 9
    assert canary not in json.dumps(list(AuditEvent.objects.values()), default=str)

    capsys.readouterr()
    call_command(
        "airbyte", "credentials", "list", "--workspace", str(ws), "--as", admin.email
    )
    call_command(
        "airbyte",
        "credentials",
        "list",
        "--workspace",
        str(ws),
        "--as",
        admin.email,
        "--json",
    )
    out = capsys.readouterr()
    assert "My api_key" in out.out or "renamed" in out.out
    assert canary not in out.out + out.err
