"""Reading dbt projects, their runs and what each node did, scoped to a workspace.

Pages read the graph the last parse saved on the project and the RunNode rows of
past runs, never a worker's disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

from django.db.models import Max, OuterRef, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone

from apps.connections.models import Connection, SyncJob
from apps.transforms.models import (
    DbtInstall,
    DbtProject,
    ProjectArtifact,
    ProjectFile,
    RunNode,
    TransformRun,
    TransformTrigger,
)
from apps.workspaces.models import Workspace

# Commands whose node results say how a node last did; compile, show, parse and
# docs runs touch nodes without building or testing them.
RESULT_COMMANDS = ("build", "run", "test", "seed", "snapshot")
BUILT_TYPES = ("model", "seed", "snapshot")
RUNS_SHOWN = 20


def project_list(*, workspace: Workspace) -> QuerySet[DbtProject]:
    """A workspace's projects with their destination and last run's number/status."""
    last = TransformRun.objects.filter(project=OuterRef("pk")).order_by(
        "-created_at", "-id"
    )
    return (
        DbtProject.objects.for_workspace(workspace)
        .select_related("destination", "connection")
        .annotate(
            last_run_id=Subquery(last.values("public_id")[:1]),
            last_run_number=Subquery(last.values("number")[:1]),
            last_run_status=Subquery(last.values("status")[:1]),
            last_run_command=Subquery(last.values("command")[:1]),
            last_run_at=Subquery(last.values("created_at")[:1]),
        )
        .order_by("name")
    )


def project_get(*, workspace: Workspace, public_id: UUID) -> DbtProject:
    """One project of the workspace; 404 otherwise."""
    found = (
        DbtProject.objects.for_workspace(workspace)
        .select_related("workspace", "destination", "connection", "git_credential")
        .filter(public_id=public_id)
        .first()
    )
    if found is None:
        raise Http404("No such dbt project.")
    return found


def run_get(*, workspace: Workspace, public_id: UUID) -> TransformRun:
    """One run of one of the workspace's projects; 404 otherwise."""
    found = (
        TransformRun.objects.for_workspace(workspace)
        .select_related("project", "requested_by", "sync_job__connection")
        .filter(public_id=public_id)
        .first()
    )
    if found is None:
        raise Http404("No such transform run.")
    return found


def run_list(*, project: DbtProject, limit: int = RUNS_SHOWN) -> list[TransformRun]:
    """The project's latest runs, newest first."""
    return list(
        project.runs.select_related("requested_by", "sync_job").defer("log")[:limit]
    )


def run_history(*, project: DbtProject) -> QuerySet[TransformRun]:
    """All of the project's runs, newest first, for a paged list."""
    return project.runs.select_related("requested_by", "sync_job").defer("log")


def active_run(*, project: DbtProject) -> TransformRun | None:
    return project.runs.active().defer("log").first()


def trigger_get(*, workspace: Workspace, public_id: UUID) -> TransformTrigger:
    found = (
        TransformTrigger.objects.for_workspace(workspace)
        .select_related("project", "connection")
        .filter(public_id=public_id)
        .first()
    )
    if found is None:
        raise Http404("No such after-sync trigger.")
    return found


def triggers_for_project(*, project: DbtProject) -> list[TransformTrigger]:
    return list(project.triggers.select_related("connection"))


def triggers_for_connection(*, connection: Connection) -> list[TransformTrigger]:
    """The projects that run after this connection's syncs, with their last run."""
    triggers = list(
        connection.transform_triggers.select_related("project").order_by(
            "project__name"
        )
    )
    latest = (
        TransformRun.objects.filter(project_id__in=[t.project_id for t in triggers])
        .values("project_id")
        .annotate(last=Max("pk"))
        .values("last")
    )
    last = {
        run.project_id: run
        for run in TransformRun.objects.filter(pk__in=Subquery(latest)).defer("log")
    }
    for trigger in triggers:
        trigger.last_run = last.get(trigger.project_id)
    return triggers


def runs_for_job(*, job: SyncJob) -> list[TransformRun]:
    """The transform runs a sync's success started ("then: transform run #N")."""
    return list(job.transform_runs.select_related("project").defer("log"))


# How long after a sync's success its job page waits for the runs it starts (the
# receiver requests them on commit: they appear within a second or two).
FOLLOWUP_WAIT = timedelta(seconds=60)


def job_followup(*, job: SyncJob) -> dict:
    """What the job page says after a sync: its transform runs, or that they start."""
    found = runs_for_job(job=job)
    waiting = (
        not found
        and job.status == SyncJob.Status.SUCCEEDED
        and job.finished_at is not None
        and timezone.now() - job.finished_at < FOLLOWUP_WAIT
        and job.connection.transform_triggers.filter(enabled=True).exists()
    )
    return {
        "runs": found,
        "waiting": waiting,
        "polling": waiting or any(run.is_active for run in found),
    }


def projects_for_picker(*, workspace: Workspace) -> QuerySet[DbtProject]:
    return DbtProject.objects.for_workspace(workspace).only("pk", "public_id", "name")


def installs() -> dict[str, DbtInstall]:
    """The last install of dbt per adapter (rows are not per workspace: dbt is not)."""
    return {row.adapter: row for row in DbtInstall.objects.all()}


def last_nodes(*, project: DbtProject) -> dict[str, RunNode]:
    """Each node's latest result from a build, run, test, seed or snapshot."""
    latest = (
        RunNode.objects.filter(run__project=project, run__command__in=RESULT_COMMANDS)
        .values("unique_id")
        .annotate(last=Max("pk"))
        .values("last")
    )
    rows = RunNode.objects.filter(pk__in=Subquery(latest)).select_related("run")
    return {row.unique_id: row for row in rows}


def node_history(
    *, project: DbtProject, unique_id: str, limit: int = 10
) -> list[RunNode]:
    return list(
        RunNode.objects.filter(run__project=project, unique_id=unique_id)
        .select_related("run")
        .order_by("-run__created_at", "-pk")[:limit]
    )


def graph_nodes(project: DbtProject) -> list[dict]:
    return list((project.graph or {}).get("nodes") or [])


def node_get(project: DbtProject, unique_id: str) -> dict:
    """One node of the project's last parse; 404 when the parse has no such node."""
    for node in graph_nodes(project):
        if node.get("unique_id") == unique_id:
            return node
    raise Http404("No such node in this project's last parse.")


@dataclass
class ModelRow:
    """A model (or seed, snapshot) with how it last did and how its tests did."""

    node: dict
    last: RunNode | None
    tests: list[dict] = field(default_factory=list)
    tests_passed: int = 0
    tests_failed: int = 0

    @property
    def unique_id(self) -> str:
        return self.node["unique_id"]

    @property
    def name(self) -> str:
        return self.node.get("name", "")


def model_rows(project: DbtProject, last: dict[str, RunNode]) -> list[ModelRow]:
    """The project's models, seeds and snapshots in name order with their results."""
    nodes = graph_nodes(project)
    tests = {n["unique_id"]: n for n in nodes if n.get("resource_type") == "test"}
    rows = []
    for node in nodes:
        if node.get("resource_type") not in BUILT_TYPES:
            continue
        row = ModelRow(node=node, last=last.get(node["unique_id"]))
        for test_id in node.get("tests") or []:
            test = tests.get(test_id, {"unique_id": test_id, "name": test_id})
            row.tests.append(test)
            result = last.get(test_id)
            if result is None:
                continue
            if result.status in ("pass", "success"):
                row.tests_passed += 1
            elif result.status in ("fail", "error", "runtime error"):
                row.tests_failed += 1
        rows.append(row)
    rows.sort(key=lambda r: (r.node.get("resource_type") != "model", r.name))
    return rows


def downstream(project: DbtProject, unique_id: str) -> list[dict]:
    return [
        n
        for n in graph_nodes(project)
        if unique_id in (n.get("depends_on") or []) and n.get("resource_type") != "test"
    ]


def project_files(*, project: DbtProject) -> QuerySet[ProjectFile]:
    return project.files.defer("content")


def project_file(*, project: DbtProject, path: str) -> ProjectFile | None:
    return project.files.filter(path=path).first()


def docs_artifact(*, project: DbtProject) -> ProjectArtifact | None:
    return project.artifacts.filter(name="docs.html").select_related("run").first()


def docs_artifact_meta(*, project: DbtProject) -> ProjectArtifact | None:
    """The docs artifact without its (large) content, for the page around it."""
    return (
        project.artifacts.filter(name="docs.html")
        .select_related("run")
        .defer("content")
        .first()
    )
