"""What a finished job says about itself (#18 item 9): the log ends with the
engine's summary, a cancelled job's chart and failure column read honestly."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.connections.execution import sync_run
from apps.connections.models import SyncJob
from apps.connections.services import sync_request
from tests.factories import ConnectionFactory


@pytest.mark.django_db(transaction=True)
def test_the_log_ends_with_the_sync_summary(
    admin, faker_source, duckdb_destination, make_connection
):
    source = faker_source(count=120)
    connection = make_connection(
        source,
        duckdb_destination,
        [
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
                "cursor_field": ["updated_at"],
            }
        ],
        namespace="faker",
    )
    with mock.patch("apps.connections.tasks.sync_job_task.apply_async"):
        job = sync_request(connection=connection, trigger="manual", actor=admin)
    sync_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.failure_message
    lines = job.attempts.get().log.splitlines()
    summary = [line.split(" ", 2)[2] for line in lines[-3:]]
    assert re.fullmatch(
        r"INFO Sync summary: attempt 1 succeeded after \d+\.\d s\.", summary[0]
    )
    assert re.fullmatch(r"INFO   users: 120 records, [\d.]+ KB committed", summary[1])
    assert re.fullmatch(
        r"INFO   Total: 120 records, [\d.]+ KB committed; "
        r"state saved \(\d+ messages?\)\.",
        summary[2],
    )
    # The lines' times say their zone (UTC).
    stamped = [line for line in lines if re.match(r"\d{4}-\d\d-\d\d \d\d:", line)]
    assert len(stamped) > 5
    assert all(re.match(r"\S+ \d\d:\d\d:\d\dZ ", line) for line in stamped)


def cancelled_job(
    connection, message="Cancelled; data committed before the cancel is kept."
):
    now = timezone.now()
    return SyncJob.objects.create(
        public_id=uuid.uuid4(),
        connection=connection,
        trigger="manual",
        status="cancelled",
        started_at=now - timedelta(seconds=4),
        finished_at=now,
        failure_type="manual_cancellation",
        failure_message=message,
    )


def test_a_cancelled_job_reads_as_cancelled_once(viewer, workspace, login):
    connection = ConnectionFactory(workspace=workspace)
    job = cancelled_job(connection)
    client = login(viewer)
    page = client.get(
        reverse("connections:detail", args=[workspace.public_id, connection.public_id])
    )
    text = " ".join(page.text.split())
    assert "Cancelled: Cancelled" not in text
    assert "Cancelled; data committed before the cancel is kept." in text
    # Nothing was committed: the chart's caption says 0, not 1.
    assert "most records 0 ·" in text
    detail = client.get(
        reverse("connections:job", args=[workspace.public_id, job.public_id])
    )
    text = " ".join(detail.text.split())
    assert "· Cancelled</strong>" not in text
    assert "Cancelled; data committed before the cancel is kept." in text
