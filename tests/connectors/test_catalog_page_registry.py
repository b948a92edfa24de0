"""The catalog page with Airbyte's registry (#16): how each entry runs, filters,
icons, upgrades, spec errors and the last fetch, asserted on the rendered HTML."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.connectors.catalog import services
from apps.connectors.models import ConnectorDefinition, ConnectorInstall
from apps.workspaces.models import Workspace
from tests.connectors.registry_fixtures import (
    DEST_ID,
    DOCKER_ID,
    INLINE_SVG,
    MANIFEST_ID,
    PYPI_ID,
    closed_port_url,
    serve_registry,
)
from tests.http_files import FileServer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _icons_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path


@pytest.fixture
def server():
    with FileServer() as running:
        yield running


@pytest.fixture
def fetched(server):
    """The registry fetched and its icons cached, as the daily task leaves them."""
    url = serve_registry(server)
    fetch = services.catalog_fetch(actor=None, location=url)
    assert fetch.status == "succeeded", fetch.error
    services.catalog_icons_fetch(location=url)
    return fetch


def url(name: str, workspace, definition=None) -> str:
    args = [workspace.public_id] + ([definition.public_id] if definition else [])
    return reverse(f"connectors:{name}", args=args)


def _d(definition_id: str) -> ConnectorDefinition:
    return ConnectorDefinition.objects.get(definition_id=definition_id)


def _row(html: str, definition: ConnectorDefinition) -> str:
    found = re.search(
        rf'<tr id="connector-{definition.public_id}".*?</tr>', html, re.DOTALL
    )
    assert found, f"{definition.name} is not on the page"
    return found.group(0)


def _runs(html: str, definition: ConnectorDefinition) -> str:
    cell = re.search(
        r'data-testid="how-it-runs">(.*?)</td>', _row(html, definition), re.DOTALL
    )
    return re.sub(r"<[^>]+>", " ", cell.group(1)).split()


def test_each_entry_says_how_it_runs_on_this_host(
    viewer, workspace, login, fetched, settings
):
    settings.CONNECTOR_DOCKER = "off"

    html = login(viewer).get(url("catalog", workspace), {"q": "a"}).text

    assert _runs(html, _d(PYPI_ID)) == ["PyPI"]
    assert _runs(html, _d(MANIFEST_ID)) == ["Manifest"]
    assert " ".join(_runs(html, _d(DOCKER_ID))) == (
        "Docker Needs Docker on the worker host."
    )
    assert (
        "Connectors that run as a Docker image need Docker on the worker host: "
        "turned off (CONNECTOR_DOCKER=off)." in html
    )
    assert "Certified" in _row(html, _d(PYPI_ID))
    assert "Archived" in _row(html, _d(DEST_ID))
    assert 'href="https://docs.airbyte.com/integrations/sources/alpha"' in html


def test_a_workspace_on_the_airbyte_engine_sees_its_server(
    viewer, workspace, login, fetched
):
    Workspace.objects.filter(pk=workspace.pk).update(engine="airbyte")

    html = login(viewer).get(url("catalog", workspace), {"q": "a"}).text

    for definition_id in (PYPI_ID, MANIFEST_ID, DOCKER_ID, DEST_ID):
        assert " ".join(_runs(html, _d(definition_id))) == "On your Airbyte server"


@pytest.mark.parametrize(
    ("filters", "shown"),
    [
        ({"runs": "manifest"}, {"Beta Manifest"}),
        ({"runs": "pypi", "q": "alpha"}, {"Alpha Pypi"}),
        ({"runs": "docker"}, {"Gamma Docker", "Delta Destination"}),
        ({"runs": "docker", "kind": "destination"}, {"Delta Destination"}),
        ({"support": "archived"}, {"Delta Destination"}),
        ({"support": "certified"}, {"Alpha Pypi"}),
        ({"q": "gamma"}, {"Gamma Docker"}),
    ],
)
def test_search_and_filters_narrow_the_list(
    viewer,
    workspace,
    login,
    fetched,
    htmx_headers,
    filters,
    shown,
    django_assert_max_num_queries,
):
    client = login(viewer)

    with django_assert_max_num_queries(14):
        response = client.get(url("catalog", workspace), filters, headers=htmx_headers)

    assert "<html" not in response.text
    names = set(re.findall(r"<strong>(.*?)</strong>", response.text))
    assert names == shown


def test_the_airbyte_server_filter_lists_every_entry_with_an_image(
    viewer, workspace, login, fetched, htmx_headers
):
    response = login(viewer).get(
        url("catalog", workspace), {"runs": "airbyte", "q": "a"}, headers=htmx_headers
    )

    names = set(re.findall(r"<strong>(.*?)</strong>", response.text))
    assert {"Alpha Pypi", "Beta Manifest", "Gamma Docker", "Delta Destination"} <= (
        names
    )


def test_the_page_says_when_and_where_the_catalog_was_fetched(
    viewer, workspace, login, fetched
):
    html = login(viewer).get(url("catalog", workspace)).text

    assert "Last fetched" in html
    assert f"from {fetched.location}" in html


def test_a_failed_fetch_is_shown_with_the_last_good_one(
    viewer, workspace, login, fetched
):
    bad = closed_port_url()
    services.catalog_fetch(actor=None, location=bad)

    html = login(viewer).get(url("catalog", workspace)).text

    assert "The last registry fetch failed at" in html
    assert f"The registry at {bad} did not answer (connection refused)." in html
    assert "The catalog below is from the fetch of" in html
    assert f"from {fetched.location}." in html
    assert (
        "Gamma Docker"
        in login(viewer).get(url("catalog", workspace), {"q": "gamma"}).text
    )


def test_before_any_fetch_the_page_says_the_list_is_the_shipped_one(
    viewer, workspace, login
):
    html = login(viewer).get(url("catalog", workspace)).text

    assert "This is the list shipped with the console" in html


def test_the_icon_is_served_from_the_cache_and_never_fetched_by_a_page(
    viewer, workspace, login, fetched, server
):
    client = login(viewer)
    alpha = _d(PYPI_ID)

    page = client.get(url("catalog", workspace))
    first = client.get(url("catalog_icon", workspace, alpha))
    second = client.get(url("catalog_icon", workspace, alpha))

    assert url("catalog_icon", workspace, alpha) in page.text
    assert first.status_code == 200
    assert first["Content-Type"] == "image/svg+xml"
    assert b"#654321" in first.content and first.content == second.content
    # An SVG opened on its own runs nothing.
    assert "sandbox" in first["Content-Security-Policy"]
    assert "default-src 'none'" in first["Content-Security-Policy"]
    assert first["X-Content-Type-Options"] == "nosniff"
    assert server.requests.count("/icons/alpha.svg") == 1


def test_an_inline_svg_is_the_icon_without_a_download(
    viewer, workspace, login, fetched, server
):
    response = login(viewer).get(url("catalog_icon", workspace, _d(MANIFEST_ID)))

    assert response.content == INLINE_SVG.encode()
    assert "/icons/beta.svg" not in server.requests


def test_a_broken_icon_falls_back_to_initials(viewer, workspace, login, fetched):
    response = login(viewer).get(url("catalog_icon", workspace, _d(DOCKER_ID)))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert b">GD</text>" in response.content
    assert "sandbox" in response["Content-Security-Policy"]


def test_an_outsider_gets_no_icon(outsider, workspace, login, fetched):
    response = login(outsider).get(url("catalog_icon", workspace, _d(PYPI_ID)))

    assert response.status_code == 404


def test_an_upgrade_shows_when_the_registry_has_a_newer_version(
    viewer, workspace, login, fetched, server
):
    ConnectorInstall.objects.create(
        definition=_d(PYPI_ID), version="1.0.0", status="succeeded"
    )
    services.catalog_fetch(
        actor=None, location=serve_registry(server, alpha_version="1.2.0")
    )

    html = login(viewer).get(url("catalog", workspace), {"q": "alpha"}).text

    row = _row(html, _d(PYPI_ID))
    assert "Upgrade available: 1.2.0" in row
    assert "Installed 1.0.0" in row
    assert "airbyte-source-alpha==1.0.0" in row


def test_a_spec_probe_failure_is_shown_not_hidden(viewer, workspace, login, fetched):
    ConnectorDefinition.objects.filter(definition_id=PYPI_ID).update(
        spec_error="source-alpha needs Python < 3.11 (found 3.12)."
    )

    html = login(viewer).get(url("catalog", workspace), {"q": "alpha"}).text

    row = _row(html, _d(PYPI_ID))
    assert "does not start on this host" in row
    assert "source-alpha needs Python &lt; 3.11 (found 3.12)." in row


def test_staff_install_a_manifest_only_connector_through_the_same_flow(
    staff, workspace, login, fetched, monkeypatch
):
    from apps.connectors.tasks import connector_install_task

    monkeypatch.setattr(connector_install_task, "delay", lambda pk: None)
    beta = _d(MANIFEST_ID)
    client = login(staff)

    row = client.get(
        url("catalog_row", workspace, beta), headers={"HX-Request": "true"}
    )
    response = client.post(url("catalog_install", workspace, beta))

    assert ">Install<" in row.text
    assert response.status_code == 302
    install = ConnectorInstall.objects.get(definition=beta)
    assert install.version == "0.2.0"


def test_a_long_catalog_is_paginated(viewer, workspace, login, server, htmx_headers):
    services.catalog_fetch(actor=None, location=serve_registry(server, extra=60))
    client = login(viewer)

    first = client.get(url("catalog", workspace), {"q": "extra"})
    second = client.get(
        url("catalog", workspace), {"q": "extra", "page": 2}, headers=htmx_headers
    )

    assert first.text.count('data-testid="connector-row"') == 50
    assert "60 connectors match" in first.text
    assert "Page 1 of 2" in first.text
    assert "?q=extra&page=2" in first.text
    assert second.text.count('data-testid="connector-row"') == 10
    assert "Extra 059" in second.text and "Extra 000" not in second.text


def test_staff_fetch_the_registry_now_on_a_worker(
    staff,
    workspace,
    login,
    server,
    settings,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    from apps.audit.models import AuditEvent
    from apps.connectors.models import RegistryFetch
    from apps.connectors.tasks import registry_fetch_task

    settings.CONNECTOR_REGISTRY_URL = serve_registry(server)
    queued: list[dict] = []
    monkeypatch.setattr(registry_fetch_task, "delay", lambda **kw: queued.append(kw))
    client = login(staff)

    page = client.get(url("catalog", workspace))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("catalog_refresh", workspace), follow=True)

    assert "Fetch the registry now" in page.text
    assert queued == [{"user_id": staff.pk}]
    assert "Fetching the registry from" in response.text
    assert settings.CONNECTOR_REGISTRY_URL in response.text
    # What the worker then does, in the name of whoever asked.
    registry_fetch_task(**queued[0])
    fetch = RegistryFetch.objects.get()
    assert (fetch.status, fetch.requested_by) == ("succeeded", staff)
    assert AuditEvent.objects.get(action="catalog.refresh").actor == staff
    assert "Last fetched" in client.get(url("catalog", workspace)).text


def test_fetch_now_without_a_registry_url_says_what_to_set(
    staff, workspace, login, monkeypatch
):
    from apps.connectors.tasks import registry_fetch_task

    queued: list[dict] = []
    monkeypatch.setattr(registry_fetch_task, "delay", lambda **kw: queued.append(kw))

    response = login(staff).post(url("catalog_refresh", workspace), follow=True)

    assert "CONNECTOR_REGISTRY_URL is empty" in response.text
    assert queued == []


def test_members_who_are_not_staff_see_no_fetch_button(viewer, admin, workspace, login):
    for user in (viewer, admin):
        client = login(user)
        assert (
            "Fetch the registry now" not in client.get(url("catalog", workspace)).text
        )
        assert client.post(url("catalog_refresh", workspace)).status_code == 403
