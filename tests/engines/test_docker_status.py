"""Whether Docker answers is a worker's finding, recorded; the web never asks itself.

The catalog page and the source forms run in the web process, which may be on a
host with no Docker at all, and where nothing slow (a subprocess) may run in a
request. Workers ask their own daemon, on start and from the reaper every minute,
and record the answer; the page shows the newest record, when and where it was
made. ``tests/engines/stand_in_docker`` records every ``docker`` call, so a call
made during a request shows.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import socket
import tempfile
import time

import pytest
import time_machine
from celery.signals import worker_ready
from django.urls import reverse

from apps.connections.tasks import sync_reaper_task
from apps.connectors.catalog import services
from apps.connectors.catalog.selectors import installed_versions
from apps.connectors.models import ConnectorDefinition, ConnectorInstall
from apps.engines import registry
from apps.engines.embedded.engine import EmbeddedEngine
from apps.engines.models import RuntimeStatus
from apps.engines.runtime_status import runtime_status_record
from tests.connectors.registry_fixtures import DOCKER_ID, serve_registry
from tests.engines.stand_in_docker import stand_in_docker_fixture  # noqa: F401
from tests.http_files import FileServer

pytestmark = pytest.mark.django_db

SPEC = {
    "connectionSpecification": {
        "type": "object",
        "properties": {"api_key": {"type": "string", "title": "API key"}},
    }
}


@pytest.fixture(autouse=True)
def _icons_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path


@pytest.fixture(autouse=True)
def _no_earlier_reports(request):
    """Start from "no worker has reported": a real worker an earlier test of this
    xdist worker started (or its reaper) may have recorded this host's Docker."""
    if "django_db" in {m.name for m in request.node.iter_markers()}:
        request.getfixturevalue("_django_db_helper")
        RuntimeStatus.objects.all().delete()


@pytest.fixture
def gamma(settings):
    """The registry's Docker-only source ("Gamma Docker", airbyte/source-gamma)."""
    with FileServer() as server:
        fetch = services.catalog_fetch(actor=None, location=serve_registry(server))
    assert fetch.status == "succeeded", fetch.error
    return ConnectorDefinition.objects.get(definition_id=DOCKER_ID)


def catalog(client, workspace) -> str:
    response = client.get(
        reverse("connectors:catalog", args=[workspace.public_id]), {"q": "gamma"}
    )
    assert response.status_code == 200
    return response.text


def docker_notice(text: str) -> str:
    found = re.search(r'data-testid="docker-missing">(.*?)</p>', text, re.DOTALL)
    return html.unescape(found.group(1)) if found else ""


def new_source(client, workspace, definition):
    return client.get(
        reverse("connectors:source_create", args=[workspace.public_id]),
        {"definition": str(definition.public_id)},
    )


# -- the web starts no docker process -----------------------------------------------


def test_the_catalog_page_runs_no_docker_command(
    viewer, workspace, login, gamma, stand_in_docker
):
    page = catalog(login(viewer), workspace)

    assert "Gamma Docker" in page
    assert stand_in_docker.calls() == []
    # No worker has said yet whether Docker answers on its host.
    assert docker_notice(page) == (
        "Connectors that run as a Docker image need Docker on the worker host: "
        "not checked yet (no worker has reported whether it can run them)."
    )


def test_the_new_source_form_runs_no_docker_command(
    editor, workspace, login, gamma, stand_in_docker
):
    stand_in_docker.add_image("airbyte/source-gamma:2.0.0")
    client = login(editor)

    not_installed = new_source(client, workspace, gamma)

    assert not_installed.status_code == 200
    assert stand_in_docker.calls() == []

    # Installed on a worker: the install row and the spec it stored are what the
    # form goes by.
    ConnectorInstall.objects.create(
        definition=gamma,
        operation=ConnectorInstall.Operation.INSTALL,
        version="2.0.0",
        status=ConnectorInstall.Status.SUCCEEDED,
    )
    registry.spec_store().put(gamma.ref, SPEC)

    form = new_source(client, workspace, gamma)

    assert form.status_code == 200
    assert "API key" in form.text
    assert stand_in_docker.calls() == []


def test_installed_versions_of_an_image_come_from_the_install_rows(
    workspace, gamma, stand_in_docker
):
    # The image is on the (stand-in) daemon, but no install of the console's put
    # it there: the web does not ask the daemon, so it is not offered.
    stand_in_docker.add_image("airbyte/source-gamma:2.0.0")
    assert installed_versions(definition=gamma, workspace=workspace) == []
    ConnectorInstall.objects.create(
        definition=gamma,
        operation=ConnectorInstall.Operation.INSTALL,
        version="2.0.0",
        status=ConnectorInstall.Status.SUCCEEDED,
    )

    assert installed_versions(definition=gamma, workspace=workspace) == ["2.0.0"]
    assert stand_in_docker.calls() == []


# -- workers record, the page shows --------------------------------------------------


def test_a_worker_without_docker_is_named_on_the_catalog_page(
    viewer, workspace, login, gamma, stand_in_docker
):
    stand_in_docker.daemon(up=False)
    with time_machine.travel(dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)):
        EmbeddedEngine.record_runtime_status()  # on the worker
    worker_calls = len(stand_in_docker.calls())

    page = catalog(login(viewer), workspace)

    assert worker_calls == 1  # `docker version`, on the worker
    assert len(stand_in_docker.calls()) == worker_calls  # none from the page
    assert docker_notice(page) == (
        "Connectors that run as a Docker image need Docker on the worker host: "
        "no Docker daemon answers at unix:///var/run/docker.sock (checked "
        f"2026-03-01 09:30 UTC on {socket.gethostname()})."
    )
    row = RuntimeStatus.objects.get()
    assert (row.runtime, row.available) == ("docker", False)


def test_the_newest_record_wins(viewer, workspace, login, gamma, stand_in_docker):
    with time_machine.travel(dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)):
        runtime_status_record(
            runtime="docker", available=True, reason="", host="worker-a"
        )
    with time_machine.travel(dt.datetime(2026, 3, 1, 9, 5, tzinfo=dt.UTC)):
        runtime_status_record(
            runtime="docker",
            available=False,
            reason="no Docker daemon answers at tcp://10.0.0.5:2375",
            host="worker-b",
        )

    page = catalog(login(viewer), workspace)

    assert docker_notice(page) == (
        "Connectors that run as a Docker image need Docker on the worker host: "
        "no Docker daemon answers at tcp://10.0.0.5:2375 (checked 2026-03-01 "
        "09:05 UTC on worker-b)."
    )
    with time_machine.travel(dt.datetime(2026, 3, 1, 9, 6, tzinfo=dt.UTC)):
        runtime_status_record(
            runtime="docker", available=True, reason="", host="worker-a"
        )

    page = catalog(login(viewer), workspace)

    assert docker_notice(page) == ""
    assert "Needs Docker on the worker host" not in page
    assert RuntimeStatus.objects.count() == 2  # one row per host, updated
    assert stand_in_docker.calls() == []


def test_the_reaper_records_what_docker_says_every_run(
    viewer, workspace, login, gamma, stand_in_docker, tmp_path, monkeypatch
):
    # The reaper's sweep of dead workers' files stays in this test's folder.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stand_in_docker.daemon(up=False, denied=True)

    sync_reaper_task()

    assert "refused the console's user" in docker_notice(
        catalog(login(viewer), workspace)
    )
    stand_in_docker.daemon(up=True)

    sync_reaper_task()

    assert docker_notice(catalog(login(viewer), workspace)) == ""
    assert RuntimeStatus.objects.get().available


def test_a_worker_that_starts_records_docker_at_once(stand_in_docker):
    worker_ready.send(sender=None)

    row = RuntimeStatus.objects.get()
    assert (row.runtime, row.host, row.available) == (
        "docker",
        socket.gethostname(),
        True,
    )
    assert stand_in_docker.calls_of("version")


def test_turned_off_is_said_without_any_worker(
    viewer, workspace, login, gamma, stand_in_docker, settings
):
    settings.CONNECTOR_DOCKER = "off"

    page = catalog(login(viewer), workspace)

    assert docker_notice(page) == (
        "Connectors that run as a Docker image need Docker on the worker host: "
        "turned off (CONNECTOR_DOCKER=off)."
    )
    assert stand_in_docker.calls() == []


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_records_docker_when_it_starts(
    worker, viewer, workspace, login, gamma, stand_in_docker
):
    """A Celery worker process (the stand-in docker on its PATH) reports at start."""
    before = catalog(login(viewer), workspace)
    assert "not checked yet" in docker_notice(before)

    process = worker("docker-reporter")
    deadline = time.monotonic() + 90
    while not RuntimeStatus.objects.exists():
        assert process.poll() is None, "the worker exited"
        assert time.monotonic() < deadline, "no worker reported within 90 s"
        time.sleep(0.5)

    row = RuntimeStatus.objects.get()
    assert (row.runtime, row.available, row.reason) == ("docker", True, "")
    assert stand_in_docker.calls_of("version")  # asked by the worker
    page = catalog(login(viewer), workspace)
    assert docker_notice(page) == ""
    assert "Needs Docker on the worker host" not in page
