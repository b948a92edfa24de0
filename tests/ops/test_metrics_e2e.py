"""Issue #17's done-when: a scrape of the console shows the database's sync totals.

The real thing: gunicorn serving the web app and two Celery worker processes, all
writing their metrics into one fresh folder, run a known number of Faker syncs
(one of them into a PostgreSQL that is not there, so it fails after a retry).
Then /metrics over HTTP (with a scrape token) and each worker's own metrics port
must show the totals the database holds: syncs by status and failure origin,
records and bytes committed, starts, retries, and nothing left running.
"""

from __future__ import annotations

import collections
import json
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from apps.connections import services
from apps.connections.models import SyncAttempt, SyncJob
from apps.connectors.models import Destination, Source
from apps.connectors.services import source_discover_run
from apps.ops.scrape import scrape_token_create
from tests.connections.test_worker import wait_for
from tests.engines.fixtures import DUCKDB_ID, FAKER_ID, POSTGRES_ID
from tests.engines.fixtures import definition as shipped
from tests.workers import start_process, start_worker, stop_processes, worker_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

COUNTS = (30, 50, 70, 90)  # records per successful sync (Faker's users)
USERS = [
    {"name": "users", "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str, **kwargs) -> bool:
    try:
        return httpx.get(url, timeout=2, **kwargs).status_code < 500
    except httpx.HTTPError:
        return False


class Console:
    """The web process and the workers, sharing one metrics folder."""

    def __init__(self, tmp_path: Path, folder: Path) -> None:
        self.tmp_path = tmp_path
        self.env = worker_env(
            duckdb_dir=settings.DUCKDB_DIR,
            SYNC_RETRY_BACKOFF_BASE_SECONDS="1",
            SYNC_MAX_SUCCESSIVE_FAILURES="2",
            PROMETHEUS_MULTIPROC_DIR=str(folder),
            METRICS_PER_CONNECTION="0",
            # Every scraper must bring the token, even from this host.
            METRICS_ALLOW_LOOPBACK="0",
        )
        self.processes: list[subprocess.Popen] = []

    def web(self) -> str:
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "airbyte_console.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ]
        self.processes.append(
            start_process(argv, env=self.env, log=self.tmp_path / "web.log")
        )
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: answers(f"{url}/healthz"), timeout=60, what="the web app")
        return url

    def worker(self, name: str) -> str:
        port = free_port()
        env = {**self.env, "WORKER_METRICS_PORT": str(port)}
        self.processes.append(start_worker(name, env=env, log_dir=self.tmp_path))
        url = f"http://127.0.0.1:{port}"
        # The port opens when the worker is ready to take tasks.
        wait_for(lambda: answers(f"{url}/metrics"), timeout=60, what=f"worker {name}")
        return url

    def stop(self) -> None:
        stop_processes(self.processes, timeout=30)

    def logs(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
            for log in sorted(self.tmp_path.glob("*.log"))
        )


@pytest.fixture
def console(require_postgres, require_redis, settings, tmp_path):
    settings.DUCKDB_DIR = tmp_path / "duck"
    settings.DUCKDB_DIR.mkdir()
    folder = tmp_path / "prometheus"
    folder.mkdir()
    running = Console(tmp_path, folder)
    yield running
    running.stop()


def faker(workspace, count: int, catalog: dict | None) -> Source:
    source = Source.objects.create(
        workspace=workspace,
        name=f"Faker {count}",
        definition=shipped(FAKER_ID),
        config={"count": count, "seed": 1, "records_per_slice": 100, "parallelism": 1},
        catalog=catalog,
    )
    if catalog is None:
        source_discover_run(pk=source.pk)
        source.refresh_from_db()
    return source


def families(text: str) -> dict[str, list]:
    """Sample name -> samples."""
    samples: dict[str, list] = collections.defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name].append(sample)
    return samples


def total(samples: dict[str, list], name: str, **labels: str) -> float:
    return sum(
        s.value
        for s in samples.get(name, [])
        if all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_a_scrape_of_web_and_workers_shows_the_sync_totals_of_the_database(
    console, admin, workspace, real_connectors, faker_installed
):
    sources = [faker(workspace, COUNTS[0], None)]
    sources += [faker(workspace, n, sources[0].catalog) for n in COUNTS[1:]]
    failing = faker(workspace, 20, sources[0].catalog)
    connections = []
    for number, source in enumerate(sources):
        duck = Destination.objects.create(
            workspace=workspace,
            name=f"Duck {number}",
            definition=shipped(DUCKDB_ID),
            config={"destination_path": f"w{number}.duckdb"},
        )
        connections.append((source, duck))
    nowhere = Destination.objects.create(
        workspace=workspace,
        name="PostgreSQL that is not there",
        definition=shipped(POSTGRES_ID),
        config={
            "host": "127.0.0.1",
            "port": free_port(),
            "database": "postgres",
            "schema": "public",
            "username": "postgres",
            "ssl_mode": "disable",
        },
        secrets=json.dumps({}),
    )
    connections.append((failing, nowhere))
    made = [
        services.connection_create(
            actor=admin,
            workspace=workspace,
            name=f"C{number}",
            source=source,
            destination=destination,
            streams=USERS,
            namespace="faker" if destination is not nowhere else "public",
        )
        for number, (source, destination) in enumerate(connections)
    ]
    _, token = scrape_token_create(actor=admin)[:2]

    web = console.web()
    workers = [console.worker("w1"), console.worker("w2")]
    jobs = [
        services.sync_request(connection=c, trigger="manual", actor=admin) for c in made
    ]
    ids = [job.pk for job in jobs]
    try:
        wait_for(
            lambda: (
                not SyncJob.objects.filter(pk__in=ids)
                .exclude(status__in=SyncJob.TERMINAL_STATUSES)
                .exists()
            ),
            timeout=300,
            what="every sync to end",
        )
    except AssertionError:
        raise AssertionError(console.logs()) from None
    jobs = list(SyncJob.objects.filter(pk__in=ids))
    by_status = collections.Counter(
        (j.status, j.failure_origin or "none") for j in jobs
    )
    assert sum(n for (s, _), n in by_status.items() if s == "succeeded") == len(
        COUNTS
    ), console.logs()
    assert sum(n for (s, _), n in by_status.items() if s == "failed") == 1
    # The failing one was retried once before it failed (a refused connection
    # is transient; SYNC_MAX_SUCCESSIVE_FAILURES=2).
    assert sum(j.attempt_count - 1 for j in jobs) == 1
    # Both workers ran syncs: the totals below are sums over processes.
    ran_on = set(
        SyncAttempt.objects.filter(job_id__in=ids).values_list("worker", flat=True)
    )
    assert len(ran_on) == 2, ran_on

    assert httpx.get(f"{web}/metrics").status_code == 403
    response = httpx.get(f"{web}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    scraped = families(response.text)

    finished = {
        (s.labels["status"], s.labels["failure_origin"]): s.value
        for s in scraped["airbyte_console_syncs_finished_total"]
    }
    assert finished == dict(by_status)
    records = sum(j.records_committed for j in jobs)
    assert records == sum(COUNTS)
    assert total(scraped, "airbyte_console_sync_records_committed_total") == records
    assert total(scraped, "airbyte_console_sync_bytes_committed_total") == sum(
        j.bytes_committed for j in jobs
    )
    assert total(scraped, "airbyte_console_syncs_started_total") == len(jobs)
    assert total(scraped, "airbyte_console_sync_queue_wait_seconds_count") == len(jobs)
    assert total(
        scraped, "airbyte_console_sync_duration_seconds_count", status="succeeded"
    ) == len(COUNTS)
    assert total(scraped, "airbyte_console_sync_retries_total") == sum(
        j.attempt_count - 1 for j in jobs
    )
    assert total(scraped, "airbyte_console_syncs_running") == 0
    # Bounded labels: five connections, no connection label, one series per
    # (engine, status, origin) that happened.
    pipeline = [
        s
        for name, samples in scraped.items()
        if name.startswith("airbyte_console_")
        for s in samples
    ]
    assert all("connection" not in s.labels for s in pipeline)
    started = scraped["airbyte_console_syncs_started_total"]
    assert {(s.labels["engine"], s.labels["trigger"]) for s in started} == {
        ("embedded", "manual")
    }

    # A worker host's own port sums the same folder.
    for url in workers:
        own = families(
            httpx.get(
                f"{url}/metrics", headers={"Authorization": f"Bearer {token}"}
            ).text
        )
        assert {
            (s.labels["status"], s.labels["failure_origin"]): s.value
            for s in own["airbyte_console_syncs_finished_total"]
        } == dict(by_status)
        assert total(own, "airbyte_console_sync_records_committed_total") == records
