"""Project services: what they write, what they audit, and what they refuse."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from unittest import mock

import pytest
import time_machine
from django.core.exceptions import ValidationError

from apps.audit.models import AuditEvent
from apps.connections.models import ConnectionStream
from apps.credentials.models import Credential
from apps.transforms.models import (
    DbtProject,
    ProjectFile,
    TransformRun,
    TransformTrigger,
)
from apps.transforms.services import projects as services
from tests.engines.fixtures import DUCKDB_ID, definition
from tests.factories import ConnectionFactory, DestinationFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def connection(workspace):
    connection = ConnectionFactory(
        workspace=workspace,
        name="Shop",
        destination__definition=definition(DUCKDB_ID),
        destination__name="Duck",
        namespace="shop",
    )
    ConnectionStream.objects.create(
        connection=connection,
        name="users",
        json_schema={"properties": {"id": {"type": "integer"}}},
        destination_sync_mode="append_dedup",
        sync_mode="incremental",
        primary_key=[["id"]],
    )
    return connection


@pytest.fixture
def project(connection, editor):
    with mock.patch("apps.transforms.services.projects._request_parse"):
        return services.project_create_generated(connection=connection, actor=editor)


@pytest.fixture
def git_project(workspace, connection, editor):
    with mock.patch("apps.transforms.services.projects._request_parse"):
        return services.project_create_git(
            workspace=workspace,
            actor=editor,
            name="Analytics",
            destination=connection.destination,
            git_url="https://git.example.com/acme/analytics.git",
        )


def events(action: str):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def zip_bytes(files: dict[str, str]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    buffer.seek(0)
    return buffer


def test_generated_project_has_files_a_trigger_an_audit_row_and_a_parse_run(
    connection, editor, django_capture_on_commit_callbacks
):
    with (
        mock.patch("apps.transforms.services.runs.transform_run_enqueue") as enqueue,
        django_capture_on_commit_callbacks(execute=True),
    ):
        project = services.project_create_generated(connection=connection, actor=editor)
    assert project.kind == DbtProject.Kind.GENERATED
    assert project.name == "Shop"
    assert project.destination == connection.destination
    assert project.dbt_name == "shop"
    paths = [path for path, _ in services.project_files(project)]
    assert paths == [
        "README.md",
        "dbt_project.yml",
        "models/sources.yml",
        "models/staging/schema.yml",
        "models/staging/stg_users.sql",
    ]
    trigger = TransformTrigger.objects.get(project=project)
    # Spelled out: it still selects the files' source after a rename.
    assert (trigger.connection, trigger.selector, trigger.enabled) == (
        connection,
        "source:airbyte_shop+",
        True,
    )
    [event] = events("transform.project_created")
    assert event.actor == editor
    assert event.changes["kind"] == [None, "generated"]
    assert event.changes["connection"] == [None, "Shop"]
    run = TransformRun.objects.get(project=project)
    assert (run.command, run.status) == ("parse", "pending")
    enqueue.assert_called_once_with(run.pk)


def test_a_second_generated_project_from_one_connection_gets_a_number(
    connection, editor, project
):
    with mock.patch("apps.transforms.services.projects._request_parse"):
        again = services.project_create_generated(connection=connection, actor=editor)
    assert again.name == "Shop 2"
    with pytest.raises(ValidationError) as error:
        services.project_create_generated(
            connection=connection, actor=editor, name="shop"
        )
    assert "already exists" in str(error.value)


def test_a_connection_without_streams_generates_nothing(connection, editor):
    connection.streams.update(selected=False)
    with pytest.raises(ValidationError) as error:
        services.project_create_generated(connection=connection, actor=editor)
    assert "syncs no stream" in str(error.value)
    assert not DbtProject.objects.exists()


def test_another_workspaces_destination_is_refused(connection, editor, outsider):
    elsewhere = DestinationFactory(workspace=WorkspaceFactory(name="Other"))
    with pytest.raises(ValidationError) as error:
        services.project_create_generated(
            connection=connection, actor=editor, destination=elsewhere
        )
    assert "destination of this workspace" in str(error.value)
    with pytest.raises(ValidationError):
        services.project_create_git(
            workspace=connection.workspace,
            actor=editor,
            name="X",
            destination=elsewhere,
            git_url="https://git.example.com/x.git",
        )
    assert not DbtProject.objects.exists()
    assert not events("transform.project_created")


def test_git_project_is_created_with_its_branch_and_credential(
    workspace, connection, editor, django_capture_on_commit_callbacks
):
    credential = Credential(workspace=workspace, name="Deploy", type="api_key")
    credential.set_payload({"api_key": "ghp_canary_token_value"})
    credential.save()
    with (
        mock.patch("apps.transforms.services.runs.transform_run_enqueue"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        project = services.project_create_git(
            workspace=workspace,
            actor=editor,
            name="Analytics",
            destination=connection.destination,
            git_url="git@github.com:acme/analytics.git",
            git_branch="release/2024",
            git_credential=credential,
        )
    assert (project.kind, project.git_branch, project.git_credential) == (
        "git",
        "release/2024",
        credential,
    )
    assert not project.files.exists()
    [event] = events("transform.project_created")
    assert "ghp_canary_token_value" not in str(event.changes)
    assert event.changes["git_access"] == [None, "Deploy"]
    assert TransformRun.objects.get(project=project).command == "parse"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://me:ghp_x@github.com/a.git", "password or token"),
        ("/srv/other-workspace/project", "console's own host"),
        ("file:///etc", "console's own host"),
        ("ext::sh%20-c%20id", "not allowed"),
        ("", "Give the repository's URL"),
    ],
)
def test_git_urls_that_are_refused(workspace, connection, editor, url, message):
    with pytest.raises(ValidationError) as error:
        services.project_create_git(
            workspace=workspace,
            actor=editor,
            name="Analytics",
            destination=connection.destination,
            git_url=url,
        )
    assert message in str(error.value)


def test_local_repositories_only_where_the_administrator_allows(
    workspace, connection, editor, settings, tmp_path
):
    settings.TRANSFORMS_GIT_ALLOW_LOCAL = True
    with mock.patch("apps.transforms.services.projects._request_parse"):
        project = services.project_create_git(
            workspace=workspace,
            actor=editor,
            name="Local",
            destination=connection.destination,
            git_url=str(tmp_path),
        )
    assert project.git_url == str(tmp_path)


def test_git_credentials_of_another_workspace_or_unusable_are_refused(
    workspace, connection, editor
):
    other = Credential(workspace=WorkspaceFactory(name="Other"), name="Theirs")
    other.type = "api_key"
    other.set_payload({"api_key": "secret-of-theirs"})
    other.save()
    oauth = Credential(workspace=workspace, name="OAuth", type="oauth2")
    oauth.set_payload({"client_id": "x", "client_secret": "y"})
    oauth.save()
    for credential, message in (
        (other, "credential of this workspace"),
        (oauth, "cannot open a git repository"),
    ):
        with pytest.raises(ValidationError) as error:
            services.project_create_git(
                workspace=workspace,
                actor=editor,
                name="Analytics",
                destination=connection.destination,
                git_url="https://git.example.com/a.git",
                git_credential=credential,
            )
        assert message in str(error.value)


def test_upload_keeps_the_archives_files(workspace, connection, editor):
    archive = zip_bytes(
        {
            "shop/dbt_project.yml": "name: shop\nprofile: console\n",
            "shop/models/orders.sql": "select 1 as id\n",
        }
    )
    with mock.patch("apps.transforms.services.projects._request_parse") as parse:
        project = services.project_create_upload(
            workspace=workspace,
            actor=editor,
            name="Uploaded",
            destination=connection.destination,
            fileobj=archive,
            filename="shop.zip",
        )
    parse.assert_called_once()
    assert services.project_files(project) == [
        ("dbt_project.yml", "name: shop\nprofile: console\n"),
        ("models/orders.sql", "select 1 as id\n"),
    ]
    [event] = events("transform.project_created")
    assert event.changes["archive"] == [None, "shop.zip"]
    assert event.changes["files"] == [None, 2]


def test_an_upload_with_a_path_outside_its_folder_creates_nothing(
    workspace, connection, editor
):
    archive = zip_bytes({"dbt_project.yml": "name: x\n", "../../etc/evil": "x"})
    with pytest.raises(ValidationError) as error:
        services.project_create_upload(
            workspace=workspace,
            actor=editor,
            name="Evil",
            destination=connection.destination,
            fileobj=archive,
            filename="evil.zip",
        )
    assert "outside its folder" in error.value.message_dict["archive"][0]
    assert not DbtProject.objects.exists()
    assert not ProjectFile.objects.exists()


@time_machine.travel(datetime(2026, 3, 2, 10, 0, tzinfo=UTC), tick=False)
def test_a_cron_schedule_sets_the_next_run_and_can_be_removed(project, editor):
    project = services.project_update(
        project=project,
        actor=editor,
        cron_expression="30 6 * * *",
        schedule_timezone="Europe/Berlin",
        schedule_selector="tag:daily",
    )
    # 06:30 in Berlin (UTC+1 in March before the switch) is 05:30 UTC.
    assert project.next_run_at == datetime(2026, 3, 3, 5, 30, tzinfo=UTC)
    [event] = events("transform.project_updated")
    assert event.changes["cron_expression"] == ["", "30 6 * * *"]
    assert event.changes["schedule_selector"] == ["", "tag:daily"]

    project = services.project_update(project=project, actor=editor, cron_expression="")
    assert project.next_run_at is None
    assert len(events("transform.project_updated")) == 2


@pytest.mark.parametrize(
    ("cron", "message"),
    [("61 * * * *", "minute"), ("* * * *", "5 fields"), ("* * * * *", "too often")],
)
def test_bad_cron_expressions_are_refused(project, editor, cron, message):
    with pytest.raises(ValidationError) as error:
        services.project_update(project=project, actor=editor, cron_expression=cron)
    assert message in str(error.value.message_dict["cron_expression"])
    project.refresh_from_db()
    assert project.cron_expression == ""


def test_update_without_a_change_records_nothing_and_git_fields_need_git(
    project, editor
):
    services.project_update(project=project, actor=editor, name="Shop")
    assert not events("transform.project_updated")
    with pytest.raises(ValidationError) as error:
        services.project_update(
            project=project, actor=editor, git_url="https://git.example.com/a.git"
        )
    assert "Only a git project" in str(error.value)
    with pytest.raises(ValidationError):
        services.project_update(project=project, actor=editor, schedule_timezone="Mars")


def test_moving_a_git_project_to_another_branch_asks_for_a_parse(git_project, editor):
    with mock.patch("apps.transforms.services.projects._request_parse") as parse:
        services.project_update(project=git_project, actor=editor, git_branch="dev")
    parse.assert_called_once()
    git_project.refresh_from_db()
    assert git_project.git_branch == "dev"


def test_delete_is_refused_while_a_run_is_active(project, editor):
    run = TransformRun.objects.create(
        workspace=project.workspace,
        project=project,
        number=1,
        command="build",
        trigger="manual",
        status="running",
    )
    with pytest.raises(ValidationError) as error:
        services.project_delete(project=project, actor=editor)
    assert "Run #1" in str(error.value) and "running" in str(error.value)
    run.status = "succeeded"
    run.save()
    services.project_delete(project=project, actor=editor)
    assert not DbtProject.objects.filter(pk=project.pk).exists()
    assert not ProjectFile.objects.exists()
    [event] = events("transform.project_deleted")
    assert event.changes["name"] == ["Shop", None]


def test_files_are_saved_and_deleted_with_audit_rows(project, editor):
    file = services.project_file_save(
        project=project,
        actor=editor,
        path="models/marts/orders.sql",
        content="select * from {{ ref('stg_users') }}\n",
    )
    assert file.path == "models/marts/orders.sql"
    services.project_file_save(
        project=project, actor=editor, path="./models/marts/orders.sql", content="x"
    )
    assert ProjectFile.objects.get(project=project, path=file.path).content == "x"
    saved = events("transform.file_saved")
    assert [e.changes["path"] for e in saved] == [
        [None, "models/marts/orders.sql"],
        ["models/marts/orders.sql", "models/marts/orders.sql"],
    ]
    services.project_file_delete(project=project, actor=editor, path=file.path)
    assert not ProjectFile.objects.filter(path=file.path).exists()
    assert events("transform.file_deleted")[0].changes == {
        "path": ["models/marts/orders.sql", None]
    }


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("../outside.sql", "outside its folder"),
        ("/etc/passwd", "absolute path"),
        ("target/manifest.json", "dbt or git makes itself"),
        ("", "Give the file's path"),
    ],
)
def test_bad_file_paths_are_refused(project, editor, path, message):
    with pytest.raises(ValidationError) as error:
        services.project_file_save(project=project, actor=editor, path=path, content="")
    assert message in str(error.value)


def test_git_projects_are_edited_in_git(git_project, editor):
    with pytest.raises(ValidationError) as error:
        services.project_file_save(
            project=git_project, actor=editor, path="models/a.sql", content="select 1"
        )
    assert "Git projects are edited in git: push a commit." in str(error.value)
    with pytest.raises(ValidationError):
        services.project_file_delete(
            project=git_project, actor=editor, path="models/a.sql"
        )


def test_deleting_a_model_asks_for_a_parse_so_the_page_forgets_it(project, editor):
    path = "models/staging/stg_users.sql"
    with mock.patch("apps.transforms.services.projects._request_parse") as parse:
        services.project_file_delete(project=project, actor=editor, path=path)
    parse.assert_called_once_with(project)


def test_saves_cannot_grow_a_project_past_its_limit(project, editor, settings):
    used = sum(len(f.content) for f in project.files.all())
    settings.TRANSFORM_UNPACKED_MAX_BYTES = used + 100
    services.project_file_save(
        project=project, actor=editor, path="models/a.sql", content="x" * 90
    )
    with pytest.raises(ValidationError) as error:
        services.project_file_save(
            project=project, actor=editor, path="models/b.sql", content="x" * 20
        )
    assert f"would exceed {used + 100} bytes" in str(error.value)


def test_dbt_project_yml_cannot_be_deleted(project, editor):
    with pytest.raises(ValidationError) as error:
        services.project_file_delete(
            project=project, actor=editor, path="dbt_project.yml"
        )
    assert "needs its dbt_project.yml" in str(error.value)


def test_triggers_are_set_changed_and_deleted(project, connection, editor):
    trigger = services.trigger_set(
        connection=connection,
        project=project,
        actor=editor,
        selector="stg_users+",
        command="test",
    )
    assert TransformTrigger.objects.get(pk=trigger.pk).selector == "stg_users+"
    [event] = events("transform.trigger_set")
    assert event.changes["selector"] == ["source:airbyte_shop+", "stg_users+"]
    # The same again changes nothing and records nothing.
    services.trigger_set(
        connection=connection,
        project=project,
        actor=editor,
        selector="stg_users+",
        command="test",
    )
    assert len(events("transform.trigger_set")) == 1
    with pytest.raises(ValidationError) as error:
        services.trigger_set(
            connection=connection, project=project, actor=editor, command="show"
        )
    assert "cannot run after a sync" in str(error.value)
    services.trigger_delete(trigger=trigger, actor=editor)
    assert not TransformTrigger.objects.filter(project=project).exists()
    assert events("transform.trigger_deleted")[0].changes == {
        "connection": ["Shop", None]
    }


def test_a_trigger_across_workspaces_is_refused(project, editor):
    theirs = ConnectionFactory(workspace=WorkspaceFactory(name="Other"))
    with pytest.raises(ValidationError) as error:
        services.trigger_set(connection=theirs, project=project, actor=editor)
    assert "connection of the project's workspace" in str(error.value)
    assert not TransformTrigger.objects.filter(connection=theirs).exists()
