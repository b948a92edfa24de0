"""The Transforms pages: what each role sees and may do, live partials, clear states.

Rows are made with the ORM (what a worker would have recorded); the buttons call
the real services, and nothing here starts dbt (the worker's side is H3's tests;
the whole loop with real dbt is tests/browser/test_transforms_flow.py).
"""

from __future__ import annotations

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.transforms.models import (
    DbtInstall,
    DbtProject,
    ProjectArtifact,
    ProjectFile,
    RunNode,
    TransformRun,
    TransformTrigger,
)
from tests.factories import ConnectionFactory
from tests.transforms.runs_helpers import duckdb_destination

HX = {"HX-Request": "true"}
NO_BROKER = "apps.transforms.tasks.transform_run_task.apply_async"

GRAPH = {
    "project_name": "acme",
    "nodes": [
        {
            "unique_id": "source.acme.airbyte_faker.users",
            "name": "users",
            "resource_type": "source",
            "source_name": "airbyte_faker",
            "depends_on": [],
            "columns": [{"name": "id", "description": "The user's id."}],
            "tests": [],
        },
        {
            "unique_id": "model.acme.stg_users",
            "name": "stg_users",
            "resource_type": "model",
            "original_file_path": "models/staging/stg_users.sql",
            "materialized": "view",
            "depends_on": ["source.acme.airbyte_faker.users"],
            "description": "One row per user.",
            "columns": [
                {"name": "id", "description": "Key.", "data_type": "bigint"},
                {"name": "email", "description": "", "data_type": "varchar"},
            ],
            "raw_code": "select id, email from {{ source('airbyte_faker', 'users') }}",
            "tests": ["test.acme.unique_stg_users_id.1a2b"],
        },
        {
            "unique_id": "test.acme.unique_stg_users_id.1a2b",
            "name": "unique_stg_users_id",
            "resource_type": "test",
            "depends_on": ["model.acme.stg_users"],
            "tests": [],
        },
    ],
}
SQL = "select\n    id,\n    email\nfrom {{ source('airbyte_faker', 'users') }}\n"


@pytest.fixture
def project(workspace, settings, tmp_path):
    settings.DUCKDB_DIR = tmp_path
    connection = ConnectionFactory(workspace=workspace, name="Faker to Duck")
    project = DbtProject.objects.create(
        workspace=workspace,
        name="Faker models",
        kind=DbtProject.Kind.GENERATED,
        destination=duckdb_destination(workspace),
        connection=connection,
        graph=GRAPH,
    )
    ProjectFile.objects.create(
        project=project, path="models/staging/stg_users.sql", content=SQL
    )
    ProjectFile.objects.create(
        project=project, path="dbt_project.yml", content="name: acme\n"
    )
    return project


def _run(project, number=1, status="succeeded", command="build", **extra):
    now = timezone.now()
    finished = status in TransformRun.TERMINAL_STATUSES
    return TransformRun.objects.create(
        workspace=project.workspace,
        project=project,
        number=number,
        command=command,
        trigger=extra.pop("trigger", "manual"),
        status=status,
        started_at=now - timedelta(seconds=5) if status != "pending" else None,
        finished_at=now if finished else None,
        **extra,
    )


@pytest.fixture
def built(project):
    """A finished build: the model succeeded with 200 rows, its test failed."""
    run = _run(
        project,
        status="failed",
        stats={"success": 1, "fail": 1},
        failure_message="1 test failed: unique_stg_users_id (3 failing rows).",
        log="12:00:01  Running with dbt=1.11.16\n"
        "12:00:02  1 of 2 OK created sql view model main.stg_users\n"
        "12:00:03  1 of 2 FAIL 3 unique_stg_users_id\n"
        "12:00:03  Done. PASS=1 WARN=0 ERROR=0 SKIP=0 TOTAL=2",
    )
    RunNode.objects.create(
        run=run,
        unique_id="model.acme.stg_users",
        name="stg_users",
        resource_type="model",
        status="success",
        execution_time=0.42,
        rows_affected=200,
    )
    RunNode.objects.create(
        run=run,
        unique_id="test.acme.unique_stg_users_id.1a2b",
        name="unique_stg_users_id",
        resource_type="test",
        status="fail",
        execution_time=0.05,
        failures=3,
        message="Got 3 results, configured to fail if != 0",
    )
    return run


def _url(name, project, *args):
    return reverse(name, args=[project.workspace.public_id, *args])


# --- list and installs ---------------------------------------------------------------


def test_list_shows_projects_with_destination_and_last_run(
    project, built, viewer, login, django_assert_max_num_queries
):
    client = login(viewer)

    with django_assert_max_num_queries(12):
        response = client.get(_url("transforms:list", project))

    page = response.text
    assert response.status_code == 200
    assert "Faker models" in page and "Duck" in page and "Faker to Duck" in page
    assert "#1 build" in page and "status-failed" in page
    # Installing dbt is for admins.
    assert "dbt on the workers" not in page
    assert "New project" not in page


def test_empty_list_says_what_to_do_next(workspace, editor, viewer, login):
    url = reverse("transforms:list", args=[workspace.public_id])

    as_editor = login(editor).get(url).text
    as_viewer = login(viewer).get(url).text

    assert "No dbt projects yet" in as_editor
    assert "Generate one from a connection" in as_editor
    assert "An editor can generate one" in as_viewer


def test_admin_sees_installs_and_their_progress_live(workspace, admin, login):
    DbtInstall.objects.create(adapter="duckdb", status="installing", log="pip ...")
    DbtInstall.objects.create(
        adapter="postgres", status="failed", message="PyPI did not answer."
    )
    client = login(admin)

    page = client.get(reverse("transforms:list", args=[workspace.public_id])).text
    fragment = client.get(reverse("transforms:installs", args=[workspace.public_id]))

    assert "Install dbt for PostgreSQL" in page and "PyPI did not answer." in page
    assert "Installing…" in page
    assert 'hx-trigger="every 2s"' in page
    assert "<html" not in fragment.text and "dbt on the workers" in fragment.text
    DbtInstall.objects.filter(adapter="duckdb").update(status="installed")
    done = client.get(reverse("transforms:installs", args=[workspace.public_id])).text
    assert 'hx-trigger="every 2s"' not in done


def test_admin_installs_dbt_from_the_page(
    workspace, admin, login, django_capture_on_commit_callbacks
):
    url = reverse("transforms:install", args=[workspace.public_id, "duckdb"])
    client = login(admin)

    with (
        mock.patch("apps.transforms.tasks.dbt_install_task.apply_async") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(url, headers=HX)

    assert response.status_code == 200 and "<html" not in response.text
    assert "Waiting for a worker" in response.text
    assert DbtInstall.objects.get(adapter="duckdb").status == "pending"
    assert AuditEvent.objects.filter(action="transform.dbt_install").exists()
    enqueue.assert_called_once()


def test_editor_cannot_install_dbt_and_outsider_gets_404(
    workspace, editor, outsider, login
):
    url = reverse("transforms:install", args=[workspace.public_id, "duckdb"])

    assert login(editor).post(url).status_code == 403
    assert login(outsider).post(url).status_code == 404
    assert not DbtInstall.objects.exists()


def test_an_unknown_adapter_is_404(workspace, admin, login):
    url = reverse("transforms:install", args=[workspace.public_id, "oracle"])

    assert login(admin).post(url).status_code == 404


# --- project page --------------------------------------------------------------------


def test_project_page_shows_models_with_last_status_rows_time_and_lineage(
    project, built, viewer, login
):
    response = login(viewer).get(_url("transforms:detail", project, project.public_id))

    page = response.text
    models = page[page.index('data-testid="models"') :]
    assert "stg_users" in models and "200" in models and "0.42 s" in models
    assert "node-success" in models and "1 failed" in models
    # The lineage: one box per source, model and test, each a link to its page.
    start = page.index('<svg class="lineage"')
    svg = page[start : page.index("</svg>", start)]
    for uid in (
        "source.acme.airbyte_faker.users",
        "model.acme.stg_users",
        "test.acme.unique_stg_users_id.1a2b",
    ):
        assert _url("transforms:node", project, project.public_id, uid) in svg
    assert svg.count("<path") == 2
    # The failed run says why, in the runs table.
    assert "1 test failed: unique_stg_users_id" in page
    # Viewers read; no buttons.
    assert "Build</button>" not in page and "Delete this project" not in page
    # Nothing polls when nothing runs.
    assert "every 2s" not in page


def test_project_page_polls_while_a_run_is_active_and_htmx_gets_the_fragment(
    project, built, viewer, login
):
    _run(project, number=2, status="running", worker="w1")
    url = _url("transforms:detail", project, project.public_id)

    fragment = login(viewer).get(url, headers=HX).text

    assert "<html" not in fragment
    assert fragment.strip().startswith('<div id="live"')
    assert 'hx-trigger="every 2s"' in fragment
    assert "Run #2: dbt build" in fragment and "Follow the log" in fragment


def test_new_project_says_press_build(project, editor, login):
    project.graph = {}
    project.save()

    page = login(editor).get(_url("transforms:detail", project, project.public_id)).text

    assert "No runs yet: press Build." in page
    assert "No models read yet: press Build" in page
    assert "Build</button>" in page


def test_unsupported_destination_is_named_on_the_project_page(project, editor, login):
    from tests.factories import DestinationFactory

    project.destination = DestinationFactory(workspace=project.workspace, name="S3")
    project.save()

    page = login(editor).get(_url("transforms:detail", project, project.public_id)).text

    problem = page[page.index('data-testid="profile-problem"') :]
    assert "dbt cannot build in this destination" in problem
    assert "Supported destination types: " in problem
    assert "DuckDB" in problem[: problem.index("</div>")]


def test_missing_dbt_is_explained_with_what_to_do(project, admin, login):
    page = login(admin).get(_url("transforms:detail", project, project.public_id)).text

    assert "dbt for DuckDB is not installed on the workers yet" in page
    assert "Install dbt for DuckDB first" in page
    # A run that succeeded had dbt: no more hint.
    _run(project, command="parse")
    page = login(admin).get(_url("transforms:detail", project, project.public_id)).text
    assert "not installed on the workers" not in page


# --- runs ----------------------------------------------------------------------------


def test_editor_starts_a_build_and_the_live_part_comes_back(
    project, editor, login, django_capture_on_commit_callbacks
):
    url = _url("transforms:run_request", project, project.public_id)

    with (
        mock.patch(NO_BROKER) as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = login(editor).post(
            url, {"command": "build", "selector": "stg_users+"}, headers=HX
        )

    run = project.runs.get()
    assert (run.command, run.selector, run.status, run.requested_by) == (
        "build",
        "stg_users+",
        "pending",
        editor,
    )
    assert AuditEvent.objects.filter(action="transform.requested").count() == 1
    enqueue.assert_called_once()
    assert response.status_code == 200 and "<html" not in response.text
    assert "Waiting for a worker" in response.text
    assert "Run #1 (build) started." in response.headers["HX-Trigger"]


def test_a_second_run_while_one_is_active_is_refused_with_the_reason(
    project, editor, login
):
    _run(project, number=1, status="running")
    url = _url("transforms:run_request", project, project.public_id)

    with mock.patch(NO_BROKER):
        response = login(editor).post(url, {"command": "test"}, headers=HX)

    assert response.status_code == 409
    assert "already queued or running (run #1)" in response.headers["HX-Trigger"]
    assert project.runs.count() == 1


def test_viewer_cannot_run_and_outsider_gets_404(project, viewer, outsider, login):
    url = _url("transforms:run_request", project, project.public_id)

    assert login(viewer).post(url, {"command": "build"}).status_code == 403
    assert login(outsider).post(url, {"command": "build"}).status_code == 404
    assert not project.runs.exists()


def test_run_page_shows_nodes_the_reason_and_the_log_with_zone(
    project, built, viewer, login
):
    url = _url("transforms:run", project, built.public_id)

    page = login(viewer).get(url).text

    assert "Why it failed" in page and "3 failing rows" in page
    assert "Got 3 results" in page and "unique_stg_users_id" in page
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page)
    # The FAIL line stands out; dbt's summary "ERROR=0" does not.
    assert re.findall(r'class="log-error">([^<]*)<', page) == [
        "12:00:03  1 of 2 FAIL 3 unique_stg_users_id"
    ]
    assert "4 of 4 lines" in page
    assert "every 1500ms" not in page


def test_run_log_search_download_and_live_fragment(project, built, viewer, login):
    url = _url("transforms:run", project, built.public_id)
    client = login(viewer)

    searched = client.get(url, {"q": "created sql view"}, headers=HX).text
    download = client.get(url, {"download": "1"})
    built.status = "running"
    built.save()
    live = client.get(url, headers=HX).text

    assert "<html" not in searched and "1 of 4 lines" in searched
    assert download["Content-Disposition"].startswith("attachment;")
    assert download.content.decode() == built.log
    assert 'hx-trigger="every 1500ms"' in live and "following" in live


def test_editor_cancels_a_pending_run(project, editor, viewer, login):
    run = _run(project, number=1, status="pending")
    url = _url("transforms:run_cancel", project, run.public_id)

    assert login(viewer).post(url).status_code == 403
    response = login(editor).post(url)

    run.refresh_from_db()
    assert response.status_code == 302 and run.status == "cancelled"
    assert AuditEvent.objects.filter(action="transform.cancel_requested").exists()


# --- nodes, files, docs --------------------------------------------------------------


def test_model_page_shows_sql_columns_tests_and_results(project, built, viewer, login):
    url = _url("transforms:node", project, project.public_id, "model.acme.stg_users")

    page = login(viewer).get(url).text

    assert "from {{ source(&#x27;airbyte_faker&#x27;, &#x27;users&#x27;) }}" in page
    assert "One row per user." in page and "bigint" in page
    assert "unique_stg_users_id" in page and "3 failing rows" in page
    assert "Preview 20 rows" not in page  # viewers read


def test_git_model_page_shows_the_parsed_sql(project, viewer, login):
    project.kind = DbtProject.Kind.GIT
    project.git_url = "https://example.com/acme.git"
    project.save()
    url = _url("transforms:node", project, project.public_id, "model.acme.stg_users")

    page = login(viewer).get(url).text

    assert "select id, email from" in page and "Edit SQL" not in page


def test_unknown_node_is_404(project, viewer, login):
    url = _url("transforms:node", project, project.public_id, "model.acme.gone")

    assert login(viewer).get(url).status_code == 404


@pytest.mark.parametrize(
    ("what", "command"), [("compile", "compile"), ("preview", "show")]
)
def test_compile_and_preview_ask_a_worker_then_the_page_polls_for_the_output(
    project, editor, login, what, command
):
    node_url = _url(
        "transforms:node", project, project.public_id, "model.acme.stg_users"
    )
    client = login(editor)

    with mock.patch(NO_BROKER):
        response = client.post(node_url + "run/", {"what": what})

    run = project.runs.get()
    assert (run.command, run.selector) == (command, "stg_users")
    assert response["Location"] == f"{node_url}?run={run.public_id}#output"
    waiting = client.get(node_url, {"run": run.public_id}, headers=HX).text
    assert "<html" not in waiting and 'hx-trigger="every 1s"' in waiting
    run.status = "succeeded"
    run.output = (
        {"columns": ["id", "email"], "rows": [[1, "a@x.test"], [2, None]]}
        if command == "show"
        else {"sql": "select id, email from main.users"}
    )
    run.save()
    done = client.get(node_url, {"run": run.public_id}, headers=HX).text
    assert "every 1s" not in done
    if command == "show":
        assert "a@x.test" in done and ">null<" in done
    else:
        assert "select id, email from main.users" in done


def test_a_failed_preview_shows_its_reason(project, editor, login):
    run = _run(
        project,
        command="show",
        status="failed",
        failure_message="Binder Error: column emial does not exist",
    )
    url = _url("transforms:node", project, project.public_id, "model.acme.stg_users")

    page = login(editor).get(url, {"run": run.public_id}).text

    assert "Binder Error: column emial does not exist" in page


def test_a_compile_error_is_shown_beside_its_line(project, editor, login):
    run = _run(
        project,
        command="compile",
        status="failed",
        failure_message="Compilation Error in model stg_users "
        "(models/staging/stg_users.sql)\n  unexpected '}'\n    line 3",
    )
    url = _url("transforms:file", project, project.public_id)

    fragment = (
        login(editor)
        .get(
            url,
            {"path": "models/staging/stg_users.sql", "run": run.public_id},
            headers=HX,
        )
        .text
    )

    assert "<html" not in fragment and "failed at line 3" in fragment
    marked = re.search(r'<li value="(\d+)" class="error-line"', fragment)
    assert marked and marked.group(1) == "3"
    assert "<code>    email</code>" in fragment[marked.start() :]


def test_git_projects_refuse_edits(project, editor, login):
    project.kind = DbtProject.Kind.GIT
    project.git_url = "https://example.com/acme.git"
    project.save()
    url = _url("transforms:file", project, project.public_id)

    response = login(editor).post(
        url, {"path": "models/staging/stg_users.sql", "content": "select 1"}
    )

    assert response.status_code == 400
    assert "Git projects are edited in git" in response.text
    assert ProjectFile.objects.get(path="models/staging/stg_users.sql").content == SQL


def test_viewer_cannot_open_the_editor(project, viewer, login):
    url = _url("transforms:file", project, project.public_id)

    assert login(viewer).get(url, {"path": "dbt_project.yml"}).status_code == 403


def test_docs_are_sandboxed_and_for_members_only(project, viewer, outsider, login):
    ProjectArtifact.objects.create(
        project=project, name="docs.html", content="<html><script>dbt()</script></html>"
    )
    url = _url("transforms:docs_site", project, project.public_id)

    response = login(viewer).get(url)
    stranger = login(outsider).get(url)

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == "sandbox allow-scripts"
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "private" in response["Cache-Control"]
    assert response.content == b"<html><script>dbt()</script></html>"
    assert stranger.status_code == 404 and b"dbt()" not in stranger.content
    # The page around it keeps the console's own policy.
    page = login(viewer).get(_url("transforms:docs", project, project.public_id))
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert 'sandbox="allow-scripts"' in page.text


def test_docs_page_without_docs_says_what_to_do(project, editor, viewer, login):
    url = _url("transforms:docs", project, project.public_id)

    assert "No docs yet: press Generate docs." in login(editor).get(url).text
    assert "No docs yet." in login(viewer).get(url).text
    site = login(viewer).get(_url("transforms:docs_site", project, project.public_id))
    assert "No docs for Faker models yet" in site.text
    assert site["Content-Security-Policy"] == "sandbox allow-scripts"


def test_generate_docs_requests_a_docs_run(project, editor, login):
    url = _url("transforms:docs_generate", project, project.public_id)

    with mock.patch(NO_BROKER):
        response = login(editor).post(url)

    assert response.status_code == 302
    assert project.runs.get().command == "docs generate"
    page = login(editor).get(_url("transforms:docs", project, project.public_id)).text
    assert "Generating…" in page and 'hx-trigger="every 2s"' in page


# --- the connection and job pages ----------------------------------------------------


def test_job_page_says_then_transform_run_n(project, viewer, login):
    from apps.connections.models import SyncJob

    job = SyncJob.objects.create(
        connection=project.connection, trigger="manual", status="succeeded"
    )
    run = _run(project, number=7, trigger="sync", sync_job=job)

    page = (
        login(viewer)
        .get(
            reverse(
                "connections:job", args=[project.workspace.public_id, job.public_id]
            )
        )
        .text
    )

    assert "Then:" in page and "transform run #7" in page
    assert _url("transforms:run", project, run.public_id) in page


def test_connection_page_lists_its_transforms(project, editor, viewer, login):
    TransformTrigger.objects.create(
        workspace=project.workspace, connection=project.connection, project=project
    )
    _run(project, number=3, trigger="sync", status="failed")
    url = reverse(
        "connections:detail",
        args=[project.workspace.public_id, project.connection.public_id],
    )

    as_viewer = login(viewer).get(url).text
    as_editor = login(editor).get(url).text

    assert "Transforms after each sync" in as_viewer
    assert "Faker models" in as_viewer and "run #3" in as_viewer
    assert "Remove</button>" not in as_viewer
    assert "Remove</button>" in as_editor
    # Its project exists already: no second "Generate" button.
    assert "Generate a dbt project" not in as_editor


# --- writes through the project services ------------------------------------------


@pytest.fixture
def connection(workspace, settings, tmp_path):
    from apps.connections.models import ConnectionStream

    settings.DUCKDB_DIR = tmp_path
    connection = ConnectionFactory(
        workspace=workspace,
        name="Shop sync",
        destination=duckdb_destination(workspace, name="Warehouse"),
    )
    ConnectionStream.objects.create(
        connection=connection,
        name="users",
        primary_key=[["id"]],
        json_schema={
            "type": "object",
            "properties": {"id": {"type": "integer"}, "email": {"type": "string"}},
        },
    )
    return connection


def test_one_button_on_the_connection_page_generates_its_project(
    connection, editor, login, django_capture_on_commit_callbacks
):
    client = login(editor)
    detail = reverse(
        "connections:detail",
        args=[connection.workspace.public_id, connection.public_id],
    )
    page = client.get(detail).text
    assert "Generate a dbt project</button>" in page

    with (
        mock.patch(NO_BROKER) as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(
            reverse("transforms:create", args=[connection.workspace.public_id]),
            {"kind": "generated", "connection": str(connection.public_id)},
        )

    project = DbtProject.objects.get(connection=connection)
    assert response["Location"] == _url("transforms:detail", project, project.public_id)
    assert project.kind == "generated" and project.destination.name == "Warehouse"
    assert project.files.filter(path="models/staging/stg_users.sql").exists()
    assert project.triggers.get().connection == connection
    # A worker reads the new project's models at once.
    assert project.runs.get().command == "parse"
    enqueue.assert_called_once()
    after = client.get(detail).text
    assert "Generate a dbt project</button>" not in after
    assert project.name in after


def test_git_project_with_a_bad_url_shows_the_error_by_its_field(
    workspace, editor, login
):
    destination = duckdb_destination(workspace)
    response = login(editor).post(
        reverse("transforms:create", args=[workspace.public_id]),
        {
            "kind": "git",
            "name": "Marts",
            "destination": str(destination.public_id),
            "git_url": "not a url",
            "git_branch": "main",
        },
    )

    assert response.status_code == 400
    assert not DbtProject.objects.exists()
    git_card = response.text[response.text.index('id="new-git"') :]
    assert 'class="field has-error"' in git_card


def test_an_upload_with_a_path_outside_is_refused_with_the_reason(
    workspace, editor, login
):
    import io
    import zipfile

    from django.core.files.uploadedfile import SimpleUploadedFile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("dbt_project.yml", "name: x\n")
        archive.writestr("../evil.sql", "select 1")
    destination = duckdb_destination(workspace)

    response = login(editor).post(
        reverse("transforms:create", args=[workspace.public_id]),
        {
            "kind": "upload",
            "name": "Uploaded",
            "destination": str(destination.public_id),
            "archive": SimpleUploadedFile("p.zip", buffer.getvalue()),
        },
    )

    assert response.status_code == 400
    assert "evil.sql" in response.text or ".." in response.text
    assert not DbtProject.objects.exists()


def test_schedule_saves_with_its_next_run_or_shows_the_cron_error(
    project, editor, login
):
    url = _url("transforms:schedule", project, project.public_id)
    client = login(editor)

    bad = client.post(
        url,
        {"cron_expression": "61 * * * *", "schedule_timezone": "Europe/Paris"},
        headers=HX,
    )
    good = client.post(
        url,
        {"cron_expression": "0 6 * * *", "schedule_timezone": "Europe/Paris"},
    )

    assert bad.status_code == 400 and "<html" not in bad.text
    assert 'class="field has-error"' in bad.text
    project.refresh_from_db()
    assert good.status_code == 302
    assert (project.cron_expression, project.schedule_timezone) == (
        "0 6 * * *",
        "Europe/Paris",
    )
    assert project.next_run_at is not None
    page = client.get(_url("transforms:detail", project, project.public_id)).text
    assert re.search(r"Next: .*\d\d:\d\d (CET|CEST)", page)


def test_settings_rename_and_viewer_refused(project, editor, viewer, login):
    url = _url("transforms:settings", project, project.public_id)

    assert login(viewer).get(url).status_code == 403
    response = login(editor).post(
        url,
        {"name": "Staging", "destination": str(project.destination.public_id)},
    )

    project.refresh_from_db()
    assert response.status_code == 302 and project.name == "Staging"
    assert AuditEvent.objects.filter(action="transform.project_updated").exists()


def test_delete_is_refused_while_a_run_is_active_then_works(project, editor, login):
    url = _url("transforms:delete", project, project.public_id)
    run = _run(project, status="running")
    client = login(editor)

    refused = client.post(url, follow=True)
    assert DbtProject.objects.filter(pk=project.pk).exists()
    assert "cancel it or wait for it to end" in refused.text
    run.status = "succeeded"
    run.save()
    client.post(url)

    assert not DbtProject.objects.filter(pk=project.pk).exists()


def test_triggers_are_added_and_removed_from_the_connection_page(
    project, editor, login
):
    other = ConnectionFactory(workspace=project.workspace, name="CRM sync")
    detail = reverse(
        "connections:detail", args=[project.workspace.public_id, other.public_id]
    )
    client = login(editor)

    response = client.post(
        reverse("transforms:trigger_add", args=[project.workspace.public_id]),
        {
            "connection": str(other.public_id),
            "project": str(project.public_id),
            "selector": "stg_users+",
            "command": "build",
            "next": detail,
        },
    )
    trigger = TransformTrigger.objects.get(connection=other)
    assert response["Location"] == detail
    assert (trigger.project, trigger.selector) == (project, "stg_users+")
    assert "stg_users+" in client.get(detail).text

    client.post(
        reverse(
            "transforms:trigger_delete",
            args=[project.workspace.public_id, trigger.public_id],
        ),
        {"next": "https://evil.example/"},
    )
    assert not TransformTrigger.objects.filter(connection=other).exists()


def test_saving_a_model_asks_dbt_to_compile_it(project, editor, login):
    url = _url("transforms:file", project, project.public_id)
    path = "models/staging/stg_users.sql"

    with mock.patch(NO_BROKER):
        response = login(editor).post(
            url, {"path": path, "content": "select 2 as id\n"}
        )

    run = project.runs.get()
    assert ProjectFile.objects.get(project=project, path=path).content == (
        "select 2 as id\n"
    )
    assert (run.command, run.selector) == ("compile", "stg_users")
    assert f"run={run.public_id}" in response["Location"]
    assert AuditEvent.objects.filter(action="transform.file_saved").exists()


def test_a_new_yaml_file_asks_for_a_parse(project, editor, login):
    url = _url("transforms:file", project, project.public_id)

    with mock.patch(NO_BROKER):
        login(editor).post(url, {"path": "models/marts/schema.yml", "content": ""})

    assert project.runs.get().command == "parse"


def test_a_database_error_marks_the_file_line_the_run_found_not_the_ddl_line(
    project, editor, login
):
    path = "models/staging/stg_users.sql"
    run = _run(
        project,
        command="compile",
        status="failed",
        failure_message="model.acme.stg_users: Database Error in model stg_users "
        f'({path})\n  syntax error at or near "email"\n  LINE 9:     email\n'
        f"({path} line 3)",
    )

    fragment = (
        login(editor)
        .get(
            _url("transforms:file", project, project.public_id),
            {"path": path, "run": run.public_id},
            headers=HX,
        )
        .text
    )

    assert re.findall(r'<li value="(\d+)" class="error-line"', fragment) == ["3"]


def test_an_error_in_another_file_marks_no_line_and_is_shown_whole(
    project, editor, login
):
    run = _run(
        project,
        command="parse",
        status="failed",
        failure_message="Parsing Error in models/marts/orders.sql\n    line 2",
    )

    fragment = (
        login(editor)
        .get(
            _url("transforms:file", project, project.public_id),
            {"path": "models/staging/stg_users.sql", "run": run.public_id},
            headers=HX,
        )
        .text
    )

    assert 'class="error-line"' not in fragment
    assert "Parsing Error in models/marts/orders.sql" in fragment


def test_project_page_queries_do_not_grow_with_runs_and_nodes(
    project, built, viewer, login, django_assert_max_num_queries
):
    from apps.connections.models import SyncJob

    TransformTrigger.objects.create(
        workspace=project.workspace, connection=project.connection, project=project
    )
    job = SyncJob.objects.create(
        connection=project.connection, trigger="manual", status="succeeded"
    )
    for number in range(2, 22):
        run = _run(project, number=number, trigger="sync", sync_job=job)
        RunNode.objects.create(
            run=run,
            unique_id="model.acme.stg_users",
            name="stg_users",
            resource_type="model",
            status="success",
            rows_affected=number,
        )
    client = login(viewer)
    url = _url("transforms:detail", project, project.public_id)

    with django_assert_max_num_queries(16):
        page = client.get(url).text

    assert "run #21" in page and ">21<" in page


def test_job_page_waits_for_the_runs_a_sync_starts_then_follows_them(
    project, viewer, login
):
    from apps.connections.models import SyncJob

    TransformTrigger.objects.create(
        workspace=project.workspace, connection=project.connection, project=project
    )
    job = SyncJob.objects.create(
        connection=project.connection,
        trigger="manual",
        status="succeeded",
        finished_at=timezone.now(),
    )
    client = login(viewer)
    page = client.get(
        reverse("connections:job", args=[project.workspace.public_id, job.public_id])
    ).text
    fragment_url = _url("transforms:job_runs", project, job.public_id)

    assert "starting the transforms" in page and fragment_url in page
    run = _run(project, number=4, status="running", trigger="sync", sync_job=job)
    running = client.get(fragment_url, headers=HX).text
    assert "transform run #4" in running and 'hx-trigger="every 2s"' in running
    run.status = "succeeded"
    run.save()
    done = client.get(fragment_url, headers=HX).text
    assert "Succeeded" in done and "hx-trigger" not in done
    assert "<html" not in done


def test_an_old_sync_without_runs_says_nothing_about_transforms(project, viewer, login):
    from apps.connections.models import SyncJob

    TransformTrigger.objects.create(
        workspace=project.workspace, connection=project.connection, project=project
    )
    job = SyncJob.objects.create(
        connection=project.connection,
        trigger="manual",
        status="succeeded",
        finished_at=timezone.now() - timedelta(hours=1),
    )

    page = (
        login(viewer)
        .get(
            reverse(
                "connections:job", args=[project.workspace.public_id, job.public_id]
            )
        )
        .text
    )

    assert "job-transforms" not in page


def test_a_project_that_does_not_parse_says_why_on_its_page(project, viewer, login):
    project.graph = {}
    project.save()
    _run(
        project,
        command="parse",
        status="failed",
        failure_message="Parsing Error\n  Invalid models config given in "
        "dbt_project.yml @ 'models': 'materialized' is not a valid config",
    )

    page = login(viewer).get(_url("transforms:detail", project, project.public_id)).text

    banner = page[page.index('data-testid="last-failure"') :]
    assert "Run #1 (dbt parse) failed" in banner
    assert "is not a valid config" in banner
    assert "dbt could not read the project: the reason is above." in page


def test_a_failed_build_keeps_the_previous_models_and_says_so(
    project, built, viewer, login
):
    page = login(viewer).get(_url("transforms:detail", project, project.public_id)).text

    assert "Run #1 (dbt build) failed" in page
    assert "The models below are as the last successful run left them." in page
    assert "stg_users" in page[page.index('data-testid="models"') :]


def test_new_project_page_says_what_is_missing_first(workspace, editor, login):
    page = login(editor).get(reverse("transforms:create", args=[workspace.public_id]))

    assert page.status_code == 200
    assert "No connection yet: " in page.text
    assert page.text.count("No destination yet: dbt builds in one.") == 2
    assert reverse("connectors:destination_create", args=[workspace.public_id]) in (
        page.text
    )


def test_a_finished_run_can_be_run_again_by_an_editor(
    project, built, editor, viewer, login
):
    url = _url("transforms:run", project, built.public_id)

    assert "Run again" not in login(viewer).get(url).text
    page = login(editor).get(url).text
    assert "Run again</button>" in page
    assert '<input type="hidden" name="command" value="build">' in page
    with mock.patch(NO_BROKER):
        login(editor).post(
            _url("transforms:run_request", project, project.public_id),
            {"command": "build", "selector": ""},
        )
    assert project.runs.filter(number=2, command="build").exists()


def test_all_runs_page_a_page_at_a_time(project, viewer, login):
    for number in range(1, 56):
        _run(project, number=number)
    url = _url("transforms:runs", project, project.public_id)
    client = login(viewer)

    detail = client.get(_url("transforms:detail", project, project.public_id)).text
    first = client.get(url).text
    second = client.get(url, {"page": 2}, headers=HX).text

    assert url in detail  # "All runs" once the project page shows only the latest
    assert ">#55<" in first and ">#6<" in first and ">#5<" not in first
    assert "<html" not in second and ">#5<" in second and ">#1<" in second
    assert "Page 2 of 2" in second
