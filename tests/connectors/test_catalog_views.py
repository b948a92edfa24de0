"""The catalog page: roles, htmx filtering, install buttons and progress polling.

Installing, upgrading and uninstalling are for console staff (``staff`` in
tests/connectors/conftest.py); workspace roles see the catalog only.
"""

from __future__ import annotations

import pytest
from django.urls import include, path, reverse

from airbyte_console import urls as root_urls
from apps.audit.models import AuditEvent
from apps.connectors import urls as connector_urls
from apps.connectors.catalog import urls as catalog_urls
from apps.connectors.models import ConnectorDefinition, ConnectorInstall
from apps.connectors.tasks import connector_install_task
from tests.engines.fixtures import FAKER_ID, POSTGRES_ID, definition

# Until apps/connectors/urls.py includes the catalog, this module mounts it the same
# way (``connectors`` namespace under ``w/<workspace_id>/``) for its own tests.
_connector_patterns = list(connector_urls.urlpatterns) + [
    p for p in catalog_urls.urlpatterns if p not in connector_urls.urlpatterns
]
urlpatterns = [
    p for p in root_urls.urlpatterns if getattr(p, "namespace", None) != "connectors"
] + [path("w/<uuid:workspace_id>/", include((_connector_patterns, "connectors")))]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def url(name: str, workspace, definition=None) -> str:
    args = [workspace.public_id] + ([definition.public_id] if definition else [])
    return reverse(f"connectors:{name}", args=args)


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    queued: list[int] = []
    monkeypatch.setattr(connector_install_task, "delay", queued.append)
    return queued


def test_viewer_sees_the_catalog_without_buttons(viewer, workspace, login):
    response = login(viewer).get(url("catalog", workspace))

    assert response.status_code == 200
    assert "Sample Data (Faker)" in response.text
    assert "PostgreSQL" in response.text
    assert "Not installed" in response.text
    assert ">Install<" not in response.text
    assert "Change version" not in response.text


def test_staff_sees_install_buttons(staff, workspace, login):
    response = login(staff).get(url("catalog", workspace))

    assert ">Install<" in response.text
    assert "Change version" in response.text


def test_workspace_admin_and_editor_see_the_catalog_without_buttons(
    admin, editor, workspace, login
):
    for user in (admin, editor):
        response = login(user).get(url("catalog", workspace))

        assert response.status_code == 200
        assert "Sample Data (Faker)" in response.text
        assert ">Install<" not in response.text
        assert "Change version" not in response.text
        assert "console staff install and upgrade connectors" in response.text


def test_outsider_gets_404(outsider, workspace, login):
    faker = definition(FAKER_ID)
    client = login(outsider)

    assert client.get(url("catalog", workspace)).status_code == 404
    assert client.post(url("catalog_install", workspace, faker)).status_code == 404
    assert client.post(url("catalog_uninstall", workspace, faker)).status_code == 404


def test_viewer_and_runner_cannot_install_or_uninstall(
    viewer, runner, workspace, login
):
    faker = definition(FAKER_ID)

    for user in (viewer, runner):
        client = login(user)
        assert client.post(url("catalog_install", workspace, faker)).status_code == 403
        assert (
            client.post(url("catalog_uninstall", workspace, faker)).status_code == 403
        )
    assert not ConnectorInstall.objects.exists()


def test_search_and_filters_return_only_the_rows_for_htmx(
    viewer, workspace, login, htmx_headers, django_assert_max_num_queries
):
    client = login(viewer)

    with django_assert_max_num_queries(12):
        by_name = client.get(
            url("catalog", workspace), {"q": "fake"}, headers=htmx_headers
        )
    by_stage = client.get(
        url("catalog", workspace),
        {"stage": "generally_available"},
        headers=htmx_headers,
    )
    by_kind = client.get(
        url("catalog", workspace), {"kind": "destination"}, headers=htmx_headers
    )
    nothing = client.get(url("catalog", workspace), {"q": "zzz"}, headers=htmx_headers)

    assert "<html" not in by_name.text
    assert by_name.text.count('data-testid="connector-row"') == 1
    assert "Sample Data (Faker)" in by_name.text
    assert "File (CSV" in by_stage.text and "PostgreSQL" in by_stage.text
    assert "Sample Data (Faker)" not in by_stage.text
    assert (
        by_kind.text.count('data-testid="connector-row"')
        == ConnectorDefinition.objects.filter(kind="destination").count()
    )
    assert "Sample Data (Faker)" not in by_kind.text
    assert "No connector matches these filters." in nothing.text


def test_staff_installs_with_htmx_and_the_row_starts_polling(
    staff, workspace, login, htmx_headers, sent, django_capture_on_commit_callbacks
):
    faker = definition(FAKER_ID)

    with django_capture_on_commit_callbacks(execute=True):
        response = login(staff).post(
            url("catalog_install", workspace, faker), headers=htmx_headers
        )

    install = ConnectorInstall.objects.get(definition=faker)
    assert response.status_code == 200
    assert "<html" not in response.text
    assert 'hx-trigger="every 2s"' in response.text
    assert "Installing 7.2.1" in response.text
    assert sent == [install.pk]
    event = AuditEvent.objects.get(action="connector.install")
    assert event.actor == staff
    assert event.workspace is None  # The catalog is console-wide.
    assert "toast" in response.headers.get("HX-Trigger", "")


def test_change_version_installs_the_typed_version(staff, workspace, login, sent):
    faker = definition(FAKER_ID)

    response = login(staff).post(
        url("catalog_install", workspace, faker), {"version": "7.1.0"}
    )

    assert response.status_code == 302
    assert ConnectorInstall.objects.get(definition=faker).version == "7.1.0"


def test_a_bad_version_is_refused_with_400(staff, workspace, login, htmx_headers, sent):
    faker = definition(FAKER_ID)

    response = login(staff).post(
        url("catalog_install", workspace, faker),
        {"version": "--index-url=x"},
        headers=htmx_headers,
    )

    assert response.status_code == 400
    assert "is not a valid version" in response.headers["HX-Trigger"]
    assert not ConnectorInstall.objects.exists()


def test_builtin_destination_has_no_install_button(
    staff, workspace, login, htmx_headers
):
    postgres = definition(POSTGRES_ID)

    row = login(staff).get(
        url("catalog_row", workspace, postgres), headers=htmx_headers
    )
    refused = login(staff).post(
        url("catalog_install", workspace, postgres), headers=htmx_headers
    )

    assert "Ready" in row.text
    assert ">Install<" not in row.text
    assert refused.status_code == 400


def test_row_polls_while_running_and_stops_with_the_log_when_done(
    viewer, workspace, login, htmx_headers
):
    faker = definition(FAKER_ID)
    install = ConnectorInstall.objects.create(
        definition=faker,
        version="7.2.1",
        status="running",
        phase="Collecting airbyte-cdk",
        log="Collecting airbyte-source-faker==7.2.1\nCollecting airbyte-cdk",
    )
    client = login(viewer)

    running = client.get(url("catalog_row", workspace, faker), headers=htmx_headers)
    install.status = "succeeded"
    install.log += "\nSuccessfully installed airbyte-source-faker-7.2.1"
    install.save()
    done = client.get(url("catalog_row", workspace, faker), headers=htmx_headers)

    assert 'hx-trigger="every 2s"' in running.text
    assert "Collecting airbyte-cdk" in running.text
    assert "<html" not in running.text
    assert "hx-trigger" not in done.text.split("<td")[0]
    assert "Installed 7.2.1" in done.text
    assert "Successfully installed airbyte-source-faker-7.2.1" in done.text


def test_failed_install_shows_its_error(viewer, workspace, login):
    faker = definition(FAKER_ID)
    ConnectorInstall.objects.create(
        definition=faker,
        version="999.0.0",
        status="failed",
        error="Version 999.0.0 of airbyte-source-faker does not exist.",
    )

    response = login(viewer).get(url("catalog", workspace))

    assert "Install of 999.0.0 failed: Version 999.0.0" in response.text


def test_staff_uninstalls(staff, workspace, login, htmx_headers, sent):
    faker = definition(FAKER_ID)
    ConnectorInstall.objects.create(
        definition=faker, version="7.2.1", status="succeeded"
    )

    response = login(staff).post(
        url("catalog_uninstall", workspace, faker), headers=htmx_headers
    )

    assert response.status_code == 200
    assert "Uninstalling" in response.text
    assert ConnectorInstall.objects.filter(operation="uninstall").count() == 1
    assert AuditEvent.objects.filter(action="connector.uninstall").exists()
