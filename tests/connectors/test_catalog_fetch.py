"""Fetching the registry (#16): over real HTTP on 127.0.0.1, by the CLI and the task.

A local server plays Airbyte's registry and CDN. What a user notices: the catalog
gains each connector with how it runs; a registry that does not answer, answers an
error or garbage changes nothing and says so; the CLI exits non-zero on failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import apps.connectors.catalog.cli  # noqa: F401  (registers the connectors group)
from airbyte_console.celery import app as celery_app
from apps.audit.models import AuditEvent
from apps.connectors.catalog import services
from apps.connectors.models import ConnectorDefinition, ConnectorInstall, RegistryFetch
from apps.connectors.tasks import registry_fetch_task
from apps.engines import registry as engine_registry
from tests.connectors.registry_fixtures import (
    DEST_ID,
    DOCKER_ID,
    MANIFEST_ID,
    PYPI_ID,
    REGISTRY_PATH,
    airbyte_registry,
    closed_port_url,
    serve_registry,
    silent_server,
)
from tests.engines.fixtures import POSTGRES_ID
from tests.http_files import FileServer

pytestmark = pytest.mark.django_db

AS = ("--as", "staff@acme.test")


@pytest.fixture(autouse=True)
def _icons_in_tmp(settings, tmp_path):
    settings.DATA_DIR = tmp_path


@pytest.fixture
def server():
    with FileServer() as running:
        yield running


def _catalog() -> dict[str, tuple]:
    return {
        str(d.definition_id): (d.name, d.pypi_version, d.latest_version)
        for d in ConnectorDefinition.objects.all()
    }


def test_a_fetch_merges_each_way_of_running_and_skips_a_malformed_entry(server):
    url = serve_registry(server)

    fetch = services.catalog_fetch(actor=None, location=url)

    assert fetch.status == RegistryFetch.Status.SUCCEEDED, fetch.error
    # The four usable entries and the destinations the console writes itself.
    assert fetch.entries == 4 + len(engine_registry.destinations())
    assert fetch.report["added"] == [
        "Alpha Pypi",
        "Beta Manifest",
        "Gamma Docker",
        "Delta Destination",
    ]
    assert fetch.report["skipped"] == [
        "sources[3]: `sourceDefinitionId` must be a UUID."
    ]
    alpha = ConnectorDefinition.objects.get(definition_id=PYPI_ID)
    assert (alpha.pypi_package, alpha.pypi_version) == ("airbyte-source-alpha", "1.0.0")
    assert alpha.support_level == "certified"
    assert alpha.icon_url == server.url("/icons/alpha.svg")
    assert alpha.ref.runtime == "pypi"
    beta = ConnectorDefinition.objects.get(definition_id=MANIFEST_ID)
    # pypi.enabled false: no package; the manifest's version is the image tag.
    assert (beta.manifest_only, beta.pypi_package, beta.pypi_version) == (
        True,
        "",
        "0.2.0",
    )
    assert beta.ref.runtime == "manifest"
    assert beta.is_installable
    gamma = ConnectorDefinition.objects.get(definition_id=DOCKER_ID)
    assert (gamma.ref.runtime, gamma.pypi_version) == ("docker", "2.0.0")
    assert gamma.ref.docker_image == "airbyte/source-gamma:2.0.0"
    assert set(gamma.engines) == {"embedded", "airbyte"}
    delta = ConnectorDefinition.objects.get(definition_id=DEST_ID)
    assert (delta.kind, delta.support_level) == ("destination", "archived")
    # The daily task's fetch is recorded on its row, not as a person's change.
    assert not AuditEvent.objects.filter(action="catalog.refresh").exists()


def test_the_cli_refreshes_from_a_url_and_audits_it(staff, server, capsys):
    url = serve_registry(server)

    call_command("airbyte", "connectors", "refresh", *AS, "--from", url)

    out = capsys.readouterr().out
    assert f"Catalog refreshed from {url}: 4 added" in out
    assert ", 1 skipped" in out
    assert "skipped sources[3]: `sourceDefinitionId` must be a UUID." in out
    assert "1 icon(s) could not be fetched" in out
    event = AuditEvent.objects.get(action="catalog.refresh")
    assert event.actor == staff
    assert event.changes["from"] == url
    assert event.changes["added"] == 4
    fetch = RegistryFetch.objects.get()
    assert fetch.requested_by == staff


def test_the_cli_refreshes_from_the_configured_url_by_default(
    staff, server, settings, capsys
):
    settings.CONNECTOR_REGISTRY_URL = serve_registry(server)

    call_command("airbyte", "connectors", "refresh", *AS, "--no-icons")

    assert "Catalog refreshed from" in capsys.readouterr().out
    assert server.requests == [REGISTRY_PATH]
    assert ConnectorDefinition.objects.filter(definition_id=MANIFEST_ID).exists()


def test_the_cli_refreshes_from_a_file(staff, server, tmp_path, capsys):
    path = tmp_path / "oss_registry.json"
    path.write_text(json.dumps(airbyte_registry(server)))

    call_command(
        "airbyte", "connectors", "refresh", *AS, "--from", str(path), "--no-icons"
    )

    assert f"Catalog refreshed from {path}: 4 added" in capsys.readouterr().out
    assert ConnectorDefinition.objects.get(definition_id=DOCKER_ID).name == (
        "Gamma Docker"
    )


def test_without_a_url_the_cli_says_what_to_set(staff):
    with pytest.raises(CommandError, match="CONNECTOR_REGISTRY_URL is empty"):
        call_command("airbyte", "connectors", "refresh", *AS)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (404, "answered 404 Not Found."),
        (503, "answered 503 Service Unavailable."),
        ("<html>oops</html>", "is not JSON at line 1 (column 1)"),
        ('{"hello": "world"}', "is not a registry: no `sources` or `destinations`"),
        (
            '{"sources": [{"name": "x"}]}',
            "has no usable entry among 1: sources[0]: `sourceDefinitionId` must",
        ),
    ],
)
def test_a_bad_answer_keeps_the_last_good_catalog_and_says_so(
    staff, server, answer, message
):
    good = serve_registry(server)
    call_command("airbyte", "connectors", "refresh", *AS, "--from", good)
    before = _catalog()
    server.files["/bad.json"] = answer
    bad = server.url("/bad.json")

    with pytest.raises(CommandError) as refused:
        call_command("airbyte", "connectors", "refresh", *AS, "--from", bad)

    text = str(refused.value)
    assert text.startswith(f"The registry at {bad} ")
    assert message in text
    assert "The catalog is unchanged: last fetched " in text
    assert f"from {good}." in text
    assert _catalog() == before
    failed = RegistryFetch.objects.filter(status="failed").get()
    assert message in failed.error
    assert AuditEvent.objects.filter(action="catalog.refresh").count() == 1


def test_a_registry_that_does_not_answer_times_out(staff, settings):
    settings.CONNECTOR_REGISTRY_TIMEOUT_SECONDS = 1
    before = _catalog()

    with silent_server() as url:
        fetch = services.catalog_fetch(actor=staff, location=url)

    assert fetch.status == "failed"
    assert fetch.error == (
        f"The registry at {url} did not answer (timed out after 1 s)."
    )
    assert _catalog() == before


def test_a_registry_nobody_listens_on_is_refused_clearly(staff):
    url = closed_port_url()

    fetch = services.catalog_fetch(actor=staff, location=url)

    assert fetch.error == f"The registry at {url} did not answer (connection refused)."


def test_a_registry_larger_than_the_cap_is_refused(staff, server, settings):
    settings.CONNECTOR_REGISTRY_MAX_BYTES = 1000
    url = serve_registry(server)

    fetch = services.catalog_fetch(actor=staff, location=url)

    assert fetch.error == f"The registry at {url} is larger than 0.000953674 MB."
    assert not ConnectorDefinition.objects.filter(definition_id=PYPI_ID).exists()


def test_only_http_and_https_urls_are_read(staff):
    fetch = services.catalog_fetch(actor=staff, location="ftp://example.org/r.json")

    assert "only http and https URLs or a file path" in fetch.error


def test_an_installed_connector_keeps_its_pin_and_offers_the_upgrade(server):
    services.catalog_fetch(actor=None, location=serve_registry(server))
    alpha = ConnectorDefinition.objects.get(definition_id=PYPI_ID)
    ConnectorInstall.objects.create(
        definition=alpha, version="1.0.0", status=ConnectorInstall.Status.SUCCEEDED
    )

    services.catalog_fetch(
        actor=None, location=serve_registry(server, alpha_version="1.1.0")
    )

    alpha.refresh_from_db()
    assert (alpha.pypi_version, alpha.latest_version) == ("1.0.0", "1.1.0")


def test_an_uninstalled_connector_follows_the_registry(server):
    services.catalog_fetch(actor=None, location=serve_registry(server))

    services.catalog_fetch(
        actor=None, location=serve_registry(server, alpha_version="1.1.0")
    )

    alpha = ConnectorDefinition.objects.get(definition_id=PYPI_ID)
    assert (alpha.pypi_version, alpha.latest_version) == ("1.1.0", "1.1.0")


def test_the_daily_task_fetches_and_caches_icons_once(server, settings):
    settings.CONNECTOR_REGISTRY_URL = serve_registry(server)

    registry_fetch_task()
    registry_fetch_task()

    assert server.requests.count(REGISTRY_PATH) == 2
    assert server.requests.count("/icons/alpha.svg") == 1
    # A broken icon is tried once, not every day.
    assert server.requests.count("/icons/broken.svg") == 1
    # The manifest-only entry's SVG came inline with the registry: no download.
    assert "/icons/beta.svg" not in server.requests
    assert RegistryFetch.objects.filter(status="succeeded").count() == 2


def test_the_daily_task_does_nothing_without_a_url(settings):
    settings.CONNECTOR_REGISTRY_URL = ""

    registry_fetch_task()

    assert not RegistryFetch.objects.exists()


def test_the_daily_task_records_a_failure_without_raising(settings):
    settings.CONNECTOR_REGISTRY_URL = closed_port_url()

    registry_fetch_task()

    assert "did not answer" in RegistryFetch.objects.get(status="failed").error


def test_the_beat_schedule_runs_the_fetch_daily_unless_turned_off():
    from django.conf import settings

    assert "connectors.registry_fetch" in celery_app.tasks

    def schedule(**env: str) -> dict:
        code = (
            "import django, json; django.setup(); from django.conf import settings; "
            "print(json.dumps({k: v for k, v in settings.CELERY_BEAT_SCHEDULE.items()"
            " if v['task'] == 'connectors.registry_fetch'}))"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            env={
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "airbyte_console.settings",
                "CONSOLE_DATA_DIR": str(settings.DATA_DIR),
                **env,
            },
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(result.stdout.strip().splitlines()[-1])

    default = schedule()
    assert [entry["schedule"] for entry in default.values()] == [24 * 3600]
    assert schedule(CONNECTOR_REGISTRY_REFRESH_HOURS="0") == {}
    assert schedule(CONNECTOR_REGISTRY_URL="") == {}


def test_the_cli_lists_how_each_connector_runs_and_filters_by_it(server, capsys):
    services.catalog_fetch(actor=None, location=serve_registry(server))

    call_command("airbyte", "connectors", "list", "--runs", "manifest", "--json")
    manifests = json.loads(capsys.readouterr().out)
    call_command("airbyte", "connectors", "list", "--support", "archived")
    archived = capsys.readouterr().out

    assert [(r["name"], r["runs"]) for r in manifests] == [
        ("Beta Manifest", "Manifest")
    ]
    assert archived.splitlines()[0].split()[3] == "RUNS"
    # A Docker destination: the embedded engine writes only its own destinations.
    assert "Delta Destination" in archived
    assert "Runs on an Airbyte server only" in archived
    assert "Alpha Pypi" not in archived


def test_airbytes_entry_for_a_builtin_destination_stays_built_in(server):
    document = airbyte_registry(server)
    document["destinations"].append(
        {
            "destinationDefinitionId": str(POSTGRES_ID),
            "name": "Postgres",
            "dockerRepository": "airbyte/destination-postgres",
            "dockerImageTag": "3.0.0",
            "supportLevel": "certified",
            "remoteRegistries": {
                "pypi": {"enabled": True, "packageName": "airbyte-destination-pg"}
            },
        }
    )
    server.files["/with-postgres.json"] = json.dumps(document)

    fetch = services.catalog_fetch(
        actor=None, location=server.url("/with-postgres.json")
    )

    postgres = ConnectorDefinition.objects.get(definition_id=POSTGRES_ID)
    assert fetch.status == "succeeded"
    assert (postgres.name, postgres.builtin) == ("PostgreSQL", "postgres")
    assert (postgres.pypi_package, postgres.pypi_version) == ("", "")
    assert postgres.ref.runtime == "builtin" and not postgres.is_installable
    assert postgres.docker_image_tag == "3.0.0"  # The airbyte engine's image.
    assert postgres.support_level == "certified"


def test_a_public_registry_cannot_point_icon_downloads_at_the_local_network(server):
    services.catalog_fetch(actor=None, location=serve_registry(server))

    counts = services.catalog_icons_fetch(
        location="https://connectors.airbyte.com/files/registries/v0/oss_registry.json"
    )

    # The icons live on 127.0.0.1: refused before any request, shown as initials.
    assert counts["fetched"] == 0 and counts["failed"] == 2
    assert not [path for path in server.requests if path.startswith("/icons/")]
