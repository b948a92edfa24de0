"""The workspace's Metrics page adds up the syncs of the chosen period (#17)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.connections import lifecycle, metrics_selectors, services
from apps.connections.models import SyncJob
from apps.engines.base import AttemptOutcome
from tests.factories import ConnectionFactory

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def run_sync(
    connection,
    *,
    ended_ago: timedelta,
    duration: float,
    wait: float = 1,
    status: str = "succeeded",
    origin: str = "",
    records: int = 0,
    now: datetime = NOW,
) -> SyncJob:
    """A sync requested, claimed after ``wait`` s and ended ``duration`` s later,
    through the services a worker uses."""
    ended = now - ended_ago
    started = ended - timedelta(seconds=duration)
    with time_machine.travel(started - timedelta(seconds=wait), tick=False):
        job = services.sync_request(connection=connection, trigger="manual", actor=None)
    with time_machine.travel(started, tick=False):
        attempt = lifecycle.attempt_claim(job_id=job.pk)
    failed = status == "failed"
    with time_machine.travel(ended, tick=False):
        return lifecycle.attempt_finish(
            attempt_id=attempt.pk,
            outcome=AttemptOutcome(
                status=status,
                records_committed=records,
                failure_type="config_error" if failed else "",
                failure_origin=origin,
                failure_message="Bad credentials" if failed else "",
            ),
        )


@pytest.fixture
def history(workspace):
    """Orders synced in the last hours, Users days ago, and older syncs of both."""
    orders = ConnectionFactory(workspace=workspace, name="Orders")
    users = ConnectionFactory(workspace=workspace, name="Users")
    hours = timedelta(hours=1)
    days = timedelta(days=1)
    for n, duration in enumerate([10, 20, 30, 40, 50]):
        run_sync(orders, ended_ago=(2 + n) * hours, duration=duration, records=100)
    run_sync(orders, ended_ago=8 * hours, duration=5, status="failed", origin="source")
    run_sync(users, ended_ago=2 * days, duration=110, wait=61, records=1000)
    for origin in ("destination", "source"):
        run_sync(users, ended_ago=3 * days, duration=5, status="failed", origin=origin)
    run_sync(users, ended_ago=3 * days, duration=5, status="cancelled")
    # Outside 7 days, inside 30.
    run_sync(orders, ended_ago=12 * days, duration=1010, records=7)
    run_sync(users, ended_ago=20 * days, duration=5, status="failed", origin="console")
    # A reset is not a sync: never counted.
    SyncJob.objects.create(
        public_id=uuid.uuid4(),
        connection=orders,
        trigger="reset",
        status="failed",
        failure_origin="destination",
        started_at=NOW - hours,
        finished_at=NOW - hours,
    )
    return orders, users


def page(client, workspace, at=NOW, **params):
    url = reverse("metrics:page", args=[workspace.public_id])
    with time_machine.travel(at, tick=False):
        return client.get(url, params)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def stat(html: str, name: str) -> str:
    found = re.search(rf'data-testid="metric-{name}">(.*?)</section>', html, re.S)
    return text_of(re.sub(r"<h3>.*?</h3>", "", found.group(1)))


def row(html: str, connection: str) -> list[str]:
    found = re.search(rf'<tr data-connection="{connection}">(.*?)</tr>', html, re.S)
    assert found, f"no row for {connection}"
    return [text_of(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", found[1])]


def failures(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-testid="failures-(\w+)">([^<]+)<', html))


def test_last_7_days_success_rate_durations_and_failures(
    history, viewer, workspace, login
):
    html = page(login(viewer), workspace).text
    assert "Last 7 days" in html
    assert stat(html, "syncs").startswith("10 Succeeded: 6 Failed: 3 Cancelled: 1")
    # 6 of 9: the cancel is not a failure.
    assert stat(html, "success-rate").startswith("66.7%")
    # Successful durations 10, 20, 30, 40, 50 and 110 s.
    assert stat(html, "duration").startswith("35 s")
    assert "p95 1 min 35 s" in stat(html, "duration")
    # Nine syncs waited 1 s, one waited 61 s.
    assert stat(html, "queue-wait").startswith("1.0 s")
    assert "p95 34 s" in stat(html, "queue-wait")
    assert stat(html, "records").startswith("1,500")
    # Name, syncs, succeeded, failed, cancelled, rate, p50, p95, waits, records.
    assert row(html, "Orders")[:11] == [
        "Orders", "6", "5", "1", "0", "83.3%", "30 s", "48 s", "1.0 s", "1.0 s", "500"
    ]  # fmt: skip
    assert row(html, "Users")[:11] == [
        "Users", "4", "1", "2", "1", "33.3%", "1 min 50 s", "1 min 50 s", "1.0 s",
        "52 s", "1,000",
    ]  # fmt: skip
    assert failures(html) == {"source": "2", "destination": "1"}


def test_the_period_changes_what_is_counted(history, viewer, workspace, login):
    client = login(viewer)
    day = page(client, workspace, period="24h").text
    assert "Last 24 hours" in day
    assert stat(day, "syncs").startswith("6 ")
    assert stat(day, "success-rate").startswith("83.3%")
    assert 'data-connection="Users"' not in day
    assert failures(day) == {"source": "1"}
    # One bar per hour: the sync that ended at 10:00 committed its 100 records.
    hour = re.escape('2026-12-04 10:00 UTC</time></td><td class="num">100</td>')
    assert re.search(hour, day)

    month = page(client, workspace, period="30d").text
    assert stat(month, "syncs").startswith("12 ")
    assert stat(month, "success-rate").startswith("63.6%")  # 7 of 11
    assert failures(month) == {"source": "2", "destination": "1", "console": "1"}
    assert row(month, "Orders")[7] == "12 min 50 s"  # p95 with the 1010 s sync


def test_no_syncs_in_the_period_says_so(workspace, viewer, login):
    old = ConnectionFactory(workspace=workspace, name="Old")
    run_sync(old, ended_ago=timedelta(days=10), duration=3)
    client = login(viewer)
    html = page(client, workspace).text
    assert "No syncs in the last 7 days." in html
    assert 'data-testid="metric-syncs"' not in html
    assert "No syncs in the last" not in page(client, workspace, period="30d").text


def test_htmx_gets_only_the_charts(history, viewer, workspace, login, htmx_headers):
    response = page(login(viewer), workspace, period="30d", **{})
    assert "<html" in response.text  # the plain GET form gets the whole page
    url = reverse("metrics:page", args=[workspace.public_id])
    with time_machine.travel(NOW, tick=False):
        partial = login(viewer).get(url, {"period": "30d"}, headers=htmx_headers)
    assert partial.status_code == 200
    assert "<html" not in partial.text
    assert partial.text.lstrip().startswith('<div id="metrics-charts"')
    assert "Last 30 days" in partial.text and stat(partial.text, "syncs")[:3] == "12 "


def test_an_unknown_period_says_what_is_wrong(history, viewer, workspace, login):
    html = page(login(viewer), workspace, period="1y").text
    assert "Unknown period “1y”: choose one of 24h, 7d, 30d." in html
    assert "Last 7 days" in html and stat(html, "syncs").startswith("10 ")


def test_viewer_sees_metrics_and_outsider_gets_404(
    history, viewer, outsider, workspace, login
):
    response = page(login(viewer), workspace)
    assert response.status_code == 200
    # The side menu links here, marked as the current page.
    url = reverse("metrics:page", args=[workspace.public_id])
    assert f'<a href="{url}" aria-current="page">Metrics</a>' in response.text
    assert page(login(outsider), workspace).status_code == 404


def test_times_are_shown_in_the_persons_zone(history, viewer, workspace, login):
    client = login(viewer)
    client.cookies["console_tz"] = "Asia%2FTokyo"
    html = page(client, workspace, period="24h").text
    assert "Times in Asia/Tokyo" in html
    # 10:00 UTC is 19:00 in Tokyo: the bars are the person's hours.
    hour = re.escape('2026-12-04 19:00 JST</time></td><td class="num">100</td>')
    assert re.search(hour, html)


def test_percentiles_in_python_match_postgresql(require_postgres, history, workspace):
    """SQLite has no percentile_cont: the Python path must agree with PostgreSQL's
    (so the test needs PostgreSQL to compare against)."""
    period = metrics_selectors.PERIODS["30d"]
    in_sql, in_python = (
        metrics_selectors.sync_metrics(
            workspace=workspace, period=period, now=NOW, percentiles_in_database=flag
        )
        for flag in (True, False)
    )

    def numbers(metrics):
        spreads = [metrics.duration, metrics.queue_wait]
        for c in metrics.connections:
            spreads += [c.duration, c.queue_wait]
        return [value for s in spreads for value in (s.p50, s.p95)]

    assert numbers(in_python) == pytest.approx(numbers(in_sql))
    assert [c.name for c in in_python.connections] == ["Orders", "Users"]
    assert in_sql.duration.p50 == pytest.approx(40)  # 10..50, 110 and 1010 s


def test_query_count_does_not_grow_with_the_jobs(
    workspace, viewer, login, django_assert_max_num_queries
):
    client = login(viewer)

    def bulk(connections: int, per_connection: int) -> None:
        jobs = []
        for _ in range(connections):
            connection = ConnectionFactory(workspace=workspace)
            for n in range(per_connection):
                ended = NOW - timedelta(hours=n + 1)
                jobs.append(
                    SyncJob(
                        public_id=uuid.uuid4(),
                        connection=connection,
                        trigger="scheduled",
                        status="failed" if n % 4 == 0 else "succeeded",
                        failure_origin="source" if n % 4 == 0 else "",
                        started_at=ended - timedelta(seconds=30 + n),
                        finished_at=ended,
                        records_committed=10 * n,
                    )
                )
        with time_machine.travel(NOW - timedelta(days=5), tick=False):
            SyncJob.objects.bulk_create(jobs)

    bulk(1, 2)
    with CaptureQueriesContext(db_connection) as few:
        assert page(client, workspace).status_code == 200
    bulk(12, 100)
    with django_assert_max_num_queries(len(few)):
        html = page(client, workspace).text
    assert stat(html, "syncs").startswith("1,202 ")


def throughput_rows(html: str) -> dict[str, list[str]]:
    """The throughput table: each bar's start as shown, then its cells."""
    table = re.search(r'data-testid="throughput-table">(.*?)</table>', html, re.S)
    bars = {}
    for found in re.findall(r"<tr><td>(.*?)</tr>", table[1], re.S):
        cells = [
            text_of(cell) for cell in re.findall(r"(?:^|<td[^>]*>)(.*?)</td>", found)
        ]
        assert cells[0] not in bars, f"two bars labelled {cells[0]}"
        bars[cells[0]] = cells[1:]
    return bars


def in_berlin(client):
    client.cookies["console_tz"] = "Europe%2FBerlin"
    return client


def test_the_hour_repeated_at_dst_fall_back_has_two_bars(workspace, viewer, login):
    # 2026-10-25 03:00 CEST is 02:00 CET again: Berlin lives 02:00-03:00 twice.
    now = datetime(2026, 10, 25, 12, 0, tzinfo=UTC)
    orders = ConnectionFactory(workspace=workspace, name="Orders")
    # 02:30 CEST, then 02:30 CET an hour later.
    run_sync(
        orders, now=now, ended_ago=timedelta(hours=11.5), duration=5, records=36000
    )
    run_sync(
        orders, now=now, ended_ago=timedelta(hours=10.5), duration=5, records=72000
    )
    html = page(in_berlin(login(viewer)), workspace, at=now, period="24h").text
    bars = throughput_rows(html)
    # Records, records/s, succeeded, failed, cancelled, how long the bar covers.
    assert bars["2026-10-25 02:00 CEST (UTC+02:00)"] == [
        "36,000",
        "10",
        "1",
        "0",
        "0",
        "1 h",
    ]
    assert bars["2026-10-25 02:00 CET (UTC+01:00)"] == [
        "72,000",
        "20",
        "1",
        "0",
        "0",
        "1 h",
    ]
    # 24 hours, 24 bars of an hour each, from 14:00 CEST to 12:00 CET.
    assert len(bars) == 24
    assert {cells[-1] for cells in bars.values()} == {"1 h"}
    starts = list(bars)
    assert (starts[0], starts[-1]) == ("2026-10-24 14:00 CEST", "2026-10-25 12:00 CET")


def test_the_bar_cut_short_by_dst_spring_forward_is_5_hours(workspace, viewer, login):
    # 2026-03-29 02:00 CET jumps to 03:00 CEST: the 00:00-06:00 bar lasts 5 hours.
    now = datetime(2026, 3, 30, 12, 0, tzinfo=UTC)  # 14:00 CEST
    orders = ConnectionFactory(workspace=workspace, name="Orders")
    run_sync(orders, now=now, ended_ago=timedelta(hours=34), duration=5, records=36000)
    html = page(in_berlin(login(viewer)), workspace, at=now, period="7d").text
    bars = throughput_rows(html)
    assert bars["2026-03-29 00:00 CET"] == ["36,000", "2", "1", "0", "0", "5 h"]
    assert bars["2026-03-29 06:00 CEST"][-1] == "6 h"
    # The period began 2026-03-23 13:00 CET and ends 14:00 CEST: the first and
    # last bars cover only their part of it.
    starts = list(bars)
    assert (starts[0], starts[-1]) == ("2026-03-23 12:00 CET", "2026-03-30 12:00 CEST")
    assert bars["2026-03-23 12:00 CET"][-1] == "5 h"
    assert bars["2026-03-30 12:00 CEST"][-1] == "2 h"


def test_the_last_bar_rate_is_over_the_time_it_covers(workspace, viewer, login):
    now = NOW + timedelta(minutes=5)  # 12:05: the 12:00 bar has lasted 5 minutes
    orders = ConnectionFactory(workspace=workspace, name="Orders")
    run_sync(orders, now=now, ended_ago=timedelta(minutes=2), duration=5, records=3000)
    run_sync(orders, now=now, ended_ago=timedelta(hours=3), duration=5, records=21600)
    bars = throughput_rows(page(login(viewer), workspace, at=now).text)
    # 3,000 records in 300 s; not in 6 hours (0.1/s).
    assert bars["2026-12-04 12:00 UTC"] == ["3,000", "10", "1", "0", "0", "5 min"]
    assert bars["2026-12-04 06:00 UTC"] == ["21,600", "1", "1", "0", "0", "6 h"]
    assert bars["2026-11-27 12:00 UTC"][-1] == "5 h 55 min"
