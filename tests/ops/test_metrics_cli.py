"""`airbyte metrics enable|disable|export|dashboard`, /metrics's scrape token and the
worker host's metrics port."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import httpx
import pytest
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from apps.audit.models import AuditEvent
from apps.core import metrics
from apps.ops.models import ScrapeToken
from apps.ops.scrape import serve_worker_metrics
from tests.cli_runner import airbyte
from tests.factories import UserFactory

PUBLIC = "203.0.113.9"


@pytest.fixture
def superuser(db):
    return UserFactory(email="root@acme.test", is_superuser=True, is_staff=True)


def scrape(token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(REMOTE_ADDR=PUBLIC).get(reverse("metrics"), headers=headers)


def test_enable_prints_a_scrape_config_whose_token_opens_metrics(
    superuser, capsys, settings
):
    settings.CONSOLE_BASE_URL = "https://console.example.com/airbyte"
    assert scrape().status_code == 403

    code, out, err = airbyte(capsys, "metrics", "enable")

    assert code == 0, err
    token = re.search(r"credentials: (\S+)", out).group(1)
    assert "metrics_path: /airbyte/metrics" in out
    assert "scheme: https" in out
    assert "- console.example.com" in out
    assert "type: Bearer" in out
    assert scrape(token).status_code == 200
    assert scrape("abc_scrape_not-the-token").status_code == 403
    # Only the hash is stored.
    row = ScrapeToken.objects.get()
    assert token not in json.dumps(list(ScrapeToken.objects.values()), default=str)
    assert token.startswith(row.prefix)
    event = AuditEvent.objects.get(action="metrics.scrape_token_created")
    assert event.actor == superuser and token not in json.dumps(event.changes)


def test_enable_again_replaces_the_token_and_disable_revokes_it(superuser, capsys):
    _, first, _ = airbyte(capsys, "metrics", "enable", "--json")
    old = json.loads(first)["token"]
    code, out, _ = airbyte(capsys, "metrics", "enable")
    new = re.search(r"credentials: (\S+)", out).group(1)
    assert code == 0 and "the previous one is revoked" in out
    assert scrape(old).status_code == 403
    assert scrape(new).status_code == 200

    code, out, _ = airbyte(capsys, "metrics", "disable")
    assert code == 0 and "Scrape token revoked" in out
    assert scrape(new).status_code == 403
    assert AuditEvent.objects.filter(action="metrics.scrape_token_revoked").count() == 1
    code, out, _ = airbyte(capsys, "metrics", "disable")
    assert code == 0 and "No scrape token was active" in out


def test_only_staff_may_enable_metrics(superuser, capsys):
    UserFactory(email="ana@acme.test")
    with pytest.raises(CommandError, match=r"ana@acme\.test is not staff"):
        airbyte(capsys, "metrics", "enable", "--as", "ana@acme.test")
    assert not ScrapeToken.objects.exists()


def test_export_prints_the_summed_values_as_prometheus_text_and_json(db, capsys):
    metrics.sync_finished(
        engine="embedded",
        status="succeeded",
        failure_origin="",
        records_committed=11,
        bytes_committed=0,
        duration_seconds=2.0,
    )
    code, out, _ = airbyte(capsys, "metrics", "export")
    assert code == 0
    families = {f.name: f for f in text_string_to_metric_families(out)}
    assert "airbyte_console_syncs_finished" in families
    assert not any(name.startswith("django_") for name in families)
    records = families["airbyte_console_sync_records_committed"].samples
    assert sum(s.value for s in records) >= 11

    code, out, _ = airbyte(capsys, "metrics", "export", "--format", "json")
    data = json.loads(out)
    finished = next(f for f in data if f["name"] == "airbyte_console_syncs_finished")
    assert finished["type"] == "counter"
    assert any(
        s["labels"]
        == {"engine": "embedded", "status": "succeeded", "failure_origin": "none"}
        and s["value"] >= 1
        for s in finished["samples"]
    )
    code, out, _ = airbyte(capsys, "metrics", "export", "--all")
    assert "django_http_requests" in out


def test_dashboard_is_valid_json_that_names_only_exported_metrics(db, capsys, tmp_path):
    target = tmp_path / "dash.json"
    code, out, _ = airbyte(capsys, "metrics", "dashboard", "--output", str(target))
    assert code == 0 and str(target) in out
    model = json.loads(target.read_text())
    assert model["panels"]
    expressions = [t["expr"] for p in model["panels"] for t in p["targets"]]
    expressions += [v.get("query", "") for v in model["templating"]["list"]]
    named = set()
    for expr in expressions:
        named |= set(re.findall(r"\b(airbyte_console_\w+)", expr))
    assert named, "the dashboard names no metric"
    assert named <= metrics.sample_names(), named - metrics.sample_names()
    # Every family of the pipeline appears on some panel.
    families = {n.removesuffix("_total").removesuffix("_bucket") for n in named}
    exported = {
        n.removesuffix("_total").removesuffix("_bucket")
        for n in metrics.sample_names()
        if not n.endswith(("_sum", "_count"))
    }
    assert families == exported
    assert len({p["id"] for p in model["panels"]}) == len(model["panels"])
    # Printed without --output, it is the same document.
    code, out, _ = airbyte(capsys, "metrics", "dashboard")
    assert json.loads(out) == model


def test_dashboard_to_a_folder_that_does_not_exist_says_so(db, capsys, tmp_path):
    missing = tmp_path / "nope" / "dash.json"
    with pytest.raises(CommandError, match=f"Cannot write {missing}"):
        airbyte(capsys, "metrics", "dashboard", "--output", str(missing))


# -- the worker host's port -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(url, headers=headers, timeout=10)
    return response.status_code, response.text


@pytest.fixture
def worker_port(transactional_db):
    servers = []

    def start(**kwargs):
        port = free_port()
        server = serve_worker_metrics(port=port, **kwargs)
        assert server is not None
        servers.append(server)
        return f"http://127.0.0.1:{port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_worker_port_answers_this_host_and_asks_others_for_a_token(
    worker_port, settings, capsys
):
    metrics.sync_retry_scheduled(engine="embedded")
    url = worker_port(host="127.0.0.1")
    status, body = get(f"{url}/metrics")
    assert status == 200
    assert "airbyte_console_sync_retries_total" in body
    assert get(f"{url}/other")[0] == 404

    # Behind a proxy (or when the host itself is not trusted) a token is needed.
    settings.METRICS_ALLOW_LOOPBACK = False
    assert get(f"{url}/metrics")[0] == 403
    UserFactory(email="root@acme.test", is_superuser=True, is_staff=True)
    _, out, _ = airbyte(capsys, "metrics", "enable", "--json")
    token = json.loads(out)["token"]
    assert get(f"{url}/metrics", token)[0] == 200
    assert get(f"{url}/metrics", "abc_scrape_wrong")[0] == 403
    settings.METRICS_TOKEN = "from-settings"
    assert get(f"{url}/metrics", "from-settings")[0] == 200


def test_a_port_in_use_is_logged_not_fatal(db, caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert serve_worker_metrics(port=port, host="127.0.0.1") is None
    assert f"Cannot serve worker metrics on 127.0.0.1:{port}" in caplog.text


def test_no_port_no_server(settings):
    settings.WORKER_METRICS_PORT = 0
    assert serve_worker_metrics() is None


# -- the folder -----------------------------------------------------------------------


def test_a_killed_process_leaves_the_running_gauge_at_the_next_worker_start(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f"gauge_livesum_{dead.pid}.db").write_bytes(b"")
    (tmp_path / f"gauge_livesum_{os.getpid()}.db").write_bytes(b"")
    (tmp_path / f"counter_{dead.pid}.db").write_bytes(b"")

    assert metrics.forget_dead_processes(tmp_path) == 1

    left = sorted(p.name for p in tmp_path.iterdir())
    # Counters keep their totals; a live process keeps its gauge.
    assert left == sorted([f"counter_{dead.pid}.db", f"gauge_livesum_{os.getpid()}.db"])


def test_serve_start_empties_the_folder_of_prometheus_files(tmp_path):
    names = [
        "counter_1.db",
        "histogram_2.db",
        "gauge_livesum_3.db",
        "summary_4.db",
        "counter_archive.db",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert metrics.clean_directory(tmp_path) == len(names)
    assert list(tmp_path.iterdir()) == []


def test_serve_start_leaves_a_folder_holding_other_files_alone(tmp_path, caplog):
    # PROMETHEUS_MULTIPROC_DIR pointed at a folder in use (a data folder, say).
    (tmp_path / "counter_1.db").write_bytes(b"")
    (tmp_path / "console.db").write_text("not prometheus'")
    (tmp_path / "keep.txt").write_text("not ours")

    assert metrics.clean_directory(tmp_path) == 0

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "console.db",
        "counter_1.db",
        "keep.txt",
    ]
    assert f"Not emptying the metrics folder {tmp_path}" in caplog.text
    assert "console.db, keep.txt" in caplog.text


def test_a_token_with_non_ascii_characters_is_refused_not_an_error(
    worker_port, settings
):
    settings.METRICS_TOKEN = "from-settings"
    settings.METRICS_ALLOW_LOOPBACK = False
    # The web view (Django gives the header as a str).
    response = scrape("fr\u00f6m-settings")
    assert response.status_code == 403
    # The worker port (the raw header bytes, as a client may send them).
    url = worker_port(host="127.0.0.1")
    response = httpx.get(
        f"{url}/metrics",
        headers={"Authorization": "Bearer fr\u00f6m-settings".encode()},
        timeout=10,
    )
    assert response.status_code == 403
    assert get(f"{url}/metrics", "from-settings")[0] == 200


def test_a_blank_worker_host_is_loopback_and_another_address_is_warned_of(
    db, settings, caplog
):
    settings.WORKER_METRICS_HOST = ""
    server = serve_worker_metrics(port=free_port())
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.shutdown()
        server.server_close()
    assert "other hosts may reach" not in caplog.text

    server = serve_worker_metrics(port=free_port(), host="0.0.0.0")  # noqa: S104
    try:
        assert server.server_address[0] == "0.0.0.0"  # noqa: S104
    finally:
        server.shutdown()
        server.server_close()
    assert "Worker metrics are bound to 0.0.0.0, which other hosts may reach" in (
        caplog.text
    )
