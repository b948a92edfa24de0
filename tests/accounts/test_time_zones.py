"""Every time says its zone, and each person picks theirs (#18 item 8)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.urls import reverse

from apps.accounts.models import Profile
from apps.audit.models import AuditEvent
from apps.connections.models import SyncJob
from tests.factories import PASSWORD, ConnectionFactory

NOW = datetime(2026, 12, 4, 16, 17, 21, tzinfo=UTC)
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture
def finished_job(workspace):
    connection = ConnectionFactory(workspace=workspace, name="Orders")
    job = SyncJob.objects.create(
        public_id=uuid.uuid4(),
        connection=connection,
        trigger="manual",
        status="succeeded",
        started_at=NOW - timedelta(hours=3),
        finished_at=NOW - timedelta(minutes=2),
    )
    # Requested three hours before it ended: "Last sync" counts from the end.
    SyncJob.objects.filter(pk=job.pk).update(created_at=NOW - timedelta(hours=3))
    job.refresh_from_db()
    return job


def job_page(workspace, job):
    return reverse("connections:job", args=[workspace.public_id, job.public_id])


@time_machine.travel(NOW, tick=False)
def test_times_are_in_utc_and_say_so_by_default(viewer, workspace, login, finished_job):
    text = login(viewer).get(job_page(workspace, finished_job)).text
    assert "2026-12-04 16:15:21 UTC" in text  # finished
    assert "2026-12-04 13:17:21 UTC" in text  # started


@time_machine.travel(NOW, tick=False)
def test_the_browsers_zone_applies_until_the_person_picks_one(
    viewer, workspace, login, finished_job
):
    client = login(viewer)
    client.cookies["console_tz"] = "America%2FNew_York"
    text = client.get(job_page(workspace, finished_job)).text
    assert "2026-12-04 11:15:21 EST" in text
    # A name the console does not know is ignored.
    client.cookies["console_tz"] = "Mars/Olympus"
    assert "16:15:21 UTC" in client.get(job_page(workspace, finished_job)).text


@time_machine.travel(NOW, tick=False)
def test_a_person_picks_their_zone_in_the_profile(
    viewer, workspace, login, finished_job
):
    client = login(viewer)
    client.cookies["console_tz"] = "America%2FNew_York"
    form = client.get(reverse("accounts:profile"))
    assert "Your browser&#x27;s zone (now America/New_York)" in form.text
    response = client.post(reverse("accounts:profile"), {"time_zone": "Asia/Tokyo"})
    assert response.status_code == 302
    assert Profile.objects.get(user=viewer).time_zone == "Asia/Tokyo"
    event = AuditEvent.objects.get(action="user.profile_changed")
    assert event.actor == viewer and event.changes["time_zone"] == [None, "Asia/Tokyo"]
    # The choice beats the browser's zone.
    assert (
        "2026-12-05 01:15:21 JST" in client.get(job_page(workspace, finished_job)).text
    )
    # Back to the browser's zone.
    client.post(reverse("accounts:profile"), {"time_zone": ""})
    assert "11:15:21 EST" in client.get(job_page(workspace, finished_job)).text


def test_an_unknown_zone_is_refused(viewer, login):
    response = login(viewer).post(reverse("accounts:profile"), {"time_zone": "Mars"})
    assert response.status_code == 400
    assert not Profile.objects.filter(user=viewer).exists()


@time_machine.travel(NOW, tick=False)
def test_signing_in_brings_the_chosen_zone(viewer, workspace, client, finished_job):
    Profile.objects.create(user=viewer, time_zone="Europe/Paris")
    client.post(
        reverse("accounts:login"), {"username": viewer.email, "password": PASSWORD}
    )
    assert "17:15:21 CET" in client.get(job_page(workspace, finished_job)).text


@time_machine.travel(NOW, tick=False)
def test_last_sync_counts_from_the_end_of_the_sync(
    viewer, workspace, login, finished_job
):
    client = login(viewer)
    detail = client.get(
        reverse(
            "connections:detail",
            args=[workspace.public_id, finished_job.connection.public_id],
        )
    ).text
    ago = re.search(r'data-testid="last-sync-ago">([^<]+)<', detail).group(1)
    assert ago == "2\xa0minutes ago"
    listing = client.get(reverse("connections:list", args=[workspace.public_id])).text
    assert "2\xa0minutes ago" in listing and "3\xa0hours ago" not in listing


def test_no_template_shows_a_time_without_its_zone():
    """A ``date`` format with hours and minutes ends with its zone (``T``)."""
    bare = []
    for path in TEMPLATES.rglob("*.html"):
        for fmt in re.findall(r"\|date:[\"']([^\"']*)[\"']", path.read_text()):
            if "H" in fmt and not fmt.rstrip().endswith(("T", "e", "O", "P")):
                bare.append(f"{path.relative_to(TEMPLATES)}: {fmt}")
    assert bare == []
