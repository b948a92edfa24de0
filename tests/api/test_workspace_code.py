"""Workspaces as code: export, plan and import through the CLI and the services."""

from __future__ import annotations

import io
import re
import uuid

import pytest
import yaml
from django.core.management import call_command

import apps.api.workspace_cli  # noqa: F401 - registers `workspace export|import`
from apps.api.workspace_code import (
    ImportRefused,
    workspace_export,
    workspace_import,
    workspace_plan,
)
from apps.audit.models import AuditEvent
from apps.connections.models import Connection
from apps.connections.services import connection_create
from apps.connectors.models import ConnectorDefinition, ConnectorSpecCache, Source
from apps.connectors.services import connector_create
from apps.credentials.services import credential_create
from apps.schedules.services import schedule_create
from apps.transforms.services.projects import (
    project_create_generated,
    project_create_git,
)
from apps.webhooks.services.endpoints import webhook_endpoint_create
from apps.workspaces.models import Membership
from apps.workspaces.services import workspace_create
from tests.engines.fixtures import POSTGRES_ID, definition
from tests.factories import FAKER_CATALOG

SECRETS = {
    "pw": "s3cret-Source-Password",
    "pg": "pg-Destination-Password",
    "key": "credential-API-key-123456",
    "hook": "https://hooks.slack.com/services/T000/B000/TOKENxyz",
}

SPEC = {
    "connectionSpecification": {
        "type": "object",
        "required": ["host", "password"],
        "properties": {
            "host": {"type": "string"},
            "count": {"type": "integer"},
            "password": {"type": "string", "airbyte_secret": True},
            "api_key": {"type": "string", "airbyte_secret": True},
        },
    }
}

ENV = {
    "SOURCE_PG_WAREHOUSE_PASSWORD": SECRETS["pw"],
    "DESTINATION_WAREHOUSE_PASSWORD": SECRETS["pg"],
    "WEBHOOK_SLACK_ALERTS_URL": SECRETS["hook"],
    "CREDENTIAL_ACME_KEY_API_KEY": SECRETS["key"],
}


@pytest.fixture
def source_definition(db):
    found = ConnectorDefinition.objects.create(
        kind="source",
        definition_id=uuid.uuid4(),
        name="Acme DB",
        pypi_package="airbyte-source-acme-db",
        pypi_version="1.0.0",
        engines=["embedded"],
    )
    ConnectorSpecCache.objects.create(definition=found, version="1.0.0", spec=SPEC)
    return found


def _credential(workspace, admin):
    return credential_create(
        actor=admin,
        workspace=workspace,
        name="Acme key",
        type="api_key",
        fields={"api_key": SECRETS["key"]},
        allowed_hosts="db.acme.test",
    )


@pytest.fixture
def full_workspace(workspace, admin, editor, viewer, source_definition):
    """A workspace with one of every kind of object the file describes."""
    credential = _credential(workspace, admin)
    source = connector_create(
        actor=admin,
        workspace=workspace,
        kind="source",
        name="PG warehouse",
        definition=source_definition,
        config={"host": "db.acme.test", "count": 100},
        secrets={"/password": SECRETS["pw"]},
        credential_refs={"/api_key": str(credential.public_id)},
    )
    Source.objects.filter(pk=source.pk).update(catalog=FAKER_CATALOG)
    source.refresh_from_db()
    destination = connector_create(
        actor=admin,
        workspace=workspace,
        kind="destination",
        name="Warehouse",
        definition=definition(POSTGRES_ID),
        config={
            "host": "warehouse.acme.test",
            "port": 5432,
            "database": "analytics",
            "schema": "raw",
            "username": "loader",
            "ssl_mode": "disable",
        },
        secrets={"/password": SECRETS["pg"]},
    )
    connection = connection_create(
        actor=admin,
        workspace=workspace,
        name="Users to warehouse",
        source=source,
        destination=destination,
        streams=[
            {
                "name": "users",
                "sync_mode": "incremental",
                "destination_sync_mode": "append_dedup",
                "selected_fields": ["id", "name", "updated_at"],
            },
            {"name": "products", "selected": False},
        ],
        namespace="acme",
        table_prefix="src_",
    )
    schedule_create(
        actor=admin,
        workspace=workspace,
        connection=connection,
        name="Nightly",
        kind="cron",
        cron_expression="0 3 * * *",
        timezone_name="Europe/Berlin",
    )
    webhook_endpoint_create(
        actor=admin,
        workspace=workspace,
        name="Slack alerts",
        url=SECRETS["hook"],
        events=["sync.failed"],
        format="slack",
    )
    project_create_generated(connection=connection, actor=admin, name="Staging")
    project_create_git(
        workspace=workspace,
        actor=admin,
        name="Marts",
        destination=destination,
        git_url="https://github.com/acme/marts.git",
        git_branch="main",
    )
    return workspace


def _cli(*args: str) -> str:
    out = io.StringIO()
    if "--as" not in args:
        args = (*args, "--as", "admin@acme.test")
    call_command("airbyte", "workspace", *args, stdout=out)
    return out.getvalue()


def _counts() -> tuple[int, ...]:
    from apps.connectors.models import Destination
    from apps.schedules.models import Schedule
    from apps.transforms.models import DbtProject
    from apps.webhooks.models import WebhookEndpoint

    return (
        Source.objects.count(),
        Destination.objects.count(),
        Connection.objects.count(),
        Schedule.objects.count(),
        WebhookEndpoint.objects.count(),
        DbtProject.objects.count(),
        Membership.objects.count(),
        AuditEvent.objects.count(),
    )


def test_export_describes_every_kind_of_object_without_a_secret(full_workspace, admin):
    text = _cli("export", "--workspace", str(full_workspace.public_id))

    for secret in SECRETS.values():
        assert secret not in text
    document = yaml.safe_load(text)
    source = document["sources"][0]
    assert source["connector"]["name"] == "Acme DB"
    assert source["config"]["password"] == "${env:SOURCE_PG_WAREHOUSE_PASSWORD}"
    assert source["config"]["api_key"] == "${credential:Acme key}"
    assert document["credentials"] == [
        {
            "name": "Acme key",
            "type": "api_key",
            "allowed_hosts": ["db.acme.test"],
            "fields": {"api_key": "${env:CREDENTIAL_ACME_KEY_API_KEY}"},
        }
    ]
    assert document["destinations"][0]["config"]["password"] == (
        "${env:DESTINATION_WAREHOUSE_PASSWORD}"
    )
    connection = document["connections"][0]
    assert connection["namespace"] == "acme"
    assert connection["schedule"]["cron_expression"] == "0 3 * * *"
    users = next(s for s in connection["streams"] if s["name"] == "users")
    assert users["sync_mode"] == "incremental"
    assert users["cursor_field"] == ["updated_at"]
    assert users["primary_key"] == [["id"]]
    assert document["webhooks"][0]["url"] == "${env:WEBHOOK_SLACK_ALERTS_URL}"
    assert {t["kind"] for t in document["transforms"]} == {"generated", "git"}
    assert [(m["email"], m["role"]) for m in document["members"]] == [
        ("admin@acme.test", "admin"),
        ("editor@acme.test", "editor"),
        ("viewer@acme.test", "viewer"),
    ]
    # Deterministic: a second export is the same text.
    assert workspace_export(full_workspace) == text.rstrip("\n") + "\n"


def test_export_import_export_into_an_empty_workspace_is_identical(
    full_workspace, admin
):
    exported = workspace_export(full_workspace)
    empty = workspace_create(actor=admin, name="Empty")

    plan = workspace_import(actor=admin, workspace=empty, text=exported, environ=ENV)

    assert plan.counts()["create"] == 9
    assert workspace_export(empty) == exported
    copied = Source.objects.get(workspace=empty)
    from apps.connectors.selectors import connector_secrets

    assert connector_secrets(copied)["/password"] == SECRETS["pw"]
    assert connector_secrets(copied)["/api_key"] == SECRETS["key"]


def test_a_second_import_changes_nothing(full_workspace, admin):
    exported = workspace_export(full_workspace)
    before = _counts()

    plan = workspace_import(
        actor=admin, workspace=full_workspace, text=exported, environ=ENV
    )

    assert not plan.has_changes
    assert {c.action for c in plan.changes} == {"unchanged"}
    assert _counts() == before


def test_dry_run_shows_a_changed_field_and_changes_nothing(full_workspace, admin):
    exported = workspace_export(full_workspace)
    changed = exported.replace("count: 100", "count: 500")
    before = _counts()

    import os
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(changed)
    try:
        os.environ.update(ENV)
        out = _cli(
            "import",
            handle.name,
            "--dry-run",
            "--workspace",
            str(full_workspace.public_id),
        )
    finally:
        for name in ENV:
            os.environ.pop(name, None)
        os.unlink(handle.name)

    assert "~ source “PG warehouse”: config.count 100 -> 500" in out
    assert "dry run: nothing was changed" in out
    assert _counts() == before
    assert Source.objects.get(workspace=full_workspace).config["count"] == 100


def test_an_import_applies_a_changed_field_through_the_service(full_workspace, admin):
    changed = workspace_export(full_workspace).replace("count: 100", "count: 500")

    plan = workspace_import(
        actor=admin, workspace=full_workspace, text=changed, environ=ENV
    )

    assert [c.name for c in plan.changes if c.action == "update"] == ["PG warehouse"]
    assert Source.objects.get(workspace=full_workspace).config["count"] == 500
    assert AuditEvent.objects.filter(action="source.updated").exists()
    assert AuditEvent.objects.filter(action="workspace.imported").exists()


def test_a_changed_secret_shows_without_its_value(full_workspace, admin):
    text = workspace_export(full_workspace)
    environ = {**ENV, "SOURCE_PG_WAREHOUSE_PASSWORD": "another-password-value"}

    plan = workspace_plan(
        workspace=full_workspace, text=text, environ=environ, actor=admin
    )

    assert "~ source “PG warehouse”: config.password secret changed" in plan.text()
    assert "another-password-value" not in plan.text()
    assert "another-password-value" not in str(plan.as_dict())


def test_a_missing_secret_and_an_unknown_connector_stop_it_before_any_change(
    full_workspace, admin
):
    document = yaml.safe_load(workspace_export(full_workspace))
    document["sources"].append(
        {
            "name": "Mystery",
            "connector": {"name": "No Such Connector"},
            "config": {},
        }
    )
    document["connections"][0]["namespace"] = "changed"
    text = yaml.safe_dump(document)
    environ = {k: v for k, v in ENV.items() if k != "DESTINATION_WAREHOUSE_PASSWORD"}
    before = _counts()

    with pytest.raises(ImportRefused) as refused:
        workspace_import(
            actor=admin, workspace=full_workspace, text=text, environ=environ
        )

    problems = "\n".join(refused.value.problems)
    assert "${env:DESTINATION_WAREHOUSE_PASSWORD} is not set" in problems
    assert "unknown source connector “No Such Connector”" in problems
    assert _counts() == before
    assert Connection.objects.get(workspace=full_workspace).namespace == "acme"


def test_a_secret_written_into_the_file_is_refused(full_workspace, admin):
    text = workspace_export(full_workspace).replace(
        "${env:SOURCE_PG_WAREHOUSE_PASSWORD}", "plain-text-password"
    )

    plan = workspace_plan(workspace=full_workspace, text=text, environ=ENV)

    assert any("config.password is a secret" in p for p in plan.problems)


def test_objects_left_out_are_kept_unless_pruned(full_workspace, admin):
    document = yaml.safe_load(workspace_export(full_workspace))
    document["webhooks"] = []
    text = yaml.safe_dump(document)

    kept = workspace_import(
        actor=admin, workspace=full_workspace, text=text, environ=ENV
    )
    assert "? webhook “Slack alerts”: not in the file; kept" in kept.text()
    assert full_workspace.webhooks.count() == 1

    workspace_import(
        actor=admin, workspace=full_workspace, text=text, environ=ENV, prune=True
    )
    assert full_workspace.webhooks.count() == 0
    assert AuditEvent.objects.filter(action="webhook.deleted").exists()


def test_prune_never_removes_the_importing_admin(full_workspace, admin):
    document = yaml.safe_load(workspace_export(full_workspace))
    document["members"] = [{"email": "viewer@acme.test", "role": "viewer"}]

    plan = workspace_import(
        actor=admin,
        workspace=full_workspace,
        text=yaml.safe_dump(document),
        environ=ENV,
        prune=True,
    )

    emails = set(
        Membership.objects.filter(workspace=full_workspace).values_list(
            "user__email", flat=True
        )
    )
    assert emails == {"admin@acme.test", "viewer@acme.test"}
    assert "the import never removes you" in plan.text()


def test_import_invites_a_new_member_with_the_role(full_workspace, admin):
    document = yaml.safe_load(workspace_export(full_workspace))
    document["members"].append({"email": "new@acme.test", "role": "runner"})

    workspace_import(
        actor=admin,
        workspace=full_workspace,
        text=yaml.safe_dump(document),
        environ=ENV,
    )

    added = Membership.objects.get(
        workspace=full_workspace, user__email="new@acme.test"
    )
    assert added.role == "runner"
    assert AuditEvent.objects.filter(action="membership.invited").exists()


def test_a_stale_digest_is_refused(full_workspace, admin):
    text = workspace_export(full_workspace).replace("count: 100", "count: 7")

    with pytest.raises(ImportRefused, match="changed since this plan"):
        workspace_import(
            actor=admin,
            workspace=full_workspace,
            text=text,
            environ=ENV,
            digest="0" * 64,
        )
    assert Source.objects.get(workspace=full_workspace).config["count"] == 100


def test_a_viewer_exports_but_cannot_import(full_workspace, viewer, tmp_path):
    out = _cli(
        "export", "--as", "viewer@acme.test", "--output", str(tmp_path / "w.yaml")
    )
    assert "Wrote" in out

    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="admin role"):
        _cli("import", str(tmp_path / "w.yaml"), "--as", "viewer@acme.test")


def test_export_reads_a_bounded_number_of_queries(
    full_workspace, admin, source_definition, django_assert_max_num_queries
):
    source = Source.objects.get(workspace=full_workspace)
    destination = source.connections.get().destination
    for n in range(5):
        extra = connector_create(
            actor=admin,
            workspace=full_workspace,
            kind="source",
            name=f"Extra {n}",
            definition=source_definition,
            config={"host": "db.acme.test"},
            secrets={"/password": f"pw-{n}"},
        )
        Source.objects.filter(pk=extra.pk).update(catalog=FAKER_CATALOG)
        extra.refresh_from_db()
        connection_create(
            actor=admin,
            workspace=full_workspace,
            name=f"Extra {n}",
            source=extra,
            destination=destination,
            streams=[{"name": "products"}],
        )

    with django_assert_max_num_queries(12):
        workspace_export(full_workspace)


def test_schedule_and_transform_changes_go_through_their_services(
    full_workspace, admin
):
    document = yaml.safe_load(workspace_export(full_workspace))
    document["connections"][0]["schedule"]["cron_expression"] = "30 4 * * *"
    document["connections"][0]["schedule"]["paused"] = True
    marts = next(t for t in document["transforms"] if t["name"] == "Marts")
    marts["git_branch"] = "release"
    marts["schedule"] = {"cron_expression": "0 6 * * *", "timezone": "UTC"}

    plan = workspace_import(
        actor=admin,
        workspace=full_workspace,
        text=yaml.safe_dump(document),
        environ=ENV,
    )

    lines = plan.text()
    assert (
        '~ connection “Users to warehouse”: schedule.cron_expression "0 3 * * *"'
        in (lines)
    )
    assert '~ transform “Marts”: git_branch "main" -> "release"' in lines
    schedule = Connection.objects.get(workspace=full_workspace).schedule
    assert (schedule.cron_expression, schedule.paused) == ("30 4 * * *", True)
    from apps.transforms.models import DbtProject

    project = DbtProject.objects.get(workspace=full_workspace, name="Marts")
    assert (project.git_branch, project.cron_expression) == ("release", "0 6 * * *")
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"schedule.updated", "schedule.paused"} <= actions
    assert "transform.project_updated" in actions


def test_a_config_the_connector_refuses_is_a_problem(full_workspace, admin):
    text = workspace_export(full_workspace).replace("count: 100", "count: many")

    plan = workspace_plan(workspace=full_workspace, text=text, environ=ENV)

    assert any("config.count" in p for p in plan.problems), plan.problems


def test_pruning_deletes_a_connection_and_its_source_in_order(full_workspace, admin):
    document = yaml.safe_load(workspace_export(full_workspace))
    document["connections"] = []
    document["sources"] = []
    document["transforms"] = [
        t for t in document["transforms"] if t["kind"] != "generated"
    ]

    workspace_import(
        actor=admin,
        workspace=full_workspace,
        text=yaml.safe_dump(document),
        environ=ENV,
        prune=True,
    )

    assert not Connection.objects.filter(workspace=full_workspace).exists()
    assert not Source.objects.filter(workspace=full_workspace).exists()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"connection.deleted", "source.deleted"} <= actions


def test_a_file_that_is_not_a_workspace_file_says_why(full_workspace):
    plan = workspace_plan(
        workspace=full_workspace,
        text="version: 2\nsources: {}\nextra: 1\n",
        environ={},
    )

    text = "\n".join(plan.problems)
    assert "`version` must be 1" in text
    assert "unknown key `extra`" in text
    assert "sources: must be a list" in text


def test_a_reference_inside_a_list_is_refused(full_workspace):
    document = yaml.safe_load(workspace_export(full_workspace))
    document["sources"][0]["config"]["hosts"] = ["${env:SOME_HOST}"]

    plan = workspace_plan(
        workspace=full_workspace, text=yaml.safe_dump(document), environ=ENV
    )

    assert any("inside a list is not supported" in p for p in plan.problems)


def test_a_credential_named_nowhere_is_a_problem(full_workspace, admin):
    text = workspace_export(full_workspace).replace(
        "${credential:Acme key}", "${credential:Unknown key}"
    )

    plan = workspace_plan(workspace=full_workspace, text=text, environ=ENV)

    assert any(
        "${credential:Unknown key}: neither the file nor the workspace" in p
        for p in plan.problems
    ), plan.problems


def test_a_credential_in_the_workspace_is_enough(full_workspace, admin):
    document = yaml.safe_load(workspace_export(full_workspace))
    document["credentials"] = []
    empty = workspace_create(actor=admin, name="Empty")
    _credential(empty, admin)

    workspace_import(
        actor=admin, workspace=empty, text=yaml.safe_dump(document), environ=ENV
    )

    assert Source.objects.get(workspace=empty).credentials.get().name == "Acme key"


def test_a_rotated_credential_shows_as_a_changed_secret(full_workspace, admin):
    text = workspace_export(full_workspace)
    environ = {**ENV, "CREDENTIAL_ACME_KEY_API_KEY": "rotated-key-987654321"}

    plan = workspace_import(
        actor=admin, workspace=full_workspace, text=text, environ=environ
    )

    assert "~ credential “Acme key”: fields.api_key secret changed" in plan.text()
    from apps.credentials.models import Credential

    credential = Credential.objects.get(workspace=full_workspace)
    assert credential.get_payload()["api_key"] == "rotated-key-987654321"
    assert AuditEvent.objects.filter(action="credential.updated").exists()


def test_two_secrets_that_would_share_a_variable_get_distinct_names(
    full_workspace, admin, source_definition
):
    connector_create(
        actor=admin,
        workspace=full_workspace,
        kind="source",
        name="PG-warehouse",
        definition=source_definition,
        config={"host": "db.acme.test"},
        secrets={"/password": "another-secret-value"},
    )

    document = yaml.safe_load(workspace_export(full_workspace))

    passwords = [s["config"]["password"] for s in document["sources"]]
    assert passwords == [
        "${env:SOURCE_PG_WAREHOUSE_PASSWORD}",
        "${env:SOURCE_PG_WAREHOUSE_PASSWORD_2}",
    ]


def test_a_file_whose_aliases_expand_enormously_is_refused(full_workspace):
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 8):
        lines.append(f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]")

    plan = workspace_plan(workspace=full_workspace, text="\n".join(lines), environ={})

    assert plan.problems == [
        "The file holds more than 1,000,000 values once its aliases are expanded."
    ]


def test_an_export_has_no_aliases_even_where_values_repeat(full_workspace, admin):
    from apps.api.workspace_code.document import dump

    shared = ["full_refresh"]
    text = dump({"a": shared, "b": shared})

    assert "&" not in text and "*" not in text
    assert yaml.safe_load(text) == {"a": shared, "b": shared}


# -- the digest is the plan the user approved -----------------------------------------


def test_a_digest_applies_only_its_own_file_values_and_prune(full_workspace, admin):
    exported = workspace_export(full_workspace)
    approved = workspace_plan(
        workspace=full_workspace,
        text=exported.replace("count: 100", "count: 250"),
        environ=ENV,
    )
    assert approved.ok, approved.problems
    other_file = exported.replace("count: 100", "count: 7")
    other_values = {**ENV, "SOURCE_PG_WAREHOUSE_PASSWORD": "another-password"}

    for text, environ, prune in (
        (other_file, ENV, False),
        (exported.replace("count: 100", "count: 250"), other_values, False),
        (exported.replace("count: 100", "count: 250"), ENV, True),
    ):
        with pytest.raises(ImportRefused, match="not the plan you approved"):
            workspace_import(
                actor=admin,
                workspace=full_workspace,
                text=text,
                environ=environ,
                prune=prune,
                digest=approved.digest,
            )
    assert Source.objects.get(workspace=full_workspace).config["count"] == 100

    workspace_import(
        actor=admin,
        workspace=full_workspace,
        text=exported.replace("count: 100", "count: 250"),
        environ=ENV,
        digest=approved.digest,
    )
    assert Source.objects.get(workspace=full_workspace).config["count"] == 250


# -- odd files are problems, never errors ---------------------------------------------


def _with_config_line(full_workspace, line: str) -> str:
    """The export with ``line`` added to the source's config, beside its count."""
    return re.sub(
        r"^( *)count: 100$",
        lambda m: f"{m.group(0)}\n{m.group(1)}{line}",
        workspace_export(full_workspace),
        flags=re.M,
    )


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("start: 2024-01-01", "date"),
        ("blob: !!binary aGVsbG8=", "bytes"),
        ("tags: !!set {a, b}", "set"),
    ],
)
def test_a_yaml_value_json_cannot_hold_is_named_by_its_path(full_workspace, line, kind):
    text = _with_config_line(full_workspace, line)
    assert line in text

    plan = workspace_plan(workspace=full_workspace, text=text, environ=ENV)

    field_name = line.split(":")[0]
    assert any(
        f"sources[0].config.{field_name}: a {kind} is not a JSON value" in p
        for p in plan.problems
    ), plan.problems


def test_a_deeply_nested_file_is_a_problem(full_workspace):
    plan = workspace_plan(workspace=full_workspace, text="[" * 5000, environ={})

    assert not plan.ok
    assert any("nests deeper than" in p for p in plan.problems), plan.problems


def test_catalog_fields_of_the_wrong_type_are_problems(full_workspace):
    document = yaml.safe_load(workspace_export(full_workspace))
    streams = document["sources"][0]["catalog"]["streams"]
    streams[0]["supported_sync_modes"] = 5
    streams[1]["source_defined_primary_key"] = [5]

    plan = workspace_plan(
        workspace=full_workspace, text=yaml.safe_dump(document), environ=ENV
    )

    text = "\n".join(plan.problems)
    assert f"stream “{streams[0]['name']}”: `supported_sync_modes` must be" in text
    assert f"stream “{streams[1]['name']}”: `source_defined_primary_key` must" in text


def test_a_generated_transform_naming_a_number_as_connection_is_a_problem(
    full_workspace,
):
    document = yaml.safe_load(workspace_export(full_workspace))
    staging = next(t for t in document["transforms"] if t["name"] == "Staging")
    staging["connection"] = 5

    plan = workspace_plan(
        workspace=full_workspace, text=yaml.safe_dump(document), environ=ENV
    )

    assert any("transform “Staging”" in p for p in plan.problems), plan.problems


def test_an_unknown_config_field_is_labelled_config(full_workspace):
    spec = {
        "connectionSpecification": {
            **SPEC["connectionSpecification"],
            "additionalProperties": False,
        }
    }
    ConnectorSpecCache.objects.update(spec=spec)
    text = _with_config_line(full_workspace, "colour: blue")

    plan = workspace_plan(workspace=full_workspace, text=text, environ=ENV)

    assert "source “PG warehouse”: config: Unexpected field: colour." in plan.problems
    assert not any("config.config" in p for p in plan.problems)


# -- prune deletes first --------------------------------------------------------------


def test_pruning_a_renamed_connection_keeps_its_schedule_name(full_workspace, admin):
    from apps.schedules.models import Schedule

    document = yaml.safe_load(workspace_export(full_workspace))
    document["connections"][0]["name"] = "Users to the warehouse"
    document["transforms"] = [
        t for t in document["transforms"] if t["kind"] != "generated"
    ]
    text = yaml.safe_dump(document)
    assert workspace_plan(
        workspace=full_workspace, text=text, environ=ENV, prune=True
    ).ok

    workspace_import(
        actor=admin, workspace=full_workspace, text=text, environ=ENV, prune=True
    )

    schedule = Schedule.objects.get(workspace=full_workspace)
    assert schedule.name == "Nightly"
    assert schedule.connection.name == "Users to the warehouse"
    assert not Connection.objects.filter(name="Users to warehouse").exists()


# -- the dry run refuses what the services refuse -------------------------------------


def test_the_plan_lists_every_problem_the_services_would_refuse(full_workspace, admin):
    document = yaml.safe_load(workspace_export(full_workspace))
    document["webhooks"].append(
        {
            "name": "Internal",
            "url": "http://169.254.169.254/latest/meta-data",
            "events": ["sync.failed"],
        }
    )
    marts = next(t for t in document["transforms"] if t["name"] == "Marts")
    marts["git_url"] = "https://user:ghp_token@github.com/acme/marts.git"
    document["credentials"].append(
        {"name": "Notes", "type": "generic", "fields": {"note": "not a key"}}
    )
    marts["git_credential"] = "Notes"
    marts["schedule"] = {"cron_expression": "61 * * * *", "timezone": "UTC"}
    second = {**document["connections"][0], "name": "Users again"}
    document["connections"].append(second)
    document["sources"][0]["config"]["host"] = "evil.example.com"
    before = _counts()

    plan = workspace_plan(
        workspace=full_workspace, text=yaml.safe_dump(document), environ=ENV
    )

    text = "\n".join(plan.problems)
    assert "webhook “Internal”: url:" in text
    assert "Webhooks only go to public addresses" in text
    assert "Do not put a password or token in the URL" in text
    assert "transform “Marts”: cron_expression:" in text
    assert "git_credential: The credential “Notes” cannot open a git repository" in text
    assert "the schedule name “Nightly” is also the schedule of" in text
    assert "The credential “Acme key” may only be sent to db.acme.test" in text
    with pytest.raises(ImportRefused):
        workspace_import(
            actor=admin,
            workspace=full_workspace,
            text=yaml.safe_dump(document),
            environ=ENV,
        )
    assert _counts() == before


# -- the CLI never hands the console's own keys to a file -----------------------------


@pytest.mark.parametrize(
    "name", ["DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DATABASE_URL", "X_FILE"]
)
def test_the_cli_refuses_a_reference_to_the_consoles_own_settings(
    full_workspace, tmp_path, monkeypatch, name
):
    for variable, value in ENV.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv(name, "the-consoles-own-secret")
    path = tmp_path / "w.yaml"
    path.write_text(
        workspace_export(full_workspace).replace(
            "${env:SOURCE_PG_WAREHOUSE_PASSWORD}", "${env:" + name + "}"
        )
    )

    out = io.StringIO()
    with pytest.raises(SystemExit):
        call_command(
            "airbyte",
            "workspace",
            "import",
            str(path),
            "--workspace",
            str(full_workspace.public_id),
            "--as",
            "admin@acme.test",
            stdout=out,
        )

    out = out.getvalue()
    assert "${env:" + name + "} is one of the console's own settings" in out
    assert "the-consoles-own-secret" not in out
    assert Source.objects.get(workspace=full_workspace).config["count"] == 100


@pytest.mark.parametrize("kind", ["sources", "webhooks", "transforms", "credentials"])
def test_a_blank_name_is_a_problem_in_the_plan(full_workspace, kind):
    document = yaml.safe_load(workspace_export(full_workspace))
    document[kind][0]["name"] = "  "

    plan = workspace_plan(
        workspace=full_workspace, text=yaml.safe_dump(document), environ=ENV
    )

    assert f"{kind}[0]: `name` is required." in plan.problems, plan.problems


def test_a_blank_schedule_name_is_a_problem_in_the_plan(full_workspace):
    document = yaml.safe_load(workspace_export(full_workspace))
    document["connections"][0]["schedule"]["name"] = ""

    plan = workspace_plan(
        workspace=full_workspace, text=yaml.safe_dump(document), environ=ENV
    )

    assert any("schedule: `name` is required." in p for p in plan.problems)
