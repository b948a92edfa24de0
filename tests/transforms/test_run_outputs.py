"""What runs leave for the pages: a git project's pulled commit, a model's 20-row
preview, its compiled SQL and the static docs site (issue #14 items 2, 3 and 5)."""

from __future__ import annotations

import subprocess

import pytest

from apps.transforms.models import DbtProject, ProjectArtifact, TransformRun
from tests.transforms.runs_helpers import (
    dbt_project_yml,
    duckdb_destination,
    make_project,
    run_now,
)

Status = TransformRun.Status


@pytest.fixture
def duck(workspace, settings, tmp_path, dbt_settings):
    from apps.engines.embedded.destinations.duckdb import resolve_duckdb_path

    settings.DUCKDB_DIR = tmp_path / "duck"
    settings.TRANSFORMS_DIR = tmp_path / "transforms"
    resolve_duckdb_path(
        "warehouse.duckdb", workspace_id=str(workspace.public_id)
    ).parent.mkdir(parents=True, exist_ok=True)
    return duckdb_destination(workspace)


def _git(repo, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        env={
            "GIT_AUTHOR_NAME": "Ada",
            "GIT_AUTHOR_EMAIL": "ada@acme.test",
            "GIT_COMMITTER_NAME": "Ada",
            "GIT_COMMITTER_EMAIL": "ada@acme.test",
            "HOME": str(repo),
            "PATH": "/usr/bin:/bin",
        },
    ).stdout.strip()


def _commit(repo, files: dict[str, str], message: str) -> str:
    for path, content in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(content)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)
    return _git(repo, "rev-parse", "HEAD")


def test_each_run_of_a_git_project_pulls_the_branch_tip_and_records_it(
    admin, workspace, duck, tmp_path
):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    first = _commit(
        repo,
        {
            "dbt_project.yml": dbt_project_yml("shop"),
            "models/orders.sql": "select 1 as id\n",
        },
        "orders",
    )
    project = DbtProject.objects.create(
        workspace=workspace,
        name="Shop (git)",
        kind=DbtProject.Kind.GIT,
        destination=duck,
        git_url=str(repo),
        git_branch="main",
    )

    run = run_now(project, admin, command="parse")

    assert run.status == Status.SUCCEEDED, run.failure_message
    assert run.git_commit == first
    project.refresh_from_db()
    assert project.git_commit == first
    assert {n["name"] for n in project.graph["nodes"]} == {"orders"}
    assert f"At commit {first}" in run.log

    second = _commit(repo, {"models/customers.sql": "select 2 as id\n"}, "customers")
    run = run_now(project, admin)

    assert run.status == Status.SUCCEEDED, run.failure_message
    assert run.git_commit == second
    project.refresh_from_db()
    assert project.git_commit == second
    assert {n.name for n in run.nodes.all()} == {"orders", "customers"}


def test_a_git_remote_that_does_not_answer_fails_the_run_with_the_reason(
    admin, workspace, duck, tmp_path
):
    project = DbtProject.objects.create(
        workspace=workspace,
        name="Gone",
        kind=DbtProject.Kind.GIT,
        destination=duck,
        git_url=str(tmp_path / "no-such-repo"),
        git_branch="main",
    )
    run = run_now(project, admin)
    assert run.status == Status.FAILED
    assert run.failure_message
    assert not run.nodes.exists()
    assert run.failure_message in run.log


def test_preview_compile_and_docs_fill_what_the_model_page_reads(
    admin, workspace, duck
):
    project = make_project(
        workspace,
        duck,
        {
            "dbt_project.yml": dbt_project_yml("shop"),
            "models/orders.sql": (
                "select * from (values (1, 'paid'), (2, 'open'), (3, 'paid'))"
                " as t(id, status)\n"
            ),
        },
    )

    shown = run_now(project, admin, command="show", selector="orders")
    compiled = run_now(project, admin, command="compile", selector="orders")
    docs = run_now(project, admin, command="docs generate")

    assert shown.status == Status.SUCCEEDED, shown.failure_message
    assert shown.output["columns"] == ["id", "status"]
    assert shown.output["rows"] == [[1, "paid"], [2, "open"], [3, "paid"]]
    assert compiled.status == Status.SUCCEEDED, compiled.failure_message
    assert "values (1, 'paid')" in compiled.output["sql"]
    assert docs.status == Status.SUCCEEDED, docs.failure_message
    assert docs.output == {}
    page = ProjectArtifact.objects.get(project=project, name="docs.html")
    assert page.run == docs
    assert "<html" in page.content[:2000].lower()


def test_a_token_in_a_git_url_stays_out_of_the_run(admin, workspace, duck):
    token = "ghp_canaryToken7e4a1"
    project = DbtProject.objects.create(
        workspace=workspace,
        name="Private",
        kind=DbtProject.Kind.GIT,
        destination=duck,
        git_url=f"https://{token}@127.0.0.1:9/acme/shop.git",
        git_branch="main",
    )
    run = run_now(project, admin)
    assert run.status == Status.FAILED
    assert "Pulling https://127.0.0.1:9/acme/shop.git (branch main)" in run.log
    assert token not in run.log
    assert token not in run.failure_message
