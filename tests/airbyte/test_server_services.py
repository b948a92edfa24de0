"""Setting a server up: addresses and ids refused with a reason, audits that tell."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.airbyte import services
from apps.audit.models import AuditEvent


def _save(workspace, admin, **fields):
    values = {
        "url": "http://127.0.0.1:9",
        "auth": "application",
        "client_id": "console",
        "client_secret": "first-secret",
        **fields,
    }
    return services.server_save(actor=admin, workspace=workspace, **values)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://a..b:8000", "Enter the server's address"),
        ("http://host:port", "Enter the server's address"),
        ("localhost:8000", "Enter the server's address"),
        ("http://bob:pw@127.0.0.1:8000", "Leave the user name and password out"),
    ],
)
def test_a_bad_address_is_refused_beside_the_field(workspace, admin, url, says):
    with pytest.raises(ValidationError) as caught:
        _save(workspace, admin, url=url)
    assert says in " ".join(caught.value.message_dict["url"])


def test_a_replaced_secret_is_audited_by_name_never_by_value(workspace, admin):
    _save(workspace, admin)
    _save(workspace, admin, client_secret="second-secret")
    event = AuditEvent.objects.filter(action="airbyte_server.saved").latest("id")
    assert event.changes == {"replaced": [None, ["client_secret"]]}
    _save(workspace, admin, auth="none")
    event = AuditEvent.objects.filter(action="airbyte_server.saved").latest("id")
    assert event.changes["sign_in"] == ["application", "none"]
    assert "second-secret" not in str(list(AuditEvent.objects.values("changes")))


def test_a_workspace_id_that_is_not_one_is_refused_without_asking(
    airbyte_fake, workspace, admin
):
    server = _save(
        workspace,
        admin,
        url=airbyte_fake.url,
        client_id=airbyte_fake.client_id,
        client_secret=airbyte_fake.client_secret,
    )
    with pytest.raises(ValidationError) as caught:
        services.remote_workspace_choose(
            actor=admin, server=server, remote_workspace_id="../health"
        )
    assert caught.value.message_dict["remote_workspace_id"] == [
        "That is not an Airbyte workspace id."
    ]
    assert airbyte_fake.calls("GET", "/api/public/v1/workspaces/*") == []


def test_a_workspace_on_the_server_cannot_be_moved_to_another_server(
    airbyte_workspace, admin
):
    with pytest.raises(ValidationError) as caught:
        _save(airbyte_workspace, admin, url="http://127.0.0.1:9", client_secret="")
    assert "Switch the workspace to the embedded engine" in " ".join(
        caught.value.message_dict["url"]
    )
