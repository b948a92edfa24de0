"""`airbyte demo seed` fills a workspace with realistic history; the pages hold up."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.models import Count, Max, Min
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

import apps.ops.demo_cli  # noqa: F401 - registers `airbyte demo`
from apps.audit.models import AuditEvent
from apps.connections.models import Connection, ConnectionStream, SyncAttempt, SyncJob
from apps.connectors.models import Destination, Source
from apps.core.roles import Role
from apps.ops.management.commands.bench_pages import percentile
from apps.ops.seed import SEED_ACTION, demo_seed
from apps.workspaces.models import Membership, Workspace


@pytest.fixture
def seeded(admin, workspace):
    return demo_seed(
        actor=admin, workspace=workspace, connections=20, jobs=500, random_seed=1
    )


def test_seed_makes_the_rows_it_reports(seeded, workspace):
    connections = Connection.objects.for_workspace(workspace)
    assert connections.count() == 20 == seeded.connections
    jobs = SyncJob.objects.filter(connection__workspace=workspace)
    assert jobs.count() == 500 == seeded.jobs
    streams = ConnectionStream.objects.filter(connection__workspace=workspace)
    assert streams.count() == seeded.streams
    per_connection = connections.annotate(n=Count("streams")).aggregate(
        low=Min("n"), high=Max("n")
    )
    assert 1 <= per_connection["low"] <= per_connection["high"] <= 3
    # Every job that started has its attempt; a pending one has none yet.
    started = jobs.exclude(status=SyncJob.Status.PENDING)
    assert SyncAttempt.objects.filter(job__in=started).count() == started.count()
    assert seeded.attempts == started.count()
    assert dict(Counter(jobs.values_list("status", flat=True))) == (
        seeded.jobs_by_status
    )


def test_seed_uses_the_shipped_catalog_definitions(seeded, workspace):
    packages = set(
        Source.objects.for_workspace(workspace).values_list(
            "definition__pypi_package", flat=True
        )
    )
    assert packages == {"airbyte-source-faker", "airbyte-source-hardcoded-records"}
    builtins = set(
        Destination.objects.for_workspace(workspace).values_list(
            "definition__builtin", flat=True
        )
    )
    assert builtins == {"duckdb", "postgres"}
    # A real sync of seeded data must never reach a real PostgreSQL server.
    for destination in Destination.objects.filter(definition__builtin="postgres"):
        assert destination.config["host"].endswith(".invalid")


def test_seed_keeps_one_active_job_per_connection(seeded, workspace):
    active = SyncJob.objects.filter(
        connection__workspace=workspace, status__in=SyncJob.ACTIVE_STATUSES
    )
    per_connection = Counter(active.values_list("connection_id", flat=True))
    assert per_connection and max(per_connection.values()) == 1
    assert active.filter(status=SyncJob.Status.RUNNING).exists()
    for job in active:
        newest = job.connection.jobs.order_by("-created_at", "-id").first()
        assert newest == job
        assert job.connection.status == Connection.Status.ACTIVE


def test_seed_spreads_history_over_sixty_days_in_order(seeded, workspace):
    now = timezone.now()
    jobs = SyncJob.objects.filter(connection__workspace=workspace)
    oldest = jobs.aggregate(first=Min("created_at"))["first"]
    assert now - timedelta(days=61) < oldest < now - timedelta(days=50)
    finished = jobs.filter(status__in=SyncJob.TERMINAL_STATUSES)
    for job in finished.iterator():
        assert job.created_at <= job.started_at < job.finished_at <= now
    attempt = SyncAttempt.objects.filter(job__in=finished).select_related("job")[0]
    assert attempt.started_at == attempt.job.started_at


def test_failed_jobs_say_why_and_have_a_log(seeded, workspace):
    failed = SyncJob.objects.filter(
        connection__workspace=workspace, status=SyncJob.Status.FAILED
    )
    assert failed.exists()
    for job in failed:
        assert job.failure_type and job.failure_origin and job.failure_message
        attempt = job.attempts.get()
        assert attempt.status == SyncAttempt.Status.FAILED
        assert " ERROR " in attempt.log


def test_seed_records_one_audit_event(admin, workspace):
    before = AuditEvent.objects.count()
    demo_seed(actor=admin, workspace=workspace, connections=5, jobs=50)
    assert AuditEvent.objects.count() == before + 1
    event = AuditEvent.objects.get(action=SEED_ACTION)
    assert event.workspace_id == workspace.pk
    assert event.actor_id == admin.pk
    assert event.changes["connections"] == [None, 5]
    assert event.changes["jobs"] == [None, 50]


def test_seeding_again_adds_more_and_reuses_sources(admin, workspace, seeded):
    again = demo_seed(actor=admin, workspace=workspace, connections=5, jobs=40)
    assert Connection.objects.for_workspace(workspace).count() == 25
    assert again.sources == again.destinations == 0
    assert Source.objects.for_workspace(workspace).count() == 5
    assert SyncJob.objects.filter(connection__workspace=workspace).count() == 540
    assert AuditEvent.objects.filter(action=SEED_ACTION).count() == 2


def test_seed_refuses_nonsense_numbers(admin, workspace):
    with pytest.raises(ValidationError, match="--connections"):
        demo_seed(actor=admin, workspace=workspace, connections=0, jobs=10)
    assert not Connection.objects.exists()


def _run_cli(*args: str) -> dict:
    out = StringIO()
    call_command("airbyte", "demo", "seed", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_cli_seeds_a_new_seeded_workspace_by_default(admin):
    data = _run_cli("--connections", "3", "--jobs", "30", "--as", admin.email)
    workspace = Workspace.objects.get(name="Seeded")
    assert data["workspace"]["id"] == str(workspace.public_id)
    assert data["connections"] == 3 and data["jobs"] == 30
    assert Membership.objects.get(workspace=workspace, user=admin).role == Role.ADMIN
    assert SyncJob.objects.filter(connection__workspace=workspace).count() == 30


def test_cli_needs_the_admin_role(workspace, viewer):
    with pytest.raises(CommandError, match="admin role"):
        call_command(
            "airbyte",
            "demo",
            "seed",
            "--workspace",
            workspace.name,
            "--as",
            viewer.email,
            stdout=StringIO(),
        )
    assert not Connection.objects.exists()


def test_percentile_is_nearest_rank():
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 95) == 95.0
    assert percentile(values, 50) == 50.0
    assert percentile([7.0], 95) == 7.0


# -- the pages on seeded data: they render, and their query count does not grow --
def _pages(workspace, seeded) -> dict[str, tuple[str, dict[str, str]]]:
    ws = workspace.public_id
    busy = seeded.busiest_connection.public_id
    running = seeded.running_connection.public_id
    return {
        "dashboard": (reverse("workspaces:detail", args=[ws]), {}),
        "list": (reverse("connections:list", args=[ws]), {}),
        "jobs": (reverse("connections:jobs", args=[ws, busy]), {}),
        "live": (
            reverse("connections:detail", args=[ws, running]),
            {"HX-Request": "true"},
        ),
    }


# Headroom for what other apps add to every page (navigation, badges); the test
# below is the N+1 guard: the counts must not move when the data grows.
LIMITS = {"dashboard": 20, "list": 12, "jobs": 12, "live": 14}


@pytest.mark.parametrize("page", sorted(LIMITS))
def test_pages_render_seeded_data_with_bounded_queries(
    page, admin, workspace, seeded, login, django_assert_max_num_queries
):
    client = login(admin)
    path, headers = _pages(workspace, seeded)[page]
    with django_assert_max_num_queries(LIMITS[page]):
        response = client.get(path, headers=headers)
    assert response.status_code == 200
    if headers:
        assert b"<html" not in response.content
        assert b"Sync in progress" in response.content


def test_page_query_counts_do_not_grow_with_the_data(
    admin, workspace, seeded, login, django_assert_num_queries
):
    client = login(admin)
    pages = _pages(workspace, seeded)
    counts = {}
    for name, (path, headers) in pages.items():
        with CaptureQueriesContext(connection) as captured:
            client.get(path, headers=headers)
        counts[name] = len(captured)
    # Four times the connections and jobs: every page must cost the same queries.
    demo_seed(actor=admin, workspace=workspace, connections=20, jobs=1500)
    for name, (path, headers) in pages.items():
        with django_assert_num_queries(counts[name]):
            response = client.get(path, headers=headers)
        assert response.status_code == 200, name


def test_seeding_never_finds_another_team_s_workspace_by_name(admin, outsider):
    from apps.ops.seed import seeded_workspace_lookup
    from apps.workspaces.models import Workspace

    theirs = Workspace.objects.filter(memberships__user=outsider).first()

    assert seeded_workspace_lookup(theirs.name, user=admin) is None
    assert seeded_workspace_lookup(theirs.name, user=outsider) == theirs
