"""`airbyte cdk init -> build -> test -> deploy` against a local API, end to end.

The scaffold `init` writes builds as is; `test` pages through the local API;
`deploy` publishes it to the workspace's catalog, where `content add` makes a
source of it.
"""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent
from apps.connectors.builder.models import BuilderProject
from apps.connectors.models import ConnectorManifest, Source
from tests.connectors.builder_api import API_KEY, ItemsApi

pytestmark = pytest.mark.usefixtures("real_connectors", "cdk_installed")


def cdk(capsys, *args: str) -> str:
    call_command("airbyte", "cdk", *args)
    return capsys.readouterr().out


@pytest.fixture
def api():
    with ItemsApi() as running:
        yield running


@pytest.fixture
def project(tmp_path, api, capsys):
    """`cdk init items_api source` with the sample config pointed at the API."""
    out = cdk(capsys, "init", "items_api", "source", "--dir", str(tmp_path))
    assert "manifest.yaml" in out
    folder = tmp_path / "items_api"
    (folder / "secrets" / "config.json").write_text(
        json.dumps({"base_url": api.url, "api_key": API_KEY})
    )
    return folder


def test_init_writes_a_project_with_its_secrets_kept_out_of_git(project):
    names = sorted(p.name for p in project.iterdir())
    assert names == [".gitignore", "README.md", "manifest.yaml", "secrets"]
    assert "secrets/" in (project / ".gitignore").read_text()
    assert oct((project / "secrets" / "config.json").stat().st_mode)[-3:] == "600"


def test_init_refuses_a_folder_that_is_not_empty(project, tmp_path):
    before = (project / "manifest.yaml").read_text()
    with pytest.raises(CommandError, match="not empty: nothing written"):
        call_command("airbyte", "cdk", "init", "items_api", "--dir", str(tmp_path))
    assert (project / "manifest.yaml").read_text() == before


def test_init_build_test_deploy_makes_a_connector_a_source_can_use(
    project, tmp_path, api, capsys, editor, workspace
):
    built = cdk(capsys, "build", "items_api", "--dir", str(tmp_path))
    assert "manifest.yaml: valid" in built
    assert "streams: items" in built
    assert "spec: api_key, base_url" in built
    assert "check: ok" in built

    tested = cdk(capsys, "test", "items_api", "--dir", str(tmp_path), "--limit", "10")
    assert "items: 3 record(s) in 2 page(s)" in tested
    assert "/items?page=2 -> 200, 1 record(s)" in tested
    assert '{"id": 3, "name": "third"}' in tested
    assert '"inferred schema:"' not in tested and "inferred schema:" in tested
    assert API_KEY not in tested

    who = ["--as", editor.email, "--workspace", str(workspace.public_id)]
    deployed = cdk(capsys, "deploy", "items_api", "--dir", str(tmp_path), *who)
    assert "Published items_api 0.1.0" in deployed
    project_row = BuilderProject.objects.get(workspace=workspace, name="items_api")
    definition = project_row.definition
    assert definition.manifest_only and definition.release_stage == "custom"
    assert definition.pypi_version == "0.1.0"
    assert AuditEvent.objects.filter(action="connector_builder.published").count() == 1

    # The same manifest again: no new version, no new audit event.
    again = cdk(capsys, "deploy", "items_api", "--dir", str(tmp_path), *who)
    assert "Unchanged: items_api 0.1.0" in again
    assert ConnectorManifest.objects.filter(definition=definition).count() == 1

    # A source of the published connector, from a script like any other.
    source_file = tmp_path / "source.json"
    source_file.write_text(
        json.dumps(
            {
                "name": "Items",
                "connector": str(definition.definition_id),
                "config": {"base_url": api.url, "api_key": API_KEY},
            }
        )
    )
    cdk_out = call_command(
        "airbyte",
        "content",
        "add",
        "--type",
        "source",
        "--config",
        str(source_file),
        *who,
    )
    assert cdk_out is None
    source = Source.objects.get(workspace=workspace, name="Items")
    assert source.definition == definition and source.connector_version == "0.1.0"
    assert API_KEY not in json.dumps(source.config)

    # A changed manifest is a new version; the source keeps the one it has.
    manifest = project / "manifest.yaml"
    text = manifest.read_text()
    manifest.write_text("# a comment changes nothing that runs\n" + text)
    same = cdk(capsys, "deploy", "items_api", "--dir", str(tmp_path), *who)
    assert "Unchanged: items_api 0.1.0" in same
    manifest.write_text(text.replace("example.com/docs", "example.com/docs/v2"))
    bumped = cdk(capsys, "deploy", "items_api", "--dir", str(tmp_path), *who)
    assert "Published items_api 0.1.1" in bumped
    source.refresh_from_db()
    definition.refresh_from_db()
    assert source.connector_version == "0.1.0"
    assert definition.pypi_version == "0.1.1"
    assert sorted(
        ConnectorManifest.objects.filter(definition=definition).values_list(
            "version", flat=True
        )
    ) == ["0.1.0", "0.1.1"]


def test_build_names_each_problem_by_file_and_line(project, tmp_path, capsys):
    manifest = project / "manifest.yaml"
    text = manifest.read_text()
    broken = text.replace(
        '          cursor_value: "{{ response.next_page }}"\n', ""
    ).replace("  stream_names:\n    - items\n", "  stream_names: items\n")
    manifest.write_text(broken)
    lines = broken.splitlines()

    with pytest.raises(CommandError) as caught:
        call_command("airbyte", "cdk", "build", "items_api", "--dir", str(tmp_path))

    message = str(caught.value)
    assert "2 problem(s)" in message
    check_line = next(i for i, line in enumerate(lines, 1) if "stream_names" in line)
    strategy_line = next(
        i for i, line in enumerate(lines, 1) if "pagination_strategy:" in line
    )
    assert (
        f"manifest.yaml:{check_line}: check.stream_names: 'items' is not of type"
        in message
    )
    assert (
        f"manifest.yaml:{strategy_line}: "
        "streams.0.retriever.paginator.pagination_strategy: "
        "'cursor_value' is a required property"
    ) in message
    # Nothing was lost: the file is as the user left it.
    assert manifest.read_text() == broken


def test_build_points_at_a_yaml_syntax_error(project, tmp_path):
    manifest = project / "manifest.yaml"
    lines = manifest.read_text().splitlines()
    lines[6] = "check: [unclosed"
    manifest.write_text("\n".join(lines) + "\n")

    with pytest.raises(CommandError, match=r"manifest\.yaml:\d+: YAML syntax"):
        call_command("airbyte", "cdk", "build", "items_api", "--dir", str(tmp_path))


def test_a_failing_check_fails_the_build(project, tmp_path, capsys):
    (project / "secrets" / "config.json").write_text(
        json.dumps(
            {
                "base_url": json.loads(
                    (project / "secrets" / "config.json").read_text()
                )["base_url"],
                "api_key": "Canary-wrong-key-3321",
            }
        )
    )
    with pytest.raises(SystemExit) as exited:
        call_command("airbyte", "cdk", "build", "items_api", "--dir", str(tmp_path))
    assert exited.value.code == 1
    out = capsys.readouterr().out
    assert "check: FAILED" in out
    assert "Canary-wrong-key-3321" not in out


def test_deploy_to_a_workspace_whose_server_is_not_set_up_says_so(
    project, tmp_path, editor, workspace
):
    workspace.engine = "airbyte"
    workspace.save(update_fields=["engine"])
    who = ["--as", editor.email, "--workspace", str(workspace.public_id)]

    with pytest.raises(CommandError, match="none is set up"):
        call_command(
            "airbyte", "cdk", "deploy", "items_api", "--dir", str(tmp_path), *who
        )

    assert not ConnectorManifest.objects.exists()
