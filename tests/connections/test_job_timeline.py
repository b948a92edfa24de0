"""The workspace's job timeline: every connection's jobs, filtered, paged, live
(#18 item 7)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from apps.connections.models import SyncJob
from tests.factories import ConnectionFactory, WorkspaceFactory

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def job(connection, *, status="succeeded", trigger="manual", at=T0, **extra):
    made = SyncJob.objects.create(
        public_id=uuid.uuid4(),
        connection=connection,
        trigger=trigger,
        status=status,
        **extra,
    )
    SyncJob.objects.filter(pk=made.pk).update(created_at=at)
    made.refresh_from_db()
    return made


def timeline(workspace):
    return reverse("connections:timeline", args=[workspace.public_id])


@pytest.fixture
def history(workspace):
    orders = ConnectionFactory(workspace=workspace, name="Orders")
    users = ConnectionFactory(workspace=workspace, name="Users")
    elsewhere = ConnectionFactory(workspace=WorkspaceFactory(), name="Secret")
    return {
        "old": job(orders, status="failed", at=T0, failure_message="Boom."),
        "mid": job(users, trigger="scheduled", at=T0 + timedelta(days=1)),
        "new": job(orders, status="running", at=T0 + timedelta(days=2)),
        "other": job(elsewhere, at=T0 + timedelta(days=3)),
        "orders": orders,
    }


def test_timeline_lists_every_connections_jobs_newest_first(
    viewer, workspace, login, history
):
    page = login(viewer).get(timeline(workspace))
    assert page.status_code == 200
    text = page.text
    ids = [str(history[k].public_id) for k in ("new", "mid", "old")]
    positions = [text.index(f'id="job-{i}"') for i in ids]
    assert positions == sorted(positions)
    assert "Orders" in text and "Users" in text
    assert str(history["other"].public_id) not in text and "Secret" not in text
    # The running row refreshes itself; finished ones do not.
    assert text.count('hx-trigger="every 2s"') == 1
    # Reachable from the side menu, which marks Jobs, not Connections, as current.
    assert 'aria-current="page">Jobs</a>' in text


@pytest.mark.parametrize(
    "query, expected",
    [
        ({"status": "failed"}, ["old"]),
        ({"trigger": "scheduled"}, ["mid"]),
        ({"since": "2026-12-02", "until": "2026-12-02"}, ["mid"]),
        ({"connection": "ORDERS"}, ["new", "old"]),
    ],
)
def test_timeline_filters(
    viewer, workspace, login, history, htmx_headers, query, expected
):
    if query.get("connection") == "ORDERS":
        query = {"connection": str(history["orders"].public_id)}
    response = login(viewer).get(timeline(workspace), query, headers=htmx_headers)
    assert "<html" not in response.text
    shown = [
        key
        for key in ("new", "mid", "old")
        if str(history[key].public_id) in response.text
    ]
    assert shown == expected


def test_a_running_row_refreshes_alone_and_stops_when_the_job_ends(
    viewer, workspace, login, history, htmx_headers
):
    running = history["new"]
    client = login(viewer)
    row = client.get(
        timeline(workspace), {"row": str(running.public_id)}, headers=htmx_headers
    )
    assert row.text.lstrip().startswith("<tr") and "every 2s" in row.text
    SyncJob.objects.filter(pk=running.pk).update(
        status="succeeded", records_committed=1234
    )
    row = client.get(
        timeline(workspace), {"row": str(running.public_id)}, headers=htmx_headers
    )
    assert "Succeeded" in row.text and "1,234" in row.text
    assert "every 2s" not in row.text


def test_a_row_of_another_workspace_is_404(viewer, workspace, login, history):
    response = login(viewer).get(
        timeline(workspace), {"row": str(history["other"].public_id)}
    )
    assert response.status_code == 404


def test_timeline_pages_with_bounded_queries(
    viewer, workspace, login, django_assert_max_num_queries
):
    connections = [
        ConnectionFactory(workspace=workspace, name=f"C{n}") for n in range(5)
    ]
    SyncJob.objects.bulk_create(
        SyncJob(
            public_id=uuid.uuid4(),
            connection=connections[n % 5],
            trigger="manual",
            status="succeeded",
        )
        for n in range(60)
    )
    client = login(viewer)
    with django_assert_max_num_queries(12):
        first = client.get(timeline(workspace))
    assert first.text.count('<tr id="job-') == 25
    assert "Page 1 of 3" in first.text
    with django_assert_max_num_queries(12):
        last = client.get(timeline(workspace), {"page": 3})
    assert last.text.count('<tr id="job-') == 10


def test_outsider_gets_404(outsider, workspace, login):
    assert login(outsider).get(timeline(workspace)).status_code == 404
