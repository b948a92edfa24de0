"""`airbyte pipeline optimize` and the Recommendations tab: each rule fires on rows
set up to show it, with its evidence, and a healthy connection gets nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from apps.connections import lifecycle, optimize
from apps.connections.models import ConnectionStream, SyncAttempt, SyncJob
from apps.engines.base import AttemptOutcome
from apps.schedules.models import Schedule
from tests.factories import ConnectionFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def connection(workspace):
    """Faker's users (incremental, key id) and products (full refresh only)."""
    connection = ConnectionFactory(workspace=workspace, name="Faker to warehouse")
    definition = connection.source.definition
    definition.pypi_version = "7.2.1"
    definition.latest_version = "7.2.1"
    definition.save()
    ConnectionStream.objects.create(
        connection=connection,
        name="users",
        sync_mode="incremental",
        destination_sync_mode="append_dedup",
        primary_key=[["id"]],
        cursor_field=["updated_at"],
    )
    ConnectionStream.objects.create(
        connection=connection,
        name="products",
        sync_mode="full_refresh",
        destination_sync_mode="overwrite",
    )
    return connection


def jobs(connection, count=3, minutes=1, users=500, products=10, status="succeeded"):
    """``count`` finished syncs, one an hour, each ``minutes`` long."""
    made = []
    for n in range(count):
        started = T0 + timedelta(hours=n)
        made.append(
            SyncJob.objects.create(
                public_id=uuid.uuid4(),
                connection=connection,
                trigger="scheduled",
                status=status,
                started_at=started,
                finished_at=started + timedelta(minutes=minutes),
                records_committed=users + products,
                stream_stats={
                    "users": {"records_emitted": users, "records_committed": users},
                    "products": {
                        "records_emitted": products,
                        "records_committed": products,
                    },
                },
            )
        )
    return made


def retried(connection, *, at, streams, minutes=1, wait=None, last="succeeded"):
    """A sync the lifecycle runs twice: the first attempt reads every stream and
    fails (transient), the retry starts when its back-off is over (or ``wait``
    later) and ends ``last``. Each attempt takes ``minutes``."""
    with time_machine.travel(at, tick=False) as clock:
        job = SyncJob.objects.create(connection=connection, trigger="scheduled")
        for status in ("failed", last):
            attempt = lifecycle.attempt_claim(job_id=job.pk)
            clock.shift(timedelta(minutes=minutes))
            done = status == "succeeded"
            stats = {
                key: {
                    "records_emitted": count,
                    "records_committed": count if done else 0,
                    "bytes_committed": 0,
                    "status": "COMPLETE" if done else "INCOMPLETE",
                }
                for key, count in streams.items()
            }
            committed = sum(streams.values()) if done else 0
            lifecycle.attempt_heartbeat(
                attempt_id=attempt.pk,
                records_emitted=sum(streams.values()),
                records_committed=committed,
                bytes_committed=0,
                progress=stats,
            )
            lifecycle.attempt_finish(
                attempt_id=attempt.pk,
                outcome=AttemptOutcome(
                    status=status,
                    records_committed=committed,
                    stream_stats=stats,
                    failure_type="" if done else "transient_error",
                    failure_origin="" if done else "source",
                    failure_message="" if done else "Connection reset by peer",
                ),
            )
            job.refresh_from_db()
            if job.next_attempt_at is not None:
                clock.move_to(job.next_attempt_at + (wait or timedelta()))
    return job


def codes(connection) -> list[tuple[str, str]]:
    return [
        (r.code, r.stream)
        for r in optimize.connection_recommendations(connection=connection)
    ]


def every_hour(connection, **extra) -> Schedule:
    return Schedule.objects.create(
        workspace=connection.workspace,
        connection=connection,
        name=f"S {uuid.uuid4().hex[:6]}",
        kind="interval",
        interval_minutes=60,
        **extra,
    )


def test_a_healthy_connection_gets_no_recommendation(connection):
    every_hour(connection)
    jobs(connection, count=5, minutes=2)

    assert codes(connection) == []


def test_full_refresh_of_a_large_stream_that_could_be_incremental(connection):
    connection.streams.filter(name="users").update(
        sync_mode="full_refresh", destination_sync_mode="overwrite"
    )
    jobs(connection, count=3, users=50_000)

    [found] = optimize.connection_recommendations(connection=connection)

    assert (found.code, found.stream) == ("full_refresh_large", "users")
    assert "50,000, 50,000, 50,000 records" in found.evidence
    assert "cursor: updated_at" in found.evidence
    assert "Incremental | Append + deduped" in found.advice
    assert len(found.jobs) == 3


def test_a_retried_sync_counts_its_records_once(connection):
    """The job's stream stats add up its attempts (12,000 for two reads of 6,000
    rows); the size is what one read moved: the succeeded attempt's count."""
    connection.streams.filter(name="users").update(
        sync_mode="full_refresh", destination_sync_mode="overwrite"
    )
    made = [
        retried(
            connection,
            at=T0 + timedelta(hours=n),
            streams={"users": 6_000, "products": 10},
        )
        for n in range(3)
    ]
    assert made[0].stream_stats["users"]["records_emitted"] == 12_000

    assert codes(connection) == []

    # The same retried syncs at 15,000 rows a read are large, said once each.
    connection.jobs.all().delete()
    for n in range(3):
        retried(
            connection,
            at=T0 + timedelta(hours=n),
            streams={"users": 15_000, "products": 10},
        )

    [found] = optimize.connection_recommendations(connection=connection)
    assert (found.code, found.stream) == ("full_refresh_large", "users")
    assert "15,000, 15,000, 15,000 records" in found.evidence
    assert "(median 15,000)" in found.evidence


def test_a_large_stream_the_source_reads_only_in_full_is_left_alone(connection):
    jobs(connection, count=3, products=80_000)

    assert codes(connection) == []


def test_dedup_without_a_primary_key(connection):
    connection.streams.filter(name="users").update(primary_key=[])

    [found] = optimize.connection_recommendations(connection=connection)

    assert (found.code, found.stream, found.severity) == (
        "dedup_without_pk",
        "users",
        "high",
    )
    assert "no primary key" in found.evidence
    assert "The source suggests id." in found.advice


def test_syncs_longer_than_an_interval_schedule(connection):
    Schedule.objects.create(
        workspace=connection.workspace,
        connection=connection,
        name="Every 10 min",
        kind="interval",
        interval_minutes=10,
    )
    made = jobs(connection, count=3, minutes=4)
    slow = jobs(connection, count=1, minutes=25)[0]

    [found] = optimize.connection_recommendations(connection=connection)

    assert found.code == "longer_than_schedule"
    assert "1 of the last 4 successful syncs took longer than 10 min" in found.evidence
    assert f"the longest took 25 min (job {slow.public_id})" in found.evidence
    assert "every 35 min or so" in found.evidence
    assert found.jobs == (str(slow.public_id),)
    assert str(made[0].public_id) not in found.jobs


def test_syncs_longer_than_a_cron_schedule_skip_runs(connection):
    Schedule.objects.create(
        workspace=connection.workspace,
        connection=connection,
        name="Every 5 min",
        kind="cron",
        cron_expression="*/5 * * * *",
    )
    jobs(connection, count=2, minutes=7)

    [found] = optimize.connection_recommendations(connection=connection)

    assert found.code == "longer_than_schedule"
    assert "2 of the last 2 successful syncs took longer than 5 min" in found.evidence
    assert "skipped" in found.evidence


def test_failed_and_cancelled_syncs_are_not_timed_against_the_schedule(connection):
    """A hung connector cancelled after 3 h, or a sync that failed after 2 h,
    says nothing about how long a sync takes."""
    every_hour(connection)
    jobs(connection, count=3, minutes=5)
    jobs(connection, count=1, minutes=180, status="cancelled")
    jobs(connection, count=1, minutes=120, status="failed")

    assert codes(connection) == []


def test_a_retried_sync_is_timed_by_its_successful_attempt(connection, settings):
    """Two 6-minute attempts 10 minutes apart (the back-off) on a 15-minute
    schedule: the job spans 22 minutes, the sync took 6."""
    settings.SYNC_RETRY_BACKOFF_BASE_SECONDS = 600
    Schedule.objects.create(
        workspace=connection.workspace,
        connection=connection,
        name="Every 15 min",
        kind="interval",
        interval_minutes=15,
    )
    job = retried(connection, at=T0, streams={"users": 10, "products": 1}, minutes=6)
    assert job.finished_at - job.started_at == timedelta(minutes=22)

    assert codes(connection) == []

    # A successful attempt that itself outlasts the gap is reported, by its time.
    slow = retried(
        connection,
        at=T0 + timedelta(hours=1),
        streams={"users": 10, "products": 1},
        minutes=20,
    )

    [found] = optimize.connection_recommendations(connection=connection)
    assert found.code == "longer_than_schedule"
    assert "1 of the last 2 successful syncs took longer than 15 min" in found.evidence
    assert f"the longest took 20 min (job {slow.public_id})" in found.evidence
    assert "successful attempt" in found.evidence
    assert found.jobs == (str(slow.public_id),)


def test_a_paused_schedule_is_not_held_against_slow_syncs(connection):
    every_hour(connection, paused=True)
    jobs(connection, count=2, minutes=90)

    assert codes(connection) == []


def test_a_stream_that_always_returns_nothing(connection):
    jobs(connection, count=3, products=0)

    [found] = optimize.connection_recommendations(connection=connection)

    assert (found.code, found.stream) == ("zero_records", "products")
    assert "0 records in each of the last 3 successful syncs" in found.evidence


def test_two_empty_syncs_are_not_enough_to_call_a_stream_empty(connection):
    jobs(connection, count=2, products=0)

    assert codes(connection) == []


def test_one_sync_with_records_clears_the_stream(connection):
    jobs(connection, count=3, products=0)
    jobs(connection, count=1, products=4)

    assert codes(connection) == []


def test_a_stream_selected_after_the_syncs_ran_is_not_called_empty(connection):
    """Jobs whose stats never mention a stream say nothing about it."""
    jobs(connection, count=3)
    ConnectionStream.objects.create(
        connection=connection,
        name="purchases",
        sync_mode="incremental",
        destination_sync_mode="append",
    )

    assert codes(connection) == []

    # Once it has been synced empty three times, it is.
    for job in jobs(connection, count=3):
        job.stream_stats["purchases"] = {"records_emitted": 0, "records_committed": 0}
        job.save()

    [found] = optimize.connection_recommendations(connection=connection)
    assert (found.code, found.stream) == ("zero_records", "purchases")
    assert "0 records in each of the last 3 successful syncs" in found.evidence
    assert len(found.jobs) == 3


def test_a_newer_connector_version_is_known(connection):
    source = connection.source
    source.connector_version = "6.0.0"
    source.save()
    definition = source.definition
    definition.latest_version = "7.10.0"
    definition.save()

    [found] = optimize.connection_recommendations(connection=connection)

    assert found.code == "connector_upgrade"
    assert "runs" in found.evidence and "6.0.0" in found.evidence
    assert "the catalog installs 7.2.1" in found.evidence
    assert "the registry's latest is 7.10.0" in found.evidence


def test_recommend_is_a_function_of_facts():
    """The rules take plain data: here a stream and jobs no database holds."""
    stream = optimize.StreamFacts(
        name="events",
        namespace="app",
        sync_mode="full_refresh",
        destination_sync_mode="append",
        supported_sync_modes=("full_refresh", "incremental"),
    )
    job = optimize.JobFacts(
        public_id="j1",
        status="succeeded",
        started_at=T0,
        finished_at=T0 + timedelta(minutes=1),
        records_committed=20_000,
        stream_records={"app.events": 20_000},
    )
    facts = optimize.ConnectionFacts(streams=(stream,), jobs=(job,))

    assert [r.code for r in optimize.recommend(facts)] == ["full_refresh_large"]
    assert optimize.recommend(facts, large_records=50_000) == []


def run_optimize(connection_id: str, workspace, user, *extra: str) -> None:
    """Run `airbyte pipeline optimize --connection-id <connection_id>` as ``user``."""
    call_command(
        "airbyte",
        "pipeline",
        "optimize",
        "--connection-id",
        connection_id,
        "--workspace",
        str(workspace.public_id),
        "--as",
        user.email,
        *extra,
    )


def test_cli_prints_a_table_and_the_evidence(capsys, connection, admin, workspace):
    connection.streams.filter(name="users").update(primary_key=[])
    jobs(connection, count=3, products=0)

    run_optimize("faker to warehouse", workspace, admin)
    out = capsys.readouterr().out

    assert out.splitlines()[0].split() == ["N", "SEVERITY", "CODE", "TITLE"]
    assert "dedup_without_pk" in out and "zero_records" in out
    # The most pressing first.
    assert out.index("dedup_without_pk") < out.index("zero_records")
    assert "Evidence: products returned 0 records in each of the last 3" in out


def test_cli_json(capsys, connection, viewer, workspace):
    jobs(connection, count=3, products=0)

    run_optimize(str(connection.public_id), workspace, viewer, "--json")
    data = json.loads(capsys.readouterr().out)

    assert data["connection"] == "Faker to warehouse"
    [found] = data["recommendations"]
    assert found["code"] == "zero_records"
    assert found["stream"] == "products"
    assert len(found["jobs"]) == 3


def test_cli_says_so_when_there_is_nothing(capsys, connection, admin, workspace):
    jobs(connection, count=3)

    run_optimize(str(connection.public_id), workspace, admin)

    assert "No recommendations for Faker to warehouse" in capsys.readouterr().out


def test_cli_unknown_connection_is_a_clear_error(admin, workspace):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No connection 'nope'"):
        run_optimize("nope", workspace, admin)


# -- the tab -------------------------------------------------------------------------


def _url(connection):
    return reverse(
        "optimize:recommendations",
        args=[connection.workspace.public_id, connection.public_id],
    )


def test_tab_shows_recommendations_and_attempt_resources(login, viewer, connection):
    connection.streams.filter(name="users").update(primary_key=[])
    [job] = jobs(connection, count=1)
    SyncAttempt.objects.create(
        job=job,
        number=1,
        status="succeeded",
        records_committed=510,
        engine_peak_rss_bytes=150 * 1024 * 1024,
        engine_cpu_seconds=1.25,
        connector_peak_rss_bytes=80 * 1024 * 1024,
        connector_cpu_seconds=3.5,
    )

    response = login(viewer).get(_url(connection))

    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-code="dedup_without_pk"' in page
    assert "Evidence:" in page and "no primary key" in page
    assert "150.0\xa0MB" in page and "80.0\xa0MB" in page
    assert "3.50" in page and "1.25" in page
    assert 'aria-current="page">Recommendations<' in page
    # Times carry their zone.
    assert " UTC</time>" in page


def test_tab_summary_says_what_was_not_measured(login, viewer, connection):
    """A connector run by Docker is not measured: no "0 bytes"; an engine that
    used no CPU time worth a tick says 0.00, not "—"."""
    [job] = jobs(connection, count=1)
    SyncAttempt.objects.create(
        job=job,
        number=1,
        status="succeeded",
        engine_peak_rss_bytes=100 * 1024 * 1024,
        engine_cpu_seconds=0.0,
    )

    page = login(viewer).get(_url(connection)).content.decode()

    assert (
        "the engine peaked at 100.0\xa0MB and used 0.00 CPU s per attempt; "
        "the connector peaked at — and used — CPU s per attempt" in page
    )
    assert "0\xa0bytes" not in page


def test_tab_says_when_there_is_nothing(login, viewer, connection):
    response = login(viewer).get(_url(connection))

    page = response.content.decode()
    assert 'data-testid="no-recommendations"' in page
    assert "No finished attempt yet." in page


def test_tab_fragment_for_htmx(login, viewer, connection, htmx_headers):
    response = login(viewer).get(_url(connection), headers=htmx_headers)

    assert response.status_code == 200
    assert b"<html" not in response.content
    assert b'id="optimize-content"' in response.content


def test_outsider_gets_404(login, outsider, connection):
    assert login(outsider).get(_url(connection)).status_code == 404


def test_tab_queries_are_bounded(
    login, viewer, connection, django_assert_max_num_queries
):
    for job in jobs(connection, count=5):
        SyncAttempt.objects.create(job=job, number=1, status="succeeded")
    client = login(viewer)
    with django_assert_max_num_queries(20):
        client.get(_url(connection))
